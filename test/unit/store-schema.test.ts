import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { DB_VERSION, EVENT_INDEXES, STORES, upgradeSchema } from '../../src/store/schema.js';
import { recordingLogger } from '../fixtures/store/helpers.js';
import { writeV1Database, writeV2Database, type V1Event } from '../fixtures/store/v1-database.js';

async function rawOpen(factory: IDBFactory, name: string): Promise<IDBDatabase> {
  const request = factory.open(name);
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

describe('store schema', () => {
  it('creates every store and index of the current version in a new database', async () => {
    const factory = new IDBFactory();
    const store = await openStore({ name: 'fresh', logger: recordingLogger(), indexedDB: factory });
    expect(store.persistent).toBe(true);
    store.close();
    const db = await rawOpen(factory, 'fresh');
    expect(db.version).toBe(DB_VERSION);
    expect([...db.objectStoreNames].sort()).toEqual(['catalog', 'checkpoints', 'events', 'meta']);
    const tx = db.transaction([STORES.events, STORES.catalog]);
    const events = tx.objectStore(STORES.events);
    expect(events.autoIncrement).toBe(true);
    expect(events.keyPath).toBe('id');
    expect([...events.indexNames].sort()).toEqual(Object.values(EVENT_INDEXES).sort());
    expect(events.index(EVENT_INDEXES.byItem).multiEntry).toBe(true);
    expect([...tx.objectStore(STORES.catalog).indexNames]).toEqual(['by-category']);
    db.close();
  });

  it('migrates every record of a version 1 database to version 2', async () => {
    const factory = new IDBFactory();
    const v1Events: V1Event[] = Array.from({ length: 25 }, (_, i) => ({
      type: i % 2 ? 'view_item' : 'add_to_cart',
      time: 1_000 + i,
      session: `s${i % 3}`,
      items: [{ item_id: `sku-${i % 5}` }, { item_id: `sku-${(i + 1) % 5}`, price: 3 }],
    }));
    v1Events.push({ type: 'page_view', time: 2_000, session: 's0', items: [], page_path: '/home' });
    await writeV1Database(factory, 'old', v1Events, { session: { id: 's0' }, consent: { personalise: true } });

    const logger = recordingLogger();
    const store = await openStore({ name: 'old', logger, indexedDB: factory });
    expect(store.persistent).toBe(true);
    expect(logger.warnings).toEqual([]);

    const events = await store.readEvents();
    expect(events).toHaveLength(v1Events.length);
    events.forEach((event, i) => {
      const before = v1Events[i]!;
      expect(event).toMatchObject({ type: before.type, time: before.time, session: before.session, items: before.items });
      expect(event.itemIds).toEqual(before.items.map((item) => item.item_id));
      expect(event.id).toBe(i + 1);
    });
    // The new indexes see the backfilled fields.
    expect(await store.readEvents({ itemId: 'sku-2' })).toHaveLength(10);
    expect(await store.readEvents({ session: 's1' })).toHaveLength(v1Events.filter((e) => e.session === 's1').length);
    expect(await store.getMeta('consent')).toEqual({ personalise: true });
    expect(await store.getCatalog()).toEqual([]);
    // New events continue the old key sequence.
    await store.appendEvents([{ eventId: 'evt-new', type: 'search', time: 3_000, session: 's9', items: [], itemIds: [], search_term: 'mug' }]);
    expect((await store.readEvents({ limit: 1 }))[0]?.id).toBe(v1Events.length + 1);
    store.close();
  });

  it('upgrades a version 2 database to version 3 without losing an event, giving each a unique legacy id', async () => {
    const factory = new IDBFactory();
    const v2Events = Array.from({ length: 40 }, (_, i) => ({
      type: 'view_item',
      // Pairs of identical events (same type, time, session, item): both must survive.
      time: 5_000 + Math.floor(i / 2),
      session: 's1',
      items: [{ item_id: `sku-${i % 7}` }],
      itemIds: [`sku-${i % 7}`],
    }));
    await writeV2Database(factory, 'v2', v2Events, { 'tracker.session': { id: 's1', lastEventAt: 5_019 } }, upgradeSchema);
    const logger = recordingLogger();
    const store = await openStore({ name: 'v2', logger, indexedDB: factory });
    expect(store.persistent).toBe(true);
    expect(logger.warnings).toEqual([]);
    const events = await store.readEvents();
    expect(events).toHaveLength(40);
    events.forEach((event, i) => {
      expect(event).toMatchObject({ ...v2Events[i], id: i + 1, eventId: `legacy-${i + 1}` });
    });
    expect(await store.getMeta('tracker.session')).toEqual({ id: 's1', lastEventAt: 5_019 });
    // The ids are live: a replay of an old event is skipped, new events are added.
    expect(await store.appendEvents([{ ...events[3]! }, { eventId: 'evt-new', type: 'search', time: 6_000, session: 's1', items: [], itemIds: [], search_term: 'mug' }])).toEqual({
      added: 1,
      duplicates: 1,
      dropped: 0,
    });
    expect(await store.countEvents()).toBe(41);
    store.close();
  });
});
