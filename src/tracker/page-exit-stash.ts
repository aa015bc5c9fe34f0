/**
 * The page-exit stash. Chromium drops IndexedDB transactions started in `pagehide` when a
 * navigation follows, and a page left within ~100 ms of load has no store at all yet, so events
 * not yet written are also copied, synchronously, to localStorage (same device, same origin) when
 * the page is hidden or left — by the tag itself, from its first moment. The next page of the shop
 * drains every stash into the store.
 *
 * Safety of the drain: a stash key is removed only after the write of its events committed, and
 * the store is idempotent by `eventId`. A crash (or a quick second exit) at any point therefore
 * leaves each event stored, or still stashed, or both — and "both" is harmless, because the next
 * drain skips what is already stored. Never neither, never twice.
 *
 * The saving half is in the tag (a few hundred bytes); the drain is only in the runtime.
 */
import { EVENT_TYPES, type StoredEvent } from '../protocol/event-types.js';

/** localStorage key prefix; the full key is `hearth-unload:<dbName>:<page id>`. */
export const STASH_PREFIX = 'hearth-unload:';

/** localStorage, or undefined where it is missing or touching it throws (blocked storage, sandboxes). */
export function localStorageOf(win: { localStorage?: Storage } | undefined): Storage | undefined {
  try {
    return win?.localStorage ?? undefined;
  } catch {
    return undefined;
  }
}

export interface PageExitStash {
  /** Replaces this page's stash with `entries` (events, raw dataLayer entries; none: removes it). Never throws. */
  save(entries: readonly unknown[]): void;
  /** Removes this page's stash (the page is visible again, or consent was withdrawn). */
  clear(): void;
  /** This page's key: its own stash is not drained by itself. */
  readonly key: string;
}

/**
 * @example
 * ```ts
 * const stash = pageExitStash(() => localStorageOf(window), 'hearth', randomId());
 * addEventListener('pagehide', () => stash.save(tracker.unwritten()));
 * ```
 */
export function pageExitStash(storage: () => Storage | undefined, dbName: string, pageId: string): PageExitStash {
  const key = `${STASH_PREFIX}${dbName}:${pageId}`;
  const clear = (): void => {
    try {
      storage()?.removeItem(key);
    } catch {
      // Nothing to clear.
    }
  };
  return {
    key,
    clear,
    save(events) {
      if (events.length === 0) return clear();
      try {
        storage()?.setItem(key, JSON.stringify(events));
      } catch {
        // Full or blocked: the IndexedDB flush may still make it.
      }
    },
  };
}

const TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

/**
 * A stashed entry as the tracker wrote it (a stash is page data: it may be stale or tampered with).
 * The previous release stashed events without ids: those get one fixed by the stash key and their
 * place in it, so that draining the same stash twice still stores them once.
 */
function stashedEvent(value: unknown, fallbackId: string): StoredEvent | undefined {
  const e = value as Partial<StoredEvent> | null;
  if (typeof e !== 'object' || e === null) return undefined;
  if (typeof e.type !== 'string' || !TYPES.has(e.type) || typeof e.time !== 'number' || !Number.isFinite(e.time)) return undefined;
  if (typeof e.session !== 'string' || !Array.isArray(e.items) || !Array.isArray(e.itemIds)) return undefined;
  if (typeof e.eventId !== 'string' || e.eventId === '') return { ...(e as StoredEvent), eventId: fallbackId };
  return e as StoredEvent;
}

function layerEvent(value: unknown, options: DrainOptions): StoredEvent | undefined {
  const e = value as { eventId?: unknown; time?: unknown; layer?: unknown } | null;
  if (!options.fromLayer || typeof e !== 'object' || e === null || typeof e.eventId !== 'string' || typeof e.time !== 'number' || !('layer' in e)) return undefined;
  try {
    return options.fromLayer({ eventId: e.eventId, time: e.time, layer: e.layer });
  } catch {
    return undefined;
  }
}

export interface DrainOptions {
  /** localStorage (undefined: nothing to drain). */
  storage: Storage | undefined;
  dbName: string;
  /** This page's own key, left alone (its events are this page's to write). */
  ownKey: string;
  /** False when the shopper withdrew `personalise`: stashes are then deleted unwritten. */
  canWrite(): boolean;
  /** Gives events stashed before their page knew its session one (the tracker's clock). */
  adopt(events: StoredEvent[]): StoredEvent[];
  /** Writes a batch idempotently; resolves true once it committed. */
  write(events: StoredEvent[]): Promise<boolean>;
  /** Turns a raw dataLayer entry stashed before its page's bridge ran (`{ eventId, time, layer }`) into an event, if it is one. */
  fromLayer?(entry: { eventId: string; time: number; layer: unknown }): StoredEvent | undefined;
}

/** What a drain did. */
export interface DrainResult {
  /** Stashes found (one per page that left events behind). */
  stashes: number;
  /** Events handed to the store. */
  events: number;
  /** Stashes kept because their write did not commit (tried again on the next page). */
  kept: number;
}

/**
 * Drains every other page's stash of `dbName` into the store, one stash at a time, removing a
 * stash only after its write committed.
 *
 * @example
 * ```ts
 * await drainStashes({ storage, dbName, ownKey: stash.key, canWrite, adopt, write: async (e) => (await store.appendEvents(e)).dropped === 0 });
 * ```
 */
export async function drainStashes(options: DrainOptions): Promise<DrainResult> {
  const result: DrainResult = { stashes: 0, events: 0, kept: 0 };
  const ls = options.storage;
  if (!ls) return result;
  const prefix = `${STASH_PREFIX}${options.dbName}:`;
  const remove = (key: string): void => {
    try {
      ls.removeItem(key);
    } catch {
      // Blocked: the next drain finds it again, and skips what is stored.
    }
  };
  let keys: string[];
  try {
    keys = Object.keys(ls).filter((key) => key.startsWith(prefix) && key !== options.ownKey);
  } catch {
    return result;
  }
  for (const key of keys) {
    result.stashes += 1;
    let events: StoredEvent[] = [];
    try {
      const parsed: unknown = JSON.parse(ls.getItem(key) ?? '[]');
      if (Array.isArray(parsed)) events = parsed.map((entry, i) => layerEvent(entry, options) ?? stashedEvent(entry, `${key}#${i}`)).filter((e): e is StoredEvent => e !== undefined);
    } catch {
      // A corrupt stash holds nothing to recover.
    }
    if (events.length > 0 && options.canWrite()) {
      if (!(await options.write(options.adopt(events)))) {
        result.kept += 1;
        continue;
      }
      result.events += events.length;
    }
    remove(key);
  }
  return result;
}
