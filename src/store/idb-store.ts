/**
 * The IndexedDB `HearthStore`, through `idb`. Works in a window and in a worker.
 *
 * Concurrency: several tabs (and the engine worker) may hold connections at once. Every write is
 * its own transaction, event keys come from the store's autoIncrement generator, and nothing is a
 * read-modify-write of a shared counter, so concurrent appends never lose an event.
 * When another connection upgrades or deletes the database, this one closes itself at once (so the
 * other is not blocked) and reopens lazily on next use; if it cannot, it carries on in memory.
 */
import { HearthError } from '../protocol/errors.js';
import type { Logger } from '../shared/logger.js';
import type { StoredEvent } from '../protocol/event-types.js';
import { validateCatalog } from './catalog-validation.js';
import { checkpointProblem, compactCheckpoint, parameterCount } from './checkpoint-check.js';
import { assertValidQuery, compareEvents, matchesQuery, newest, toStoredRecord, uniqueByEventId } from './event-query.js';
import { MemoryStore } from './memory-store.js';
import { deleteDatabase, openDatabase, type HearthDB, type OpenDatabaseOptions } from './open-database.js';
import { assertValidRetention, retentionCutoff } from './retention.js';
import { EVENT_INDEXES, STORES } from './schema.js';
import { isClosedError, isQuotaError } from './storage-errors.js';
import { EVICTIONS_META_KEY } from './types.js';
import type { AppendResult, CatalogItem, EventQuery, EvictionRecord, ExportedData, HearthStore, ModelCheckpoint, RetentionPolicy } from './types.js';

/** Share of the stored events evicted per step when the quota is exceeded. */
export const QUOTA_EVICTION_SHARE = 0.1;
/** Eviction steps per write at most: a full quota costs at most ~27 % of the history, never all of it. */
export const QUOTA_EVICTION_STEPS = 3;

/** The origin's storage usage in bytes, where the platform tells it (`navigator.storage.estimate()`). */
async function platformUsage(): Promise<number | undefined> {
  try {
    const storage = typeof navigator === 'undefined' ? undefined : navigator.storage;
    if (!storage || typeof storage.estimate !== 'function') return undefined;
    return (await storage.estimate()).usage;
  } catch {
    return undefined;
  }
}

export interface IdbStoreOptions {
  factory: IDBFactory;
  name: string;
  logger: Logger;
  /** `maxEvents` is enforced on append; the whole policy by `enforceRetention`. */
  retention?: RetentionPolicy;
  /** Called after another tab's upgrade or deletion made this store close its connection. */
  onVersionChange?: (change: VersionChange) => void;
  open: OpenDatabaseOptions;
  /** Storage usage in bytes (default: `navigator.storage.estimate()`); tests replace it. */
  usage?: () => Promise<number | undefined>;
}

/** What another connection did to the database. */
export interface VersionChange {
  /** True when the database is being deleted (e.g. `forget()` in another tab), false for an upgrade. */
  deleted: boolean;
}

interface Lease {
  owner: string;
  expiresAt: number;
}

/**
 * A `HearthStore` on an open database. Create it with `openStore()`, which falls back to memory
 * when IndexedDB cannot be used.
 *
 * @example
 * ```ts
 * const store = await openStore({ name: 'hearth', logger });
 * await store.appendEvents(batch);
 * const recent = await store.readEvents({ limit: 50 });
 * ```
 */
export class IdbStore implements HearthStore {
  private db: HearthDB | undefined;
  private reopening: Promise<HearthDB | undefined> | undefined;
  /** Set when the database became unusable or was destroyed; every call then goes here. */
  private fallback: MemoryStore | undefined;
  /**
   * This connection's estimate of the number of events, so that `maxEvents` costs a `count()`
   * only near the budget. Other tabs' appends make it low; the exact count is taken before trimming.
   */
  private knownCount: number | undefined;
  /** Events evicted for quota that the meta counter does not show yet (it is written with the next batch that fits). */
  private unrecordedEvictions = 0;
  private lastEvictionAt = 0;
  /**
   * Set when evicting did not lower the storage usage (Chromium reclaims the space of deleted
   * records only at its next compaction, so deleting more would only wipe history): no more
   * evictions until a write fits again.
   */
  private evictionFutile = false;

  constructor(
    db: HearthDB,
    private readonly options: IdbStoreOptions,
  ) {
    if (options.retention) assertValidRetention(options.retention);
    this.attach(db);
  }

  get persistent(): boolean {
    return this.fallback === undefined;
  }

  private get logger(): Logger {
    return this.options.logger;
  }

  private attach(db: HearthDB): void {
    this.db = db;
    db.addEventListener('versionchange', (event) => {
      // Close at once so the other tab's upgrade or delete (e.g. forget()) is not blocked.
      db.close();
      if (this.db === db) this.db = undefined;
      this.knownCount = undefined;
      this.logger.debug('Another tab upgraded or deleted the database; this connection closed.');
      this.options.onVersionChange?.({ deleted: event.newVersion === null });
    });
    // The browser closed the connection (storage cleared by the user, disk trouble).
    db.addEventListener('close', () => {
      if (this.db === db) this.db = undefined;
    });
  }

  private async database(): Promise<HearthDB | undefined> {
    if (this.fallback) return undefined;
    if (this.db) return this.db;
    this.reopening ??= this.reopen();
    return this.reopening;
  }

  private async reopen(): Promise<HearthDB | undefined> {
    try {
      const db = await openDatabase(this.options.factory, this.options.name, this.options.open);
      if (this.fallback) {
        db.close();
        return undefined;
      }
      this.attach(db);
      return db;
    } catch (error) {
      this.fallBack(error);
      return undefined;
    } finally {
      this.reopening = undefined;
    }
  }

  private fallBack(reason: unknown): MemoryStore {
    if (!this.fallback) {
      this.fallback = new MemoryStore({ retention: this.options.retention, logger: this.logger });
      this.logger.warnOnce('storage-unavailable', 'IndexedDB became unavailable; Hearth keeps working in memory for the rest of this page.', reason);
    }
    return this.fallback;
  }

  /**
   * Runs `op` on the open database, reopening once if the connection was closed under us; on the
   * memory fallback when the database cannot be used. Other failures become `storage_unavailable`.
   */
  private async run<T>(op: (db: HearthDB) => Promise<T>, inMemory: (memory: MemoryStore) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      const db = await this.database();
      if (!db) return inMemory(this.fallback ?? this.fallBack(undefined));
      try {
        return await op(db);
      } catch (error) {
        if (isClosedError(error) && attempt === 0) {
          if (this.db === db) this.db = undefined;
          continue;
        }
        if (error instanceof HearthError) throw error;
        throw new HearthError('storage_unavailable', `IndexedDB operation failed: ${String(error)}`, { cause: error });
      }
    }
  }

  // ---- events ----

  async appendEvents(events: readonly StoredEvent[]): Promise<AppendResult> {
    if (events.length === 0) return { added: 0, duplicates: 0, dropped: 0 };
    let records: StoredEvent[] = [];
    try {
      records = uniqueByEventId(events.map(toStoredRecord));
      const batch = records;
      const { added } = await this.run<{ added: number }>(
        async (db) => {
          for (let step = 1; ; step += 1) {
            try {
              const result = await this.appendOnce(db, batch);
              this.evictionFutile = false;
              return result;
            } catch (error) {
              if (!isQuotaError(error) || step > QUOTA_EVICTION_STEPS || this.evictionFutile) throw error;
              this.logger.warnOnce('store-quota', 'Storage quota exceeded: evicting the oldest events and retrying.', error);
              await this.makeRoom(db);
            }
          }
        },
        (memory) => memory.appendEvents(batch),
      );
      return { added, duplicates: events.length - added, dropped: 0 };
    } catch (error) {
      // The tracker must never throw: the batch failed whole (its transaction aborted) and is
      // reported as dropped, so that the caller can keep it.
      const cause = error instanceof HearthError ? error.cause : error;
      if (isQuotaError(cause)) {
        this.logger.warnOnce('store-quota-gave-up', 'Storage quota still exceeded after eviction; the newest events are kept in memory.', cause);
      } else {
        this.logger.warnOnce('store-append-failed', 'Could not store a batch of events; it was dropped.', cause);
      }
      return { added: 0, duplicates: 0, dropped: records.length || events.length };
    }
  }

  /**
   * One transaction: every new record or none, skipping those whose `eventId` is already stored
   * (a readwrite transaction sees no other writer, so check-then-add is atomic across tabs; the
   * unique index would refuse a double anyway), plus the cheap `maxEvents` trim when near the
   * budget and the eviction counter when evictions are not recorded yet.
   */
  private async appendOnce(db: HearthDB, records: readonly StoredEvent[]): Promise<{ added: number }> {
    const tx = db.transaction([STORES.events, STORES.meta], 'readwrite');
    const store = tx.objectStore(STORES.events);
    const maxEvents = this.options.retention?.maxEvents;
    const evicted = this.unrecordedEvictions;
    let added = 0;
    const work = async (): Promise<number | undefined> => {
      const byEventId = store.index(EVENT_INDEXES.byEventId);
      const present = await Promise.all(records.map((record) => byEventId.getKey(record.eventId)));
      const fresh = records.filter((_, i) => present[i] === undefined);
      const adds: Promise<unknown>[] = [];
      try {
        // `add` throws synchronously for a value it cannot clone; settle() then aborts the whole batch.
        for (const record of fresh) adds.push(store.add(record));
      } catch (error) {
        for (const pending of adds) pending.catch(() => undefined);
        throw error;
      }
      await Promise.all(adds);
      added = fresh.length;
      if (evicted > 0) {
        const meta = tx.objectStore(STORES.meta);
        const before = (await meta.get(EVICTIONS_META_KEY)) as EvictionRecord | undefined;
        await meta.put({ events: (before?.events ?? 0) + evicted, lastAt: this.lastEvictionAt } satisfies EvictionRecord, EVICTIONS_META_KEY);
      }
      const checkBudget = maxEvents !== undefined && (this.knownCount === undefined || this.knownCount + fresh.length > maxEvents);
      if (!checkBudget || maxEvents === undefined) return undefined;
      const count = await store.count();
      if (count > maxEvents) {
        const oldest = await store.index(EVENT_INDEXES.byTime).getAllKeys(null, count - maxEvents);
        await Promise.all(oldest.map((key) => store.delete(key)));
        return maxEvents;
      }
      return count;
    };
    const counted = await settle(work(), tx);
    this.unrecordedEvictions -= evicted;
    this.knownCount = counted ?? (this.knownCount === undefined ? undefined : this.knownCount + added);
    return { added };
  }

  /**
   * One eviction step: removes the oldest `QUOTA_EVICTION_SHARE` of the events (at least one),
   * whatever the batch's size, so that a large batch cannot cost a small history most of itself.
   * The counter is kept in memory and written with the next batch that fits: a
   * transaction that also wrote it could itself exceed the quota.
   */
  private async makeRoom(db: HearthDB): Promise<void> {
    const before = await (this.options.usage ?? platformUsage)();
    const tx = db.transaction(STORES.events, 'readwrite');
    const store = tx.objectStore(STORES.events);
    const work = async (): Promise<number> => {
      const count = await store.count();
      const n = Math.min(count, Math.ceil(count * QUOTA_EVICTION_SHARE));
      const keys = await store.index(EVENT_INDEXES.byTime).getAllKeys(null, n);
      await Promise.all(keys.map((key) => store.delete(key)));
      return keys.length;
    };
    const removed = await settle(work(), tx);
    this.knownCount = undefined;
    this.unrecordedEvictions += removed;
    this.lastEvictionAt = Date.now();
    const after = await (this.options.usage ?? platformUsage)();
    if (removed === 0 || (before !== undefined && after !== undefined && after >= before)) {
      this.evictionFutile = true;
      this.logger.debug(`Evicted ${removed} events, but storage usage did not drop (${String(before)} → ${String(after)} bytes); no more evictions until a write fits.`);
    } else {
      this.logger.debug(`Evicted the ${removed} oldest events to free storage.`);
    }
  }

  async readEvents(query: EventQuery = {}): Promise<StoredEvent[]> {
    assertValidQuery(query);
    if (query.limit === 0) return [];
    return this.run(
      (db) => readEventsFrom(db, query),
      (memory) => memory.readEvents(query),
    );
  }

  async countEvents(): Promise<number> {
    return this.run(
      (db) => db.count(STORES.events),
      (memory) => memory.countEvents(),
    );
  }

  async enforceRetention(policy: RetentionPolicy, now: number = Date.now()): Promise<number> {
    assertValidRetention(policy);
    return this.run(
      async (db) => {
        const tx = db.transaction(STORES.events, 'readwrite');
        const store = tx.objectStore(STORES.events);
        const byTime = store.index(EVENT_INDEXES.byTime);
        const work = async (): Promise<number> => {
          const cutoff = retentionCutoff(policy, now);
          // Primary keys straight from the index: no event is loaded.
          const tooOld = Number.isFinite(cutoff) ? await byTime.getAllKeys(IDBKeyRange.upperBound(cutoff, true)) : [];
          const deletes = tooOld.map((key) => store.delete(key));
          const remaining = (await store.count()) - tooOld.length;
          if (remaining > policy.maxEvents) {
            const excess = remaining - policy.maxEvents;
            const range = Number.isFinite(cutoff) ? IDBKeyRange.lowerBound(cutoff) : null;
            const oldest = await byTime.getAllKeys(range, excess);
            deletes.push(...oldest.map((key) => store.delete(key)));
          }
          await Promise.all(deletes);
          return deletes.length;
        };
        const removed = await settle(work(), tx);
        this.knownCount = undefined;
        return removed;
      },
      (memory) => memory.enforceRetention(policy, now),
    );
  }

  // ---- catalog ----

  async replaceCatalog(items: readonly CatalogItem[]): Promise<void> {
    // Validate first: a bad catalog throws before the transaction starts, so nothing is half written.
    const valid = validateCatalog(items);
    await this.run(
      async (db) => {
        const tx = db.transaction(STORES.catalog, 'readwrite');
        const store = tx.objectStore(STORES.catalog);
        await Promise.all([store.clear(), ...valid.map((item) => store.put(item)), tx.done]);
      },
      (memory) => memory.replaceCatalog(valid),
    );
  }

  async getCatalog(): Promise<CatalogItem[]> {
    return this.run(
      (db) => db.getAll(STORES.catalog),
      (memory) => memory.getCatalog(),
    );
  }

  async getCatalogItems(ids: readonly string[]): Promise<(CatalogItem | undefined)[]> {
    return this.run(
      async (db) => {
        const store = db.transaction(STORES.catalog).objectStore(STORES.catalog);
        return Promise.all(ids.map((id) => store.get(id)));
      },
      (memory) => memory.getCatalogItems(ids),
    );
  }

  // ---- meta ----

  async getMeta<T>(key: string): Promise<T | undefined> {
    return this.run(
      async (db) => (await db.get(STORES.meta, key)) as T | undefined,
      (memory) => memory.getMeta<T>(key),
    );
  }

  async setMeta(key: string, value: unknown): Promise<void> {
    await this.run(
      async (db) => {
        // idb's put shortcut awaits the transaction's completion.
        await db.put(STORES.meta, value, key);
      },
      (memory) => memory.setMeta(key, value),
    );
  }

  async updateMeta<T>(key: string, update: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    return this.run(
      async (db) => {
        // One readwrite transaction: IndexedDB runs overlapping readwrite transactions one after
        // another, so two tabs (or a tab and the worker) never both read the old value.
        const tx = db.transaction(STORES.meta, 'readwrite');
        const store = tx.objectStore(STORES.meta);
        const work = async (): Promise<T | undefined> => {
          const next = update((await store.get(key)) as T | undefined);
          if (next === undefined) await store.delete(key);
          else await store.put(next, key);
          return next;
        };
        return settle(work(), tx);
      },
      (memory) => memory.updateMeta<T>(key, update),
    );
  }

  async acquireLease(name: string, owner: string, ttlMs: number, now: number = Date.now()): Promise<boolean> {
    return this.run(
      async (db) => {
        // Read and write in one readwrite transaction: IndexedDB runs overlapping readwrite
        // transactions one after another, so this is an atomic compare-and-set across tabs.
        const tx = db.transaction(STORES.meta, 'readwrite');
        const store = tx.objectStore(STORES.meta);
        const key = `lease:${name}`;
        const work = async (): Promise<boolean> => {
          const held = (await store.get(key)) as Lease | undefined;
          if (held && held.owner !== owner && held.expiresAt > now) return false;
          await store.put({ owner, expiresAt: now + ttlMs } satisfies Lease, key);
          return true;
        };
        return settle(work(), tx);
      },
      (memory) => memory.acquireLease(name, owner, ttlMs, now),
    );
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.run(
      async (db) => {
        const tx = db.transaction(STORES.meta, 'readwrite');
        const store = tx.objectStore(STORES.meta);
        const key = `lease:${name}`;
        const work = async (): Promise<void> => {
          const held = (await store.get(key)) as Lease | undefined;
          if (held?.owner === owner) await store.delete(key);
        };
        await settle(work(), tx);
      },
      (memory) => memory.releaseLease(name, owner),
    );
  }

  // ---- checkpoints ----

  async putCheckpoint(checkpoint: ModelCheckpoint): Promise<void> {
    const problem = checkpointProblem(checkpoint);
    if (problem) throw new HearthError('invalid_checkpoint', `Cannot save checkpoint: ${problem}`);
    await this.run(
      async (db) => {
        await db.put(STORES.checkpoints, compactCheckpoint(checkpoint));
      },
      (memory) => memory.putCheckpoint(checkpoint),
    );
  }

  async getCheckpoint(name: string): Promise<ModelCheckpoint | undefined> {
    return this.run(
      async (db) => {
        const checkpoint = await db.get(STORES.checkpoints, name);
        if (checkpoint === undefined) return undefined;
        const problem = checkpointProblem(checkpoint);
        if (!problem) return checkpoint;
        // A torn or tampered checkpoint would crash the model later: discard it now.
        this.logger.warnOnce(`checkpoint-corrupt:${name}`, `Discarded corrupt checkpoint "${name}": ${problem}`);
        await db.delete(STORES.checkpoints, name);
        return undefined;
      },
      (memory) => memory.getCheckpoint(name),
    );
  }

  async deleteCheckpoint(name: string): Promise<void> {
    await this.run(
      (db) => db.delete(STORES.checkpoints, name),
      (memory) => memory.deleteCheckpoint(name),
    );
  }

  // ---- whole store ----

  async exportAll(): Promise<ExportedData> {
    return this.run(
      async (db) => {
        // One readonly transaction: a consistent snapshot of every store.
        const tx = db.transaction([STORES.events, STORES.catalog, STORES.meta, STORES.checkpoints]);
        const metaStore = tx.objectStore(STORES.meta);
        const [events, catalog, metaKeys, metaValues, checkpoints] = await Promise.all([
          tx.objectStore(STORES.events).getAll(),
          tx.objectStore(STORES.catalog).getAll(),
          metaStore.getAllKeys(),
          metaStore.getAll(),
          tx.objectStore(STORES.checkpoints).getAll(),
          tx.done,
        ]);
        const meta: Record<string, unknown> = Object.fromEntries(metaKeys.map((key, i) => [String(key), metaValues[i]]));
        if (this.unrecordedEvictions > 0) {
          // Evictions whose counter could not be written yet (the quota is still full) count too.
          const recorded = meta[EVICTIONS_META_KEY] as EvictionRecord | undefined;
          meta[EVICTIONS_META_KEY] = { events: (recorded?.events ?? 0) + this.unrecordedEvictions, lastAt: this.lastEvictionAt } satisfies EvictionRecord;
        }
        return {
          exportedAt: Date.now(),
          events: events.sort(compareEvents),
          catalog,
          meta,
          checkpoints: checkpoints.map((c) => ({
            name: c.name,
            formatVersion: c.formatVersion,
            savedAt: c.savedAt,
            parameters: parameterCount(c),
          })),
        };
      },
      (memory) => memory.exportAll(),
    );
  }

  /**
   * Closes this connection and deletes the whole database, resolving when it is gone. Other tabs'
   * Hearth connections close themselves on `versionchange`, so the deletion is only delayed, not
   * blocked. Afterwards this object keeps working on an empty in-memory store (nothing is written
   * to disk again); call `openStore()` to persist again.
   */
  async destroy(): Promise<void> {
    const pending = this.reopening;
    this.fallback = new MemoryStore({ retention: this.options.retention, logger: this.logger });
    this.db?.close();
    this.db = undefined;
    if (pending) (await pending)?.close();
    try {
      await deleteDatabase(this.options.factory, this.options.name, () => this.logger.debug('Deleting the database: waiting for other tabs to close their connections.'));
    } catch (error) {
      throw new HearthError('storage_unavailable', `Could not delete the database "${this.options.name}": ${String(error)}`, {
        cause: error,
      });
    }
  }

  /** Releases the connection; a later call reopens it. */
  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}

/**
 * Waits for a transaction's work and its completion, and reports the most telling error. When a
 * transaction aborts, browsers fail its pending requests with a bland `AbortError` first and put
 * the real cause (e.g. `QuotaExceededError`, raised at commit) on the transaction, so a quota error
 * from either side wins, then the work's own error, then the transaction's.
 */
async function settle<T>(work: Promise<T>, tx: { done: Promise<void>; abort(): void }): Promise<T> {
  // If the work fails for a reason IndexedDB did not see, abort so that nothing half done commits.
  const guarded = work.catch((error: unknown) => {
    abortQuietly(tx);
    throw error;
  });
  const [result, completion] = await Promise.allSettled([guarded, tx.done]);
  if (completion.status === 'rejected') {
    if (isQuotaError(completion.reason)) throw completion.reason;
    if (result.status === 'rejected') throw result.reason;
    throw completion.reason;
  }
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

function abortQuietly(tx: { abort(): void }): void {
  try {
    tx.abort();
  } catch {
    // Already finished or aborted: nothing to undo.
  }
}

/**
 * The engine's hot path. Picks the index that narrows most, and for `limit` finds the boundary with
 * a reverse key cursor and one `advance`, then fetches the tail with a single `getAll`, instead of
 * stepping a value cursor `limit` times.
 */
async function readEventsFrom(db: HearthDB, query: EventQuery): Promise<StoredEvent[]> {
  const { since, session, itemId, limit } = query;
  const tx = db.transaction(STORES.events);
  const store = tx.objectStore(STORES.events);
  if (itemId !== undefined) {
    // Per-item histories are short; the multi-entry index returns them in key order.
    const events = await store.index(EVENT_INDEXES.byItem).getAll(itemId);
    return newest(events.filter((event) => matchesQuery(event, query)).sort(compareEvents), limit);
  }
  if (session !== undefined) {
    const index = store.index(EVENT_INDEXES.bySession);
    const upper: [string, number] = [session, Number.POSITIVE_INFINITY];
    const range = IDBKeyRange.bound([session, since ?? Number.NEGATIVE_INFINITY], upper);
    if (limit === undefined) return index.getAll(range);
    const cursor = await index.openKeyCursor(range, 'prev');
    const boundary = cursor && limit > 1 ? await cursor.advance(limit - 1) : cursor;
    if (!boundary) return index.getAll(range);
    return newest(await index.getAll(IDBKeyRange.bound(boundary.key, upper)), limit);
  }
  const index = store.index(EVENT_INDEXES.byTime);
  const range = since === undefined ? null : IDBKeyRange.lowerBound(since);
  if (limit === undefined) return index.getAll(range);
  const cursor = await index.openKeyCursor(range, 'prev');
  const boundary = cursor && limit > 1 ? await cursor.advance(limit - 1) : cursor;
  if (!boundary) return index.getAll(range);
  // Events tied on the boundary's time may add a few extra; `newest` trims them.
  return newest(await index.getAll(IDBKeyRange.lowerBound(boundary.key)), limit);
}
