/**
 * `openStore()`: the one way Hearth gets a store, in the page or in the engine worker.
 */
import type { Logger } from '../shared/logger.js';
import { IdbStore, type VersionChange } from './idb-store.js';
import { MemoryStore } from './memory-store.js';
import { openDatabase } from './open-database.js';
import { assertValidRetention, DEFAULT_RETENTION } from './retention.js';
import type { HearthStore, RetentionPolicy } from './types.js';

export interface OpenStoreOptions {
  /** The database name, e.g. `'hearth'` or one per shop. */
  name: string;
  logger: Logger;
  /** The IndexedDB factory (default: the global one, read at call time so import stays SSR-safe). */
  indexedDB?: IDBFactory;
  /**
   * Called when another tab upgraded or deleted the database and this store closed its connection.
   * The store reopens lazily on its next call, so after another tab's `forget()` (`deleted: true`)
   * the caller should stop writing if it must not recreate the database.
   */
  onVersionChange?: (change: VersionChange) => void;
  /** `maxEvents` is enforced on every append. Default: {@link DEFAULT_RETENTION}. */
  retention?: RetentionPolicy;
  /** How long to wait when another tab blocks the upgrade. Default 2,000 ms. */
  blockedTimeoutMs?: number;
  /** How long to wait for the database to open at all. Default 10,000 ms. */
  openTimeoutMs?: number;
}

/** The global factory, or `undefined` where there is none or touching it throws (Firefox private mode, sandboxed iframes). */
function globalFactory(): IDBFactory | undefined {
  try {
    return typeof indexedDB === 'undefined' || indexedDB === null ? undefined : indexedDB;
  } catch {
    return undefined;
  }
}

/**
 * Opens Hearth's database and resolves to a store. Never rejects: where IndexedDB is missing,
 * throws, fails to open or stays blocked past the timeout, it resolves to an in-memory store
 * (`persistent: false`) with the same contract, and says so once through `logger.warnOnce`.
 * The one exception is a programmer mistake: an invalid `retention` rejects with `invalid_options`
 * before anything is opened.
 *
 * @example
 * ```ts
 * const store = await openStore({ name: 'hearth', logger, retention: { maxEvents: 10_000, maxAgeDays: 90 } });
 * if (!store.persistent) console.info('events are kept for this page only');
 * ```
 */
export async function openStore(options: OpenStoreOptions): Promise<HearthStore> {
  const { name, logger } = options;
  const retention = options.retention ?? DEFAULT_RETENTION;
  assertValidRetention(retention);
  const memory = (reason: string, detail?: unknown): HearthStore => {
    logger.warnOnce('storage-unavailable', `${reason}; Hearth keeps working in memory for this page.`, detail);
    return new MemoryStore({ retention, logger });
  };
  const factory = options.indexedDB ?? globalFactory();
  if (!factory) return memory('IndexedDB is not available');
  const open = {
    blockedTimeoutMs: options.blockedTimeoutMs ?? 2_000,
    openTimeoutMs: options.openTimeoutMs ?? 10_000,
    onBlocked: () => logger.debug('Opening the database is blocked by another tab; waiting briefly.'),
  };
  try {
    const db = await openDatabase(factory, name, open);
    return new IdbStore(db, { factory, name, logger, retention, onVersionChange: options.onVersionChange, open });
  } catch (error) {
    return memory(`IndexedDB could not be opened (${error instanceof Error ? error.name : String(error)})`, error);
  }
}
