/** The store's types. Checkpoints are declared in the protocol (the model and the server read them too). */
import type { ModelCheckpoint } from '../protocol/checkpoint.js';
import type { StoredEvent } from '../protocol/event-types.js';
import type { CatalogItem } from '../protocol/catalog.js';
import type { ConsentState } from '../protocol/consent.js';

export type { ModelCheckpoint, CatalogItem, ConsentState };

export interface EventQuery {
  /** Only events at or after this time (ms). */
  since?: number;
  /** Only events of this session. */
  session?: string;
  /** Only events that mention this item. */
  itemId?: string;
  /** The newest `limit` events (still returned oldest first). */
  limit?: number;
}

export interface ExportedData {
  exportedAt: number;
  events: StoredEvent[];
  catalog: CatalogItem[];
  meta: Record<string, unknown>;
  checkpoints: { name: string; formatVersion: number; savedAt: number; parameters: number }[];
}

/** What `appendEvents` did with a batch. */
export interface AppendResult {
  /** Events written now. */
  added: number;
  /** Events skipped because the store already held their `eventId` (a replay). */
  duplicates: number;
  /** Events not stored: the batch failed as a whole (quota, broken database); the caller may keep them. */
  dropped: number;
}

/** Meta key of the count of events evicted to make room under quota pressure (see `exportData()`). */
export const EVICTIONS_META_KEY = 'store.evictions';

/** The value under {@link EVICTIONS_META_KEY}. */
export interface EvictionRecord {
  /** Events evicted in all, oldest first, to let newer ones fit. */
  events: number;
  /** When the last eviction happened (ms since the epoch). */
  lastAt: number;
}

export interface RetentionPolicy {
  maxEvents: number;
  maxAgeDays: number;
}

/**
 * Hearth's on-device store. One implementation uses IndexedDB (through `idb`), another keeps
 * everything in memory when IndexedDB is unavailable. Both are usable from the page and the worker.
 */
export interface HearthStore {
  /** False when the store fell back to memory (private mode, blocked storage). */
  readonly persistent: boolean;
  /**
   * Writes all events in one transaction, or none; idempotent by `eventId` (an event already
   * stored is skipped, not doubled); enforces retention; under quota pressure evicts the oldest
   * events in bounded steps until the batch fits. Never rejects: a batch that could not be stored
   * comes back as `dropped`.
   */
  appendEvents(events: readonly StoredEvent[]): Promise<AppendResult>;
  /** Events oldest first. */
  readEvents(query?: EventQuery): Promise<StoredEvent[]>;
  countEvents(): Promise<number>;
  /** Replaces the whole catalog atomically. */
  replaceCatalog(items: readonly CatalogItem[]): Promise<void>;
  getCatalog(): Promise<CatalogItem[]>;
  getCatalogItems(ids: readonly string[]): Promise<(CatalogItem | undefined)[]>;
  getMeta<T>(key: string): Promise<T | undefined>;
  setMeta(key: string, value: unknown): Promise<void>;
  /**
   * Reads `key`, passes it to `update` and stores what it returns (deletes the key on `undefined`),
   * in one readwrite transaction: an atomic read-modify-write across tabs and the worker (IndexedDB
   * runs overlapping readwrite transactions one after another). `update` must be synchronous.
   * Resolves to the value stored.
   */
  updateMeta<T>(key: string, update: (current: T | undefined) => T | undefined): Promise<T | undefined>;
  putCheckpoint(checkpoint: ModelCheckpoint): Promise<void>;
  getCheckpoint(name: string): Promise<ModelCheckpoint | undefined>;
  deleteCheckpoint(name: string): Promise<void>;
  /** Applies the retention policy now. */
  enforceRetention(policy: RetentionPolicy, now?: number): Promise<number>;
  exportAll(): Promise<ExportedData>;
  /** Deletes the database itself; resolves when every byte is gone. */
  destroy(): Promise<void>;
  close(): void;
  /**
   * Takes the named lease for `owner` until `now + ttlMs` when it is free, expired or already
   * `owner`'s; one atomic read-then-write, so two tabs cannot both win. The fallback of
   * `withMaintenanceLock` where Web Locks are missing. Optional so that test doubles may omit it.
   */
  acquireLease?(name: string, owner: string, ttlMs: number, now?: number): Promise<boolean>;
  /** Gives the lease back when `owner` still holds it. */
  releaseLease?(name: string, owner: string): Promise<void>;
}
