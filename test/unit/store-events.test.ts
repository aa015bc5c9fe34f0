import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore, openStore, type HearthStore, type RetentionPolicy } from '../../src/store/index.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';
import { makeEvent, recordingLogger, uniqueName, type RecordingLogger } from '../fixtures/store/helpers.js';

const DAY = 86_400_000;

interface Kind {
  label: string;
  create(logger: RecordingLogger, retention?: RetentionPolicy): Promise<HearthStore>;
}

const kinds: Kind[] = [
  {
    label: 'IndexedDB store',
    create: (logger, retention) => openStore({ name: uniqueName(), logger, indexedDB: new IDBFactory(), retention }),
  },
  { label: 'memory store', create: async (logger, retention) => new MemoryStore({ logger, retention }) },
];

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(kinds)('events in the $label', ({ create }) => {
  /** 60 events over three sessions and five items, appended in batches and slightly out of order. */
  async function seeded(): Promise<{ store: HearthStore; all: StoredEvent[] }> {
    const store = await create(recordingLogger());
    const all: StoredEvent[] = [];
    for (let batch = 0; batch < 6; batch += 1) {
      const events = Array.from({ length: 10 }, (_, i) => {
        const n = batch * 10 + i;
        // Every tenth event arrives late (its time is earlier than the previous batch's).
        const time = 10_000 + n * 100 - (i === 9 ? 950 : 0);
        return makeEvent(time, [`sku-${n % 5}`, `sku-${(n + 2) % 5}`], `s${n % 3}`);
      });
      await store.appendEvents(events);
      all.push(...events);
    }
    return { store, all: all.sort((a, b) => a.time - b.time) };
  }

  it('reads every event back oldest first with ids assigned', async () => {
    const { store, all } = await seeded();
    const events = await store.readEvents();
    expect(events.map((e) => e.time)).toEqual(all.map((e) => e.time));
    expect(new Set(events.map((e) => e.id)).size).toBe(60);
    expect(await store.countEvents()).toBe(60);
  });

  it('answers since, session, itemId and limit alone and combined', async () => {
    const { store, all } = await seeded();
    const expectQuery = async (query: Parameters<HearthStore['readEvents']>[0] & object): Promise<void> => {
      let expected = all.filter(
        (e) => (query.since === undefined || e.time >= query.since) && (query.session === undefined || e.session === query.session) && (query.itemId === undefined || e.itemIds.includes(query.itemId)),
      );
      if (query.limit !== undefined) expected = expected.slice(Math.max(0, expected.length - query.limit));
      const got = await store.readEvents(query);
      expect(got.map((e) => [e.time, e.session, e.itemIds])).toEqual(expected.map((e) => [e.time, e.session, e.itemIds]));
    };
    await expectQuery({ since: 13_000 });
    await expectQuery({ session: 's1' });
    await expectQuery({ itemId: 'sku-3' });
    await expectQuery({ limit: 7 });
    await expectQuery({ limit: 1 });
    await expectQuery({ limit: 500 });
    await expectQuery({ session: 's2', limit: 4 });
    await expectQuery({ session: 's2', since: 12_000, limit: 3 });
    await expectQuery({ itemId: 'sku-0', since: 11_000, limit: 5 });
    await expectQuery({ itemId: 'sku-1', session: 's0' });
    await expectQuery({ since: 99_999 });
    await expectQuery({ session: 'nobody', limit: 3 });
    expect(await store.readEvents({ limit: 0 })).toEqual([]);
  });

  it('returns the newest events when several share the boundary time', async () => {
    const store = await create(recordingLogger());
    await store.appendEvents([makeEvent(1, ['a']), makeEvent(2, ['b']), makeEvent(2, ['c']), makeEvent(2, ['d']), makeEvent(3, ['e'])]);
    expect((await store.readEvents({ limit: 3 })).map((e) => e.itemIds[0])).toEqual(['c', 'd', 'e']);
  });

  it('rejects a malformed query with invalid_argument', async () => {
    const store = await create(recordingLogger());
    await expect(store.readEvents({ limit: -1 })).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(store.readEvents({ since: Number.NaN })).rejects.toMatchObject({ code: 'invalid_argument' });
  });

  it('fills itemIds from items when the caller left them out and ignores a caller id', async () => {
    const store = await create(recordingLogger());
    const event = { ...makeEvent(5, ['x', 'y']), id: 999 } as StoredEvent;
    delete (event as Partial<StoredEvent>).itemIds;
    await store.appendEvents([event]);
    const [read] = await store.readEvents({ itemId: 'y' });
    expect(read?.itemIds).toEqual(['x', 'y']);
    expect(read?.id).not.toBe(999);
  });

  it('writes nothing of a batch that holds an event that cannot be stored', async () => {
    const logger = recordingLogger();
    const store = await create(logger);
    await store.appendEvents([makeEvent(1)]);
    const bad = { ...makeEvent(3), page_path: (() => '/') as unknown as string };
    await expect(store.appendEvents([makeEvent(2), bad, makeEvent(4)])).resolves.toEqual({ added: 0, duplicates: 0, dropped: 3 });
    expect((await store.readEvents()).map((e) => e.time)).toEqual([1]);
    expect(logger.warnings.map((w) => w.key)).toContain('store-append-failed');
  });

  it('skips events it already holds, by eventId, however often they are handed over', async () => {
    const store = await create(recordingLogger());
    const first = makeEvent(1, ['a']);
    await store.appendEvents([first]);
    await store.appendEvents([first, { ...first }, makeEvent(2, ['b'])]);
    expect((await store.readEvents()).map((e) => e.eventId)).toEqual([first.eventId, expect.any(String)]);
    expect(await store.countEvents()).toBe(2);
  });

  it('removes events older than maxAgeDays and the oldest beyond maxEvents', async () => {
    const store = await create(recordingLogger());
    const now = 1_000 * DAY;
    const times = [now - 100 * DAY, now - 91 * DAY, now - 89 * DAY, now - 10 * DAY, now - 5 * DAY, now - DAY, now];
    await store.appendEvents(times.map((t) => makeEvent(t)));
    expect(await store.enforceRetention({ maxEvents: 100, maxAgeDays: 90 }, now)).toBe(2);
    expect((await store.readEvents()).map((e) => e.time)).toEqual(times.slice(2));
    expect(await store.enforceRetention({ maxEvents: 3, maxAgeDays: 90 }, now)).toBe(2);
    expect((await store.readEvents()).map((e) => e.time)).toEqual(times.slice(4));
    expect(await store.enforceRetention({ maxEvents: 3, maxAgeDays: Number.POSITIVE_INFINITY }, now)).toBe(0);
    await expect(store.enforceRetention({ maxEvents: -1, maxAgeDays: 1 }, now)).rejects.toMatchObject({ code: 'invalid_options' });
  });

  it('keeps at most maxEvents on append, dropping the oldest', async () => {
    const store = await create(recordingLogger(), { maxEvents: 25, maxAgeDays: 90 });
    for (let batch = 0; batch < 8; batch += 1) {
      await store.appendEvents(Array.from({ length: 5 }, (_, i) => makeEvent(batch * 5 + i)));
    }
    const events = await store.readEvents();
    expect(events).toHaveLength(25);
    expect(events[0]?.time).toBe(15);
    expect(events.at(-1)?.time).toBe(39);
  });
});

describe('events in the IndexedDB store', () => {
  it('writes nothing of a batch whose transaction aborts midway', async () => {
    const logger = recordingLogger();
    const store = await openStore({ name: uniqueName(), logger, indexedDB: new IDBFactory() });
    await store.appendEvents([makeEvent(1)]);
    const realAdd = IDBObjectStore.prototype.add;
    let calls = 0;
    vi.spyOn(IDBObjectStore.prototype, 'add').mockImplementation(function (this: IDBObjectStore, value, key) {
      calls += 1;
      const request = realAdd.call(this, value, key);
      if (calls === 2) this.transaction.abort();
      return request;
    });
    await store.appendEvents([makeEvent(2), makeEvent(3), makeEvent(4)]);
    vi.restoreAllMocks();
    expect((await store.readEvents()).map((e) => e.time)).toEqual([1]);
    expect(logger.warnings.map((w) => w.key)).toEqual(['store-append-failed']);
    store.close();
  });

  it('evicts the oldest events when the quota is exceeded', async () => {
    const logger = recordingLogger();
    const store = await openStore({ name: uniqueName(), logger, indexedDB: new IDBFactory() });
    await store.appendEvents(Array.from({ length: 50 }, (_, i) => makeEvent(i)));
    vi.spyOn(IDBObjectStore.prototype, 'add').mockImplementationOnce(() => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    });
    await store.appendEvents([makeEvent(100), makeEvent(101)]);
    const times = (await store.readEvents()).map((e) => e.time);
    // 10% of 50 = 5 oldest evicted, then the batch written whole.
    expect(times).toEqual([...Array.from({ length: 45 }, (_, i) => i + 5), 100, 101]);
    expect(logger.warnings.map((w) => w.key)).toEqual(['store-quota']);
    store.close();
  });

  it('gives up after a bounded number of eviction steps, reporting the batch as dropped and keeping most of the history', async () => {
    const logger = recordingLogger();
    const store = await openStore({ name: uniqueName(), logger, indexedDB: new IDBFactory() });
    await store.appendEvents(Array.from({ length: 20 }, (_, i) => makeEvent(i)));
    vi.spyOn(IDBObjectStore.prototype, 'add').mockImplementation(() => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    });
    await expect(store.appendEvents([makeEvent(100)])).resolves.toEqual({ added: 0, duplicates: 0, dropped: 1 });
    vi.restoreAllMocks();
    // Three steps of 10 %: 20 → 18 → 16 → 14; never the whole history.
    expect(await store.countEvents()).toBe(14);
    expect((await store.exportAll()).meta['store.evictions']).toMatchObject({ events: 6 });
    expect(logger.warnings.map((w) => w.key)).toEqual(['store-quota', 'store-quota-gave-up']);
    store.close();
  });

  it('stops evicting once evicting does not lower the storage usage, so history is not wiped for nothing', async () => {
    let usage = 1_000;
    const logger = recordingLogger();
    const { IdbStore } = await import('../../src/store/idb-store.js');
    const { openDatabase } = await import('../../src/store/open-database.js');
    const factory = new IDBFactory();
    const name = uniqueName();
    const open = { blockedTimeoutMs: 1000, openTimeoutMs: 5000 };
    // Chromium counts deleted records until its next compaction: usage grows when records are deleted.
    const store = new IdbStore(await openDatabase(factory, name, open), { factory, name, logger, open, usage: async () => (usage += 100) });
    await store.appendEvents(Array.from({ length: 50 }, (_, i) => makeEvent(i)));
    vi.spyOn(IDBObjectStore.prototype, 'add').mockImplementation(() => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    });
    for (let i = 0; i < 5; i++) expect((await store.appendEvents([makeEvent(100 + i)])).dropped).toBe(1);
    vi.restoreAllMocks();
    // One step (5 events), then no more: the later batches are refused without evicting.
    expect(await store.countEvents()).toBe(45);
    // A write that fits records the evictions and lets eviction work again.
    expect((await store.appendEvents([makeEvent(200)])).added).toBe(1);
    expect(await store.getMeta('store.evictions')).toMatchObject({ events: 5 });
    store.close();
  });

  it('keeps one event per eventId: a replayed batch is skipped, not doubled', async () => {
    const store = await openStore({ name: uniqueName(), logger: recordingLogger(), indexedDB: new IDBFactory() });
    const batch = [makeEvent(1, ['a']), makeEvent(2, ['b'])];
    expect(await store.appendEvents(batch)).toEqual({ added: 2, duplicates: 0, dropped: 0 });
    expect(await store.appendEvents([...batch, makeEvent(3, ['c']), batch[0]!])).toEqual({ added: 1, duplicates: 3, dropped: 0 });
    expect((await store.readEvents()).map((e) => e.itemIds[0])).toEqual(['a', 'b', 'c']);
    store.close();
  });

  it('stores an event once when two tabs hand it over at the same moment', async () => {
    const factory = new IDBFactory();
    const name = uniqueName();
    const [tabA, tabB] = await Promise.all([openStore({ name, logger: recordingLogger(), indexedDB: factory }), openStore({ name, logger: recordingLogger(), indexedDB: factory })]);
    const shared = Array.from({ length: 30 }, (_, i) => makeEvent(i, ['x'], 's', 'view_item', `shared-${i}`));
    const results = await Promise.all([tabA.appendEvents(shared), tabB.appendEvents(shared), tabA.appendEvents(shared.slice(10))]);
    expect(results.reduce((n, r) => n + r.added, 0)).toBe(30);
    expect(await tabB.countEvents()).toBe(30);
    tabA.close();
    tabB.close();
  });

  it('evicts when the quota error arrives as a transaction abort', async () => {
    const logger = recordingLogger();
    const store = await openStore({ name: uniqueName(), logger, indexedDB: new IDBFactory() });
    await store.appendEvents(Array.from({ length: 30 }, (_, i) => makeEvent(i)));
    const realAdd = IDBObjectStore.prototype.add;
    let failed = false;
    vi.spyOn(IDBObjectStore.prototype, 'add').mockImplementation(function (this: IDBObjectStore, value, key) {
      const request = realAdd.call(this, value, key);
      if (!failed) {
        failed = true;
        // Browsers report quota at commit: the transaction aborts with a QuotaExceededError.
        const tx = this.transaction;
        Object.defineProperty(tx, 'error', { value: new DOMException('full', 'QuotaExceededError'), configurable: true });
        tx.abort();
      }
      return request;
    });
    await store.appendEvents([makeEvent(50)]);
    vi.restoreAllMocks();
    expect(await store.countEvents()).toBe(28);
    expect((await store.readEvents({ limit: 1 }))[0]?.time).toBe(50);
    store.close();
  });

  it('loses no event when two connections append at once', async () => {
    const factory = new IDBFactory();
    const name = uniqueName();
    const [tabA, tabB] = await Promise.all([openStore({ name, logger: recordingLogger(), indexedDB: factory }), openStore({ name, logger: recordingLogger(), indexedDB: factory })]);
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i += 1) {
      writes.push(tabA.appendEvents([makeEvent(i, ['a'], 'A'), makeEvent(i, ['a'], 'A')]));
      writes.push(tabB.appendEvents([makeEvent(i, ['b'], 'B')]));
    }
    await Promise.all(writes);
    expect(await tabA.countEvents()).toBe(120);
    expect(await tabB.readEvents({ session: 'A' })).toHaveLength(80);
    const ids = (await tabB.readEvents()).map((e) => e.id);
    expect(new Set(ids).size).toBe(120);
    tabA.close();
    tabB.close();
  });
});
