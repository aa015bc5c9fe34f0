/**
 * The tracker's pipeline: validated events get a stable id, a time and a session, go to listeners,
 * and wait in memory for a batched, all-or-nothing write. `track()` does no I/O and allocates
 * little, so it stays far below its 0.05 ms budget; the write happens on a short timer, on
 * `flush()`, and when the page is hidden or left.
 *
 * The id is stamped in `track()`, before anything else can copy the event, so that every later
 * replay (the page-exit stash, the pre-consent buffer, a retried write) carries the same id and
 * the store keeps the event once. A write that fails keeps its events (the newest
 * {@link MAX_HELD}) and is retried with back-off.
 *
 * Consent gates the write, not the pipeline: without the `personalise` scope events are held in
 * memory only (at most {@link MAX_HELD} of them) and replayed by {@link Tracker.releaseHeld} once
 * consent is granted — after it is checked again.
 */
import type { Logger } from '../shared/logger.js';
import type { HearthStore } from '../store/types.js';
import type { EventItem, StoredEvent, TrackEvent } from '../protocol/event-types.js';
import { validateEvent } from './validate-event.js';
import { SESSION_META_KEY, SessionClock } from './session.js';
import { randomId } from '../shared/random-id.js';
import { backoffDelay } from '../shared/backoff.js';

/** Events kept in memory without consent, for replay on grant (oldest dropped first). */
export const MAX_HELD = 1_000;
/** Most events written in one transaction. */
export const MAX_BATCH = 500;
/** Longest wait between retries of a failed write. */
export const MAX_RETRY_DELAY_MS = 60_000;

export type EventListener = (event: StoredEvent) => void;

export interface TrackerOptions {
  logger: Logger;
  flushIntervalMs: number;
  sessionTimeoutMs: number;
  /** Read for every event and every write. */
  canWrite: () => boolean;
  now?: () => number;
  /** Session ids (default: random). */
  newId?: () => string;
  /** Event ids (default: random UUIDs). */
  newEventId?: () => string;
}

/** Builds the stored form of a validated event. `session` is '' until the session state is known. */
export function toStoredEvent(event: TrackEvent, time: number, session: string, eventId: string): StoredEvent {
  const items: EventItem[] = event.items ?? [];
  const stored: StoredEvent = { eventId, type: event.type, time, session, items, itemIds: items.map((item) => item.item_id) };
  if (event.search_term !== undefined) stored.search_term = event.search_term;
  if (event.duration_ms !== undefined) stored.duration_ms = event.duration_ms;
  if (event.value !== undefined) stored.value = event.value;
  if (event.currency !== undefined) stored.currency = event.currency;
  if (event.transaction_id !== undefined) stored.transaction_id = event.transaction_id;
  if (event.page_path !== undefined) stored.page_path = event.page_path;
  return stored;
}

/**
 * @example
 * ```ts
 * const tracker = new Tracker({ logger, flushIntervalMs: 1000, sessionTimeoutMs: 1_800_000, canWrite: () => consent.personalise });
 * tracker.attach(store, await store.getMeta(SESSION_META_KEY));
 * tracker.track({ type: 'view_item', items: [{ item_id: 'sku-1' }] });
 * await tracker.flush();
 * ```
 */
export class Tracker {
  private store: HearthStore | undefined;
  private sessions: SessionClock | undefined;
  /** Tracked before the session state was loaded (their `session` is still ''). */
  private early: StoredEvent[] = [];
  private pending: StoredEvent[] = [];
  private inflight: readonly StoredEvent[] = [];
  private held: StoredEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<EventListener>();
  private stopped = false;
  /** Consecutive failed writes, for the back-off. */
  private failures = 0;
  private readonly now: () => number;
  private readonly newEventId: () => string;

  constructor(private readonly options: TrackerOptions) {
    this.now = options.now ?? Date.now;
    this.newEventId = options.newEventId ?? randomId;
  }

  /**
   * Validates and records an event; throws `invalid_event` for a malformed (or unreadable) one.
   * Returns the stored form (with its `eventId`), or undefined once stopped. `eventId` is for
   * events whose id was fixed earlier (a dataLayer entry already stashed under that id).
   */
  track(input: TrackEvent, eventId?: string): StoredEvent | undefined {
    const event = validateEvent(input);
    if (this.stopped) return undefined;
    const stored = toStoredEvent(event, event.timestamp ?? this.now(), '', eventId ?? this.newEventId());
    if (this.sessions) this.accept(stored);
    else this.early.push(stored);
    return stored;
  }

  /** The store events are written to (undefined before `attach`, or when storage could not load). */
  get target(): HearthStore | undefined {
    return this.store;
  }

  /**
   * Starts writing to `store`, continuing the persisted session when it is recent enough. Without
   * a store (storage could not load at all) events stay in memory, the newest {@link MAX_HELD}.
   */
  attach(store: HearthStore | undefined, sessionState: unknown): void {
    this.store = store;
    this.sessions = new SessionClock(this.options.sessionTimeoutMs, sessionState, this.options.newId);
    const early = this.early;
    this.early = [];
    for (const event of early) this.accept(event);
  }

  /**
   * The session of an event at `time` on this page's clock (for events recovered from a page that
   * left before its session was known); undefined before `attach`.
   */
  sessionFor(time: number): string | undefined {
    return this.sessions?.sessionFor(time);
  }

  on(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes everything tracked so far (when consent allows); resolves when it is stored. */
  flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.chain = this.chain.then(() => this.writeBatch());
    return this.chain;
  }

  /** Moves held events to the write queue if consent now allows, then flushes. */
  releaseHeld(): Promise<void> {
    if (!this.options.canWrite() || this.stopped) return this.flush();
    this.pending = [...this.held, ...this.pending];
    this.held = [];
    return this.flush();
  }

  /** Consent was withdrawn: drop what waits to be written. */
  dropUnwritten(): void {
    this.pending = [];
  }

  /**
   * Events tracked but not yet stored: tracked before the session was known (session ''), being
   * written, then waiting. What the page-exit stash keeps.
   */
  unwritten(): StoredEvent[] {
    return [...this.early, ...this.inflight, ...this.pending];
  }

  /** Drops every event and the session (after `forget()`); keeps listeners. */
  clear(): void {
    this.early = [];
    this.pending = [];
    this.held = [];
    this.sessions?.clear();
  }

  /**
   * Stops for good: nothing is tracked or written any more (after `destroy()`, or when another tab
   * deleted the database and writing would recreate it).
   */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private accept(event: StoredEvent): void {
    const stored = event;
    stored.session = this.sessions!.sessionFor(stored.time);
    if (this.options.canWrite()) {
      this.pending.push(stored);
      if (this.store) this.schedule();
      else if (this.pending.length > MAX_HELD) this.pending.shift();
    } else {
      this.held.push(stored);
      if (this.held.length > MAX_HELD) this.held.shift();
    }
    for (const listener of this.listeners) {
      try {
        listener(stored);
      } catch (error) {
        this.options.logger.warnOnce('listener-error', 'An on("event") listener threw; Hearth carries on.', error);
      }
    }
  }

  private schedule(delay = this.options.flushIntervalMs): void {
    if (this.timer !== undefined || !this.store) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch(() => undefined);
    }, delay);
  }

  private async writeBatch(): Promise<void> {
    // One transaction per MAX_BATCH events keeps each write short; each is all-or-nothing.
    while (this.store && this.pending.length > 0 && !this.stopped) {
      if (!(await this.writeOnce(this.store))) break;
    }
  }

  /** Writes the oldest pending events; false when it failed (they are kept and retried with back-off). */
  private async writeOnce(store: HearthStore): Promise<boolean> {
    if (!this.options.canWrite()) {
      this.pending = [];
      return false;
    }
    const batch = this.pending.slice(0, MAX_BATCH);
    this.pending = this.pending.slice(MAX_BATCH);
    this.inflight = batch;
    let stored = false;
    try {
      const result = await store.appendEvents(batch);
      stored = result.dropped === 0;
      if (stored) {
        const session = this.sessions?.snapshot();
        if (session) await store.setMeta(SESSION_META_KEY, session);
      }
    } catch (error) {
      // Stores report failures as `dropped`; this is a store that threw anyway.
      this.options.logger.warnOnce('write-failed', 'Could not store a batch of events; will retry.', error);
    } finally {
      this.inflight = [];
    }
    if (stored) {
      this.failures = 0;
      return true;
    }
    // Kept, the newest first to survive: a full quota must not cost the events just tracked. The
    // retry is idempotent by eventId, so a batch that did reach the store is not doubled.
    this.failures += 1;
    this.pending = [...batch, ...this.pending].slice(-MAX_HELD);
    this.schedule(backoffDelay(this.failures, Math.max(this.options.flushIntervalMs, 250), MAX_RETRY_DELAY_MS));
    return false;
  }
}
