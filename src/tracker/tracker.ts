/**
 * The tracker's pipeline: validated events get a time and a session, go to listeners, and wait in
 * memory for a batched, all-or-nothing write. `track()` does no I/O and allocates little, so it
 * stays far below its 0.05 ms budget; the write happens on a short timer, on `flush()`, and when
 * the page is hidden or left.
 *
 * Consent gates the write, not the pipeline: without the `personalise` scope events are held in
 * memory only (at most {@link MAX_HELD} of them) and replayed by {@link Tracker.releaseHeld} once
 * consent is granted — after it is checked again.
 */
import type { Logger } from '../logger.js';
import type { HearthStore } from '../store/types.js';
import type { EventItem, StoredEvent, TrackEvent } from './event-types.js';
import { validateEvent } from './validate-event.js';
import { SESSION_META_KEY, SessionClock } from './session.js';

/** Events kept in memory without consent, for replay on grant (oldest dropped first). */
export const MAX_HELD = 1_000;
/** Most events written in one transaction. */
export const MAX_BATCH = 500;
/** Events of a memory-only store handed to the engine as `recent`. */
export const MAX_RECENT = 200;

export type EventListener = (event: StoredEvent) => void;

export interface TrackerOptions {
  logger: Logger;
  flushIntervalMs: number;
  sessionTimeoutMs: number;
  /** Read for every event and every write. */
  canWrite: () => boolean;
  now?: () => number;
  newId?: () => string;
}

/** Builds the stored form of a validated event. */
export function toStoredEvent(event: TrackEvent, time: number, session: string): StoredEvent {
  const items: EventItem[] = event.items ?? [];
  const stored: StoredEvent = { type: event.type, time, session, items, itemIds: items.map((item) => item.item_id) };
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
  /** Tracked before the session state was loaded: [event, time]. */
  private early: [TrackEvent, number][] = [];
  private pending: StoredEvent[] = [];
  private inflight: readonly StoredEvent[] = [];
  private held: StoredEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<EventListener>();
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: TrackerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Validates and records an event; throws `invalid_event` for a malformed one. */
  track(input: TrackEvent): void {
    const event = validateEvent(input);
    if (this.stopped) return;
    const time = event.timestamp ?? this.now();
    if (this.sessions) this.accept(event, time);
    else this.early.push([event, time]);
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
    for (const [event, time] of early) this.accept(event, time);
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
   * The events the engine cannot read from the store yet: those waiting or being written, or —
   * when the store is memory-only (the worker cannot see it) — the newest {@link MAX_RECENT}.
   * Empty without the `personalise` scope.
   */
  async recent(): Promise<StoredEvent[]> {
    if (!this.options.canWrite()) return [];
    const unwritten = this.unwritten();
    if (!this.store || this.store.persistent) return unwritten;
    const stored = await this.store.readEvents({ limit: MAX_RECENT }).catch(() => []);
    return [...stored, ...unwritten].slice(-MAX_RECENT);
  }

  /** Events accepted but not yet handed to the store (being written, then waiting). */
  unwritten(): StoredEvent[] {
    return [...this.inflight, ...this.pending];
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

  private accept(event: TrackEvent, time: number): void {
    const stored = toStoredEvent(event, time, this.sessions!.sessionFor(time));
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

  private schedule(): void {
    if (this.timer !== undefined || !this.store) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch(() => undefined);
    }, this.options.flushIntervalMs);
  }

  private async writeBatch(): Promise<void> {
    // One transaction per MAX_BATCH events keeps each write short; each is all-or-nothing.
    while (this.store && this.pending.length > 0 && !this.stopped) {
      if (!(await this.writeOnce(this.store))) break;
    }
  }

  /** Writes the oldest pending events; false when it failed (they are kept for one retry). */
  private async writeOnce(store: HearthStore): Promise<boolean> {
    if (!this.options.canWrite()) {
      this.pending = [];
      return false;
    }
    const batch = this.pending.slice(0, MAX_BATCH);
    this.pending = this.pending.slice(MAX_BATCH);
    this.inflight = batch;
    try {
      await store.appendEvents(batch);
      const session = this.sessions?.snapshot();
      if (session) await store.setMeta(SESSION_META_KEY, session);
      return true;
    } catch (error) {
      // The store already retried quota errors and falls back to memory on broken databases, so
      // this is rare; keep the events for one more try rather than loop forever.
      this.options.logger.warnOnce('write-failed', 'Could not store a batch of events; will retry once.', error);
      const retried = batch.filter((event) => !retriedOnce.has(event));
      for (const event of retried) retriedOnce.add(event);
      this.pending = [...retried, ...this.pending];
      if (this.pending.length) this.schedule();
      return false;
    } finally {
      this.inflight = [];
    }
  }
}

const retriedOnce = new WeakSet<StoredEvent>();
