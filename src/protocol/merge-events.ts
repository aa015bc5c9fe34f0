/**
 * The one de-duplication rule for events, used wherever two lists of events may overlap: the
 * stored ones and the page's unwritten ones (a write may be in flight, a memory-only store holds
 * both), the worker's serving cache and fresh reads, the engine client's fallbacks. Two events
 * are the same event exactly when they have the same `eventId`; nothing else is compared (two
 * identical clicks in one millisecond are two events).
 */
import type { StoredEvent } from './event-types.js';

/**
 * Every event of `lists` once (the first copy of each id wins), oldest first; events of equal
 * time keep their order. Entries that are not events (a malformed message from another context)
 * are dropped.
 *
 * @example
 * ```ts
 * const history = mergeEvents(await store.readEvents({ limit: 500 }), tracker.unwritten());
 * ```
 */
export function mergeEvents(...lists: readonly (readonly StoredEvent[])[]): StoredEvent[] {
  const seen = new Set<string>();
  const out: StoredEvent[] = [];
  for (const list of lists) {
    for (const e of list) {
      if (!e || typeof e.type !== 'string' || !Array.isArray(e.itemIds) || typeof e.time !== 'number') continue;
      // An event without an id cannot be matched with anything: it is kept as it is.
      if (typeof e.eventId === 'string') {
        if (seen.has(e.eventId)) continue;
        seen.add(e.eventId);
      }
      out.push(e);
    }
  }
  return out.sort((a, b) => a.time - b.time);
}
