/**
 * The IndexedDB schema of Hearth's database and its migrations.
 *
 * Every schema change is one numbered step in {@link MIGRATIONS}, run only inside the `upgrade`
 * transaction. A database at version N is brought to {@link DB_VERSION} by running steps N+1…current
 * in order, so a shopper who skipped releases still gets every step.
 */
import type { DBSchema } from 'idb';
import type { EventItem, StoredEvent } from '../protocol/event-types.js';
import type { CatalogItem, ModelCheckpoint } from './types.js';

/** The current schema version. Bump it only together with a new entry in {@link MIGRATIONS}. */
export const DB_VERSION = 3;

/** The database name used when `init()` is given none. */
export const DEFAULT_DB_NAME = 'hearth';

/** Object store and index names, in one place so that no string is mistyped elsewhere. */
export const STORES = {
  events: 'events',
  catalog: 'catalog',
  checkpoints: 'checkpoints',
  meta: 'meta',
} as const;

export const EVENT_INDEXES = {
  /** Key `time`: retention and time-ordered reads. */
  byTime: 'by-time',
  /** Key `[session, time]`: a session's events already in time order. */
  bySession: 'by-session',
  /** Key `itemIds`, multi-entry: every event that mentions an item. */
  byItem: 'by-item',
  /** Key `type`. */
  byType: 'by-type',
  /** Key `eventId`, unique: the store holds one event per id, whoever hands it over twice. */
  byEventId: 'by-event-id',
} as const;

export const CATALOG_INDEXES = { byCategory: 'by-category' } as const;

/** The schema as `idb` types it. */
export interface HearthDBSchema extends DBSchema {
  events: {
    key: number;
    value: StoredEvent;
    indexes: { 'by-time': number; 'by-session': [string, number]; 'by-item': string; 'by-type': string; 'by-event-id': string };
  };
  catalog: { key: string; value: CatalogItem; indexes: { 'by-category': string } };
  checkpoints: { key: string; value: ModelCheckpoint };
  meta: { key: string; value: unknown };
}

/**
 * A pass over existing records; calls `done` when its cursor has finished. Passes run one after
 * another: two cursors open at once would interleave, and a later pass would read (and write back)
 * a record before an earlier pass had updated it.
 */
export type Backfill = (done: () => void) => void;

/**
 * One migration step: schema changes run synchronously inside the version-change transaction;
 * record rewrites are handed to `backfill`, which runs them in step order.
 */
export type MigrationStep = (db: IDBDatabase, tx: IDBTransaction, backfill: (pass: Backfill) => void) => void;

/**
 * The migrations, one per version. Steps use raw IndexedDB requests with callbacks rather than
 * promises: a pending request is what keeps the upgrade transaction alive, and nothing here can
 * float.
 */
export const MIGRATIONS: Readonly<Record<number, MigrationStep>> = {
  /** Version 1 (first release): events by time, and metadata. */
  1(db) {
    const events = db.createObjectStore(STORES.events, { keyPath: 'id', autoIncrement: true });
    events.createIndex(EVENT_INDEXES.byTime, 'time');
    db.createObjectStore(STORES.meta);
  },
  /**
   * Version 2: events get `itemIds` (denormalised from `items`) and indexes by session, item and
   * type; the catalog and model checkpoints get their stores.
   */
  2(db, tx, backfill) {
    const events = tx.objectStore(STORES.events);
    events.createIndex(EVENT_INDEXES.bySession, ['session', 'time']);
    events.createIndex(EVENT_INDEXES.byItem, 'itemIds', { multiEntry: true });
    events.createIndex(EVENT_INDEXES.byType, 'type');
    const catalog = db.createObjectStore(STORES.catalog, { keyPath: 'id' });
    catalog.createIndex(CATALOG_INDEXES.byCategory, 'category');
    db.createObjectStore(STORES.checkpoints, { keyPath: 'name' });
    backfill((done) => backfillItemIds(events, done));
  },
  /**
   * Version 3: every event has a stable `eventId`, unique across the store, so that replays (the
   * page-exit stash, retries) are idempotent. Events written before get `legacy-<key>`: unique,
   * and never equal to a new id (those are UUIDs), so nothing already stored is merged or lost.
   */
  3(_db, tx, backfill) {
    const events = tx.objectStore(STORES.events);
    events.createIndex(EVENT_INDEXES.byEventId, 'eventId', { unique: true });
    backfill((done) => backfillEventIds(events, done));
  },
};

/** Gives every event without an `eventId` one derived from its key, inside the upgrade transaction. */
function backfillEventIds(events: IDBObjectStore, done: () => void): void {
  const request = events.openCursor();
  request.onsuccess = () => {
    const cursor = request.result;
    if (!cursor) return done();
    const value = cursor.value as Partial<StoredEvent>;
    if (typeof value.eventId !== 'string') cursor.update({ ...value, eventId: `legacy-${String(cursor.primaryKey)}` });
    cursor.continue();
  };
}

/** Fills `itemIds` on every version-1 event, with a cursor inside the upgrade transaction. */
function backfillItemIds(events: IDBObjectStore, done: () => void): void {
  const request = events.openCursor();
  request.onsuccess = () => {
    const cursor = request.result;
    if (!cursor) return done();
    const value = cursor.value as Partial<StoredEvent> & { items?: unknown };
    if (!Array.isArray(value.itemIds)) {
      cursor.update({ ...value, itemIds: itemIdsOf(value.items) });
    }
    cursor.continue();
  };
}

/** The item ids of an event's `items`, tolerating malformed old records. */
export function itemIdsOf(items: unknown): string[] {
  if (!Array.isArray(items)) return [];
  const ids: string[] = [];
  for (const item of items as unknown[]) {
    const id = (item as Partial<EventItem> | null)?.item_id;
    if (typeof id === 'string' && id !== '' && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

/**
 * Runs the migration steps from `oldVersion` (0 for a new database) up to `newVersion`.
 * Throws when a step is missing, which aborts the upgrade and makes the open fail cleanly.
 */
export function upgradeSchema(db: IDBDatabase, tx: IDBTransaction, oldVersion: number, newVersion: number): void {
  const passes: Backfill[] = [];
  for (let version = oldVersion + 1; version <= newVersion; version += 1) {
    const step = MIGRATIONS[version];
    if (!step) throw new Error(`No migration to schema version ${version}`);
    step(db, tx, (pass) => passes.push(pass));
  }
  // Each pass keeps the transaction alive with its requests; the next starts when it is done.
  const run = (i: number): void => passes[i]?.(() => run(i + 1));
  run(0);
}
