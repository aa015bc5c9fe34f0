/**
 * Event helpers shared by the IndexedDB and memory stores, so that both answer a query the same way.
 */
import { assert } from '../protocol/errors.js';
import type { StoredEvent } from '../protocol/event-types.js';
import { itemIdsOf } from './schema.js';
import { randomId } from '../shared/random-id.js';
import type { EventQuery } from './types.js';

/** Orders events oldest first; equal times keep their insertion (key) order. */
export function compareEvents(a: StoredEvent, b: StoredEvent): number {
  return a.time - b.time || (a.id ?? 0) - (b.id ?? 0);
}

/** True when `event` satisfies every filter of `query` (except `limit`). */
export function matchesQuery(event: StoredEvent, query: EventQuery): boolean {
  if (query.since !== undefined && event.time < query.since) return false;
  if (query.session !== undefined && event.session !== query.session) return false;
  if (query.itemId !== undefined && !event.itemIds.includes(query.itemId)) return false;
  return true;
}

/** Checks a query's arguments; a bad one is a programmer mistake. */
export function assertValidQuery(query: EventQuery): void {
  const { since, limit, session, itemId } = query;
  assert(since === undefined || Number.isFinite(since), 'invalid_argument', () => `readEvents: since must be a finite number of ms, got ${String(since)}`);
  assert(limit === undefined || (Number.isInteger(limit) && limit >= 0), 'invalid_argument', () => `readEvents: limit must be an integer ≥ 0, got ${String(limit)}`);
  assert(session === undefined || typeof session === 'string', 'invalid_argument', () => 'readEvents: session must be a string');
  assert(itemId === undefined || typeof itemId === 'string', 'invalid_argument', () => 'readEvents: itemId must be a string');
}

/**
 * The record to write for an event: without `id` (the store assigns it, so two tabs never collide),
 * with `itemIds` filled from `items` when the caller left it out, and with an `eventId` when a
 * caller outside the tracker gave none.
 */
export function toStoredRecord(event: StoredEvent): StoredEvent {
  const { id: _ignored, ...rest } = event;
  const record = Array.isArray(rest.itemIds) ? rest : { ...rest, itemIds: itemIdsOf(rest.items) };
  return typeof record.eventId === 'string' && record.eventId !== '' ? record : { ...record, eventId: randomId() };
}

/** The first record of each `eventId` in `records`, in order: a batch never holds one event twice. */
export function uniqueByEventId(records: readonly StoredEvent[]): StoredEvent[] {
  const seen = new Set<string>();
  return records.filter((record) => !seen.has(record.eventId) && (seen.add(record.eventId), true));
}

/** `limit` newest of already oldest-first `events`. */
export function newest<T>(events: T[], limit: number | undefined): T[] {
  return limit === undefined || events.length <= limit ? events : events.slice(events.length - limit);
}
