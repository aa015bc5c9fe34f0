import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createHearth, type HearthDeps } from '../../src/hearth/create-hearth.js';
import { createRuntime, type RuntimeParts } from '../../src/hearth/runtime-session.js';
import { openStore } from '../../src/store/open-store.js';
import { withMaintenanceLock } from '../../src/store/maintenance-lock.js';
import { refreshCatalogFromFeed } from '../../src/store/catalog-feed.js';
import { silentLogger } from '../../src/shared/logger.js';
import { hasErrorCode } from '../../src/protocol/errors.js';
import { fallbackEngine } from '../../src/hearth/fallback-engine.js';
import type { EngineClient } from '../../src/client/contract.js';
import type { HearthOptions } from '../../src/hearth/config.js';
import type { Hearth } from '../../src/hearth/types.js';
import type { HearthStore } from '../../src/store/types.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';

let counter = 0;
const live: Hearth[] = [];

interface FakeEngine extends EngineClient {
  calls: { name: string; args: unknown[] }[];
}

function fakeEngine(): FakeEngine {
  const base = fallbackEngine('fake');
  const calls: { name: string; args: unknown[] }[] = [];
  const record =
    <K extends keyof EngineClient>(name: K) =>
    (...args: unknown[]) => {
      calls.push({ name, args });
      return (base[name] as (...a: unknown[]) => unknown)(...args);
    };
  return {
    calls,
    recommend: record('recommend'),
    similarItems: record('similarItems'),
    trending: record('trending'),
    intent: record('intent'),
    info: record('info'),
    train: record('train'),
    onProgress: base.onProgress,
    federatedRound: record('federatedRound'),
    lastUpload: record('lastUpload'),
    catalogChanged: record('catalogChanged'),
    reset: record('reset'),
    dispose: record('dispose'),
  } as FakeEngine;
}

interface Setup {
  hearth: Hearth;
  engine: FakeEngine;
  stores: HearthStore[];
  dbName: string;
}

function setup(options: HearthOptions = {}, extra: Partial<HearthDeps> & { parts?: Partial<RuntimeParts> } = {}): Setup {
  const dbName = options.dbName ?? `hearth-test-${++counter}-${Date.now()}`;
  const engine = fakeEngine();
  const stores: HearthStore[] = [];
  const runtime = createRuntime({
    openStore: async (o) => {
      const store = await openStore(o);
      stores.push(store);
      return store;
    },
    withMaintenanceLock,
    refreshCatalogFromFeed,
    createEngineClient: () => engine,
    ...extra.parts,
  });
  const hearth = createHearth(
    { flushIntervalMs: 10_000, ...options, dbName },
    {
      loadRuntime: async () => runtime,
      window: null,
      gpc: () => false,
      scheduleIdle: () => () => undefined,
      ...extra,
    },
  );
  live.push(hearth);
  return { hearth, engine, stores, dbName };
}

async function storedEvents(dbName: string): Promise<StoredEvent[]> {
  const store = await openStore({ name: dbName, logger: silentLogger });
  const events = await store.readEvents();
  store.close();
  return events;
}

const view = (id: string) => ({ type: 'view_item' as const, items: [{ item_id: id }] });

afterEach(() => {
  for (const hearth of live.splice(0)) hearth.destroy();
});

describe('the Hearth object', () => {
  it('batches tracked events into one all-or-nothing write on flush, with a session id', async () => {
    const { hearth, stores, dbName } = setup({ consent: 'opt-out' });
    await hearth.ready;
    let appends = 0;
    const store = stores[0]!;
    const append = store.appendEvents.bind(store);
    store.appendEvents = async (events) => {
      appends++;
      return append(events);
    };
    hearth.track(view('a'));
    hearth.track({ type: 'add_to_cart', items: [{ item_id: 'a', quantity: 1 }] });
    hearth.track({ type: 'search', search_term: 'mug' });
    expect(await storedEvents(dbName)).toHaveLength(0);
    await hearth.flush();
    const events = await storedEvents(dbName);
    expect(appends).toBe(1);
    expect(events.map((e) => e.type)).toEqual(['view_item', 'add_to_cart', 'search']);
    expect(events[0]!.itemIds).toEqual(['a']);
    expect(new Set(events.map((e) => e.session)).size).toBe(1);
  });

  it('splits a large backlog into transactions of at most 500 events, losing none', async () => {
    const { hearth, stores, dbName } = setup({ consent: 'opt-out' });
    await hearth.ready;
    const sizes: number[] = [];
    const store = stores[0]!;
    const append = store.appendEvents.bind(store);
    store.appendEvents = async (events) => {
      sizes.push(events.length);
      return append(events);
    };
    for (let i = 0; i < 1_200; i++) hearth.track(view(`sku-${i}`));
    await hearth.flush();
    expect(sizes).toEqual([500, 500, 200]);
    expect(await storedEvents(dbName)).toHaveLength(1_200);
  });

  it('writes on its own after the flush interval', async () => {
    const { hearth, dbName } = setup({ consent: 'opt-out', flushIntervalMs: 20 });
    hearth.track(view('timer'));
    await hearth.ready;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect((await storedEvents(dbName)).map((e) => e.itemIds[0])).toEqual(['timer']);
  });

  it('applies retention at idle time, under the maintenance lock', async () => {
    const idle: (() => void)[] = [];
    const now = Date.now();
    const { hearth, dbName } = setup({ consent: 'opt-out', retention: { maxAgeDays: 30 } }, { scheduleIdle: (fn) => (idle.push(fn), () => undefined) });
    await hearth.ready;
    hearth.track({ ...view('too-old'), timestamp: now - 40 * 86_400_000 });
    hearth.track({ ...view('recent'), timestamp: now - 86_400_000 });
    await hearth.flush();
    expect(idle).toHaveLength(1);
    idle[0]!();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await storedEvents(dbName)).map((e) => e.itemIds[0])).toEqual(['recent']);
  });

  it('throws invalid_event for a malformed event and stores nothing of it', async () => {
    const { hearth, dbName } = setup({ consent: 'opt-out' });
    expect(() => hearth.track({ type: 'add_to_cart', items: [{ item_id: 'a', quantity: -2 }] })).toThrow(/quantity/);
    try {
      hearth.track({ type: 'add2cart' } as never);
    } catch (error) {
      expect(hasErrorCode(error, 'invalid_event')).toBe(true);
    }
    await hearth.flush();
    expect(await storedEvents(dbName)).toHaveLength(0);
  });

  it('opt-in: writes nothing before grant, then replays the held events in order', async () => {
    const { hearth, dbName } = setup();
    const seen: string[] = [];
    hearth.on('event', (event) => seen.push(event.itemIds[0] ?? event.type));
    hearth.track(view('before-1'));
    await hearth.ready;
    hearth.track(view('before-2'));
    await hearth.flush();
    expect(await storedEvents(dbName)).toHaveLength(0);
    expect(hearth.consent.get()).toEqual({ personalise: false, contribute: false, updatedAt: null });
    await hearth.consent.grant(['personalise']);
    hearth.track(view('after'));
    await hearth.flush();
    expect((await storedEvents(dbName)).map((e) => e.itemIds[0])).toEqual(['before-1', 'before-2', 'after']);
    expect(seen).toEqual(['before-1', 'before-2', 'after']);
  });

  it('a grant before the store is ready applies, and the held events are written', async () => {
    const { hearth, dbName } = setup();
    hearth.track(view('early'));
    const granted = hearth.consent.grant();
    await granted;
    await hearth.flush();
    expect((await storedEvents(dbName)).map((e) => e.itemIds[0])).toEqual(['early']);
  });

  it('revoke("personalise") stops writing and drops what waits to be written', async () => {
    const { hearth, dbName } = setup({ consent: 'opt-out' });
    await hearth.ready;
    hearth.track(view('kept'));
    await hearth.flush();
    hearth.track(view('dropped'));
    await hearth.consent.revoke('personalise');
    hearth.track(view('not-written'));
    await hearth.flush();
    expect((await storedEvents(dbName)).map((e) => e.itemIds[0])).toEqual(['kept']);
    expect(hearth.consent.get().personalise).toBe(false);
  });

  it('persists consent and the session, so a reload continues both', async () => {
    const first = setup();
    await first.hearth.consent.grant(['personalise']);
    first.hearth.track(view('page-1'));
    await first.hearth.flush();
    first.hearth.destroy();
    const second = setup({ dbName: first.dbName });
    await second.hearth.ready;
    expect(second.hearth.consent.get()).toMatchObject({ personalise: true, contribute: false });
    second.hearth.track(view('page-2'));
    await second.hearth.flush();
    const events = await storedEvents(first.dbName);
    expect(events.map((e) => e.itemIds[0])).toEqual(['page-1', 'page-2']);
    expect(events[0]!.session).toBe(events[1]!.session);
  });

  it('starts a new session after 30 minutes without events', async () => {
    let now = 1_000_000;
    const { hearth, dbName } = setup({ consent: 'opt-out' }, { now: () => now });
    await hearth.ready;
    hearth.track(view('a'));
    now += 29 * 60_000;
    hearth.track(view('b'));
    now += 31 * 60_000;
    hearth.track(view('c'));
    await hearth.flush();
    const [a, b, c] = await storedEvents(dbName);
    expect(a!.session).toBe(b!.session);
    expect(c!.session).not.toBe(b!.session);
  });

  it('Global Privacy Control switches contribute off', async () => {
    const { hearth } = setup({ consent: 'opt-out' }, { gpc: () => true });
    await hearth.consent.grant();
    expect(hearth.consent.get()).toMatchObject({ personalise: true, contribute: false });
  });

  it('forwards engine calls with the unflushed events as recent, after checking arguments', async () => {
    const { hearth, engine } = setup({ consent: 'opt-out' });
    await hearth.ready;
    hearth.track(view('fresh'));
    await hearth.recommend({ k: 4, filter: { inStock: true } });
    const call = engine.calls.find((c) => c.name === 'recommend')!;
    expect(call.args[0]).toMatchObject({ k: 4, filter: { inStock: true } });
    expect((call.args[1] as StoredEvent[]).map((e) => e.itemIds[0])).toEqual(['fresh']);
    await hearth.trending();
    expect(engine.calls.find((c) => c.name === 'trending')!.args[0]).toBe(10);
    for (const bad of [() => hearth.recommend({ k: 0 }), () => hearth.recommend({ k: 101 }), () => hearth.similarItems(''), () => hearth.trending(2.5)]) {
      await expect(bad()).rejects.toMatchObject({ code: 'invalid_argument' });
    }
    await expect(hearth.recommend({ filter: { colour: 'red' } } as never)).rejects.toThrow(/Unknown filter field "colour"/);
    expect(engine.calls.filter((c) => c.name === 'recommend')).toHaveLength(1);
  });

  it('passes no recent events to the engine without the personalise scope', async () => {
    const { hearth, engine } = setup();
    await hearth.ready;
    hearth.track(view('private'));
    await hearth.intent();
    expect(engine.calls.find((c) => c.name === 'intent')!.args[0]).toEqual([]);
  });

  it('recentlyViewed: newest first, distinct, with catalog entries', async () => {
    const { hearth } = setup({ consent: 'opt-out', catalog: [{ id: 'a', title: 'Alpha', inStock: true }] });
    await hearth.ready;
    hearth.track(view('a'));
    hearth.track(view('b'));
    await hearth.flush();
    hearth.track({ type: 'select_item', items: [{ item_id: 'a' }] });
    hearth.track({ type: 'add_to_cart', items: [{ item_id: 'z' }] });
    const recent = await hearth.recentlyViewed(5);
    expect(recent.map((r) => r.itemId)).toEqual(['a', 'b']);
    expect(recent[0]).toMatchObject({ source: 'catalog', score: 1, item: { title: 'Alpha' } });
    expect(recent[1]!.score).toBe(0.5);
  });

  it('setCatalog validates, stores and tells the engine', async () => {
    const { hearth, engine } = setup();
    await expect(hearth.setCatalog([{ id: '', title: 'x' }] as never)).rejects.toMatchObject({ code: 'invalid_catalog' });
    await hearth.engine.info(); // the engine starts lazily (at once only in a browser)
    await hearth.setCatalog([{ id: 'a', title: 'A', inStock: true }]);
    expect(engine.calls.some((c) => c.name === 'catalogChanged')).toBe(true);
    expect((await hearth.exportData()).catalog).toEqual([{ id: 'a', title: 'A', inStock: true }]);
  });

  it('exportData returns what is stored', async () => {
    const { hearth } = setup({ consent: 'opt-out' });
    hearth.track(view('x'));
    const data = await hearth.exportData();
    expect(data.events.map((e) => e.itemIds[0])).toEqual(['x']);
    expect(data.meta).toHaveProperty('tracker.session');
  });

  it('forget() resets the engine first, deletes the database and writes nothing afterwards', async () => {
    const { hearth, engine, dbName } = setup({ consent: 'opt-out' });
    hearth.track(view('x'));
    await hearth.flush();
    await hearth.engine.info();
    const order: string[] = [];
    const reset = engine.reset;
    engine.reset = async () => {
      order.push('engine.reset');
      expect((await indexedDB.databases()).some((db) => db.name === dbName)).toBe(true);
      return reset();
    };
    await hearth.forget();
    order.push('forgotten');
    expect(order).toEqual(['engine.reset', 'forgotten']);
    expect((await indexedDB.databases()).some((db) => db.name === dbName)).toBe(false);
    hearth.track(view('after-forget'));
    await hearth.flush();
    expect((await indexedDB.databases()).some((db) => db.name === dbName)).toBe(false);
    expect(hearth.consent.get().updatedAt).toBeNull();
  });

  it("a decision in one tab applies at once in the shop's other tabs", async () => {
    const a = setup();
    const b = setup({ dbName: a.dbName });
    await Promise.all([a.hearth.ready, b.hearth.ready]);
    b.hearth.track(view('held-in-b'));
    await a.hearth.consent.grant(['personalise']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(b.hearth.consent.get().personalise).toBe(true);
    await b.hearth.flush();
    expect((await storedEvents(a.dbName)).map((e) => e.itemIds[0])).toEqual(['held-in-b']);
    await a.hearth.consent.revoke('personalise');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(b.hearth.consent.get().personalise).toBe(false);
  });

  it('a new personalise grant after forget() persists again', async () => {
    const { hearth, dbName } = setup();
    await hearth.consent.grant();
    hearth.track(view('before'));
    await hearth.flush();
    await hearth.forget();
    hearth.track(view('held'));
    await hearth.consent.grant(['personalise']);
    hearth.track(view('after'));
    await hearth.flush();
    expect((await storedEvents(dbName)).map((e) => e.itemIds[0])).toEqual(['held', 'after']);
    expect((await hearth.exportData()).meta).toHaveProperty('consent');
  });

  it("stops writing (and does not recreate the database) after another tab's forget()", async () => {
    const a = setup({ consent: 'opt-out' });
    await a.hearth.ready;
    a.hearth.track(view('a1'));
    await a.hearth.flush();
    const b = setup({ consent: 'opt-out', dbName: a.dbName });
    await b.hearth.ready;
    await b.hearth.forget();
    a.hearth.track(view('a2'));
    await a.hearth.flush();
    expect((await indexedDB.databases()).some((db) => db.name === a.dbName)).toBe(false);
  });

  it('keeps working in memory when the runtime cannot load', async () => {
    const { hearth } = setup({ consent: 'opt-out' }, { loadRuntime: () => Promise.reject(new Error('404')) });
    const seen: StoredEvent[] = [];
    hearth.on('event', (e) => seen.push(e));
    hearth.track(view('m'));
    await hearth.ready;
    await hearth.flush();
    expect(seen).toHaveLength(1);
    await expect(hearth.recommend()).rejects.toMatchObject({ code: 'storage_unavailable' });
  });

  it('keeps working when IndexedDB fails, and hands the in-memory events to the engine', async () => {
    const broken = {
      open: () => {
        throw new Error('SecurityError');
      },
    } as unknown as IDBFactory;
    const { hearth, engine } = setup({ consent: 'opt-out' }, { parts: { openStore: (o) => openStore({ ...o, indexedDB: broken }) } });
    hearth.track(view('mem-1'));
    await hearth.flush();
    hearth.track(view('mem-2'));
    await hearth.recommend();
    const recent = engine.calls.find((c) => c.name === 'recommend')!.args[1] as StoredEvent[];
    expect(recent.map((e) => e.itemIds[0])).toEqual(['mem-1', 'mem-2']);
  });

  it('destroy() writes what is pending and ignores later events', async () => {
    const { hearth, dbName } = setup({ consent: 'opt-out' });
    await hearth.ready;
    hearth.track(view('last'));
    hearth.destroy();
    hearth.track(view('ignored'));
    expect(() => hearth.track({ type: 'nope' } as never)).toThrow(/Unknown event type/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await storedEvents(dbName)).map((e) => e.itemIds[0])).toEqual(['last']);
    await expect(hearth.recommend()).rejects.toMatchObject({ code: 'not_initialised' });
  });
});
