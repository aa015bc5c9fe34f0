/**
 * The on-device store's parts in one import, for tests and tools. Hearth's own modules import the
 * file they need (so each bundle takes only what it uses); none of it is public API.
 */
export { openStore, type OpenStoreOptions } from './open-store.js';
export { IdbStore, QUOTA_EVICTION_SHARE, type IdbStoreOptions, type VersionChange } from './idb-store.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { validateCatalog } from './catalog-validation.js';
export { refreshCatalogFromFeed, CATALOG_FEED_META_KEY, type CatalogFeedState, type CatalogRefreshResult } from './catalog-feed.js';
export { withMaintenanceLock, type MaintenanceLockOptions, type LockManagerLike, type LeaseStorage } from './maintenance-lock.js';
export { DEFAULT_RETENTION } from './retention.js';
export { DB_VERSION, DEFAULT_DB_NAME, STORES, EVENT_INDEXES, CATALOG_INDEXES, type HearthDBSchema } from './schema.js';
export { checkpointProblem, parameterCount } from './checkpoint-check.js';
export type { CatalogItem, ConsentState, EventQuery, ExportedData, HearthStore, ModelCheckpoint, RetentionPolicy } from './types.js';
