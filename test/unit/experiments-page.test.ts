import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createHearth } from '../../src/hearth/create-hearth.js';
import { createRuntime } from '../../src/hearth/runtime-session.js';
import { openStore } from '../../src/store/open-store.js';
import { withMaintenanceLock } from '../../src/store/maintenance-lock.js';
import { refreshCatalogFromFeed } from '../../src/store/catalog-feed.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { fallbackEngine } from '../../src/hearth/fallback-engine.js';
import { silentLogger } from '../../src/shared/logger.js';
import { seededRandom } from '../../src/shared/random.js';
import { hasErrorCode } from '../../src/protocol/errors.js';
import { pageExperiments } from '../../src/hearth/page-experiments.js';
import { EXPERIMENTS_META_KEY, PRIORS_META_KEY, type ExperimentsMeta } from '../../src/experiments/device-records.js';
import type { HearthOptions } from '../../src/hearth/config.js';
import type { Hearth } from '../../src/hearth/types.js';
import type { HearthStore } from '../../src/store/types.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';
import { event } from './experiment-fixtures.js';

let counter = 0;
const live: Hearth[] = [];

/** A Hearth instance on `dbName` (fake-indexeddb); two with one name are two tabs of one shop. */
function tab(dbName: string, options: HearthOptions = {}, fetches: string[] = []): Hearth {
  const runtime = createRuntime({ openStore, withMaintenanceLock, refreshCatalogFromFeed, createEngineClient: () => fallbackEngine('test') });
  const hearth = createHearth(
    { consent: 'opt-out', flushIntervalMs: 10_000, ...options, dbName },
    {
      loadRuntime: async () => runtime,
      window: null,
      gpc: () => false,
      scheduleIdle: () => () => undefined,
      fetch: (async (url: string) => {
        fetches.push(String(url));
        return new Response('{}');
      }) as unknown as typeof fetch,
    },
  );
  live.push(hearth);
  return hearth;
}

const freshDb = (): string => `hearth-exp-page-${++counter}-${Date.now()}`;

async function storedMeta(dbName: string): Promise<ExperimentsMeta | undefined> {
  const store = await openStore({ name: dbName, logger: silentLogger });
  const meta = await store.getMeta<ExperimentsMeta>(EXPERIMENTS_META_KEY);
  store.close();
  return meta;
}

/** A memory store that says it persists, so `pageExperiments` enrols devices without IndexedDB. */
function persistentMemory(): HearthStore {
  const store = new MemoryStore();
  return new Proxy(store, { get: (target, key) => (key === 'persistent' ? true : Reflect.get(target, key, target)) }) as unknown as HearthStore;
}

afterEach(() => {
  for (const hearth of live.splice(0)) hearth.destroy();
});

describe('hearth.experiment()', () => {
  it('assigns variants uniformly (and by weight) from the CSPRNG', async () => {
    const counts = { equal: [0, 0, 0], weighted: [0, 0] };
    const n = 3_000;
    for (let i = 0; i < n; i++) {
      const page = pageExperiments({ store: persistentMemory, canWrite: () => true, unwritten: () => [], now: Date.now, logger: silentLogger });
      const a = await page.experiment('three', { variants: ['a', 'b', 'c'] });
      counts.equal[['a', 'b', 'c'].indexOf(a.variant)]!++;
      const b = await page.experiment('weighted', { variants: ['x', 'y'], weights: [1, 3] });
      counts.weighted[b.variant === 'x' ? 0 : 1]!++;
    }
    // χ² with 2 degrees of freedom: 13.8 is its 99.9 % quantile.
    const chi2 = counts.equal.reduce((s, c) => s + (c - n / 3) ** 2 / (n / 3), 0);
    expect(chi2).toBeLessThan(13.8);
    // 1:3 within 4 standard deviations.
    expect(Math.abs(counts.weighted[1]! - 0.75 * n)).toBeLessThan(4 * Math.sqrt(n * 0.75 * 0.25));
  });

  it('is sticky across reloads and tabs: two tabs assigning at once agree, a reload keeps it', async () => {
    for (let trial = 0; trial < 6; trial++) {
      const dbName = freshDb();
      const [one, two] = [tab(dbName), tab(dbName)];
      const options = { variants: ['model', 'bestsellers', 'editorial'] };
      const [a, b] = await Promise.all([one.experiment('home-recs', options), two.experiment('home-recs', options)]);
      expect(a.enrolled && b.enrolled).toBe(true);
      expect(b.variant).toBe(a.variant);
      one.destroy();
      two.destroy();
      const reloaded = tab(dbName);
      expect((await reloaded.experiment('home-recs', { ...options, weights: [1, 1, 50] })).variant).toBe(a.variant);
    }
  });

  it('stores the assignment with Hearth’s data, records the first exposure once, and forget() erases it', async () => {
    const dbName = freshDb();
    const fetches: string[] = [];
    const hearth = tab(dbName, {}, fetches);
    const test = await hearth.experiment('home-recs', { variants: ['model', 'bestsellers'], metrics: ['add_to_cart', 'purchase'] });
    expect((await storedMeta(dbName))?.records['home-recs']).toMatchObject({ kind: 'experiment', variant: test.variant, exposedAt: null });
    await test.exposed();
    const exposedAt = (await storedMeta(dbName))?.records['home-recs'];
    expect(exposedAt?.kind === 'experiment' && exposedAt.exposedAt).toBeGreaterThan(0);
    await test.exposed();
    expect((await storedMeta(dbName))?.records['home-recs']).toEqual(exposedAt);

    hearth.track({ type: 'add_to_cart', items: [{ item_id: 'sku-1', quantity: 1 }] });
    await hearth.flush();
    const [view] = await hearth.experiments.list();
    expect(view).toMatchObject({ name: 'home-recs', kind: 'experiment', variant: test.variant, outcome: { add_to_cart: true, purchase: false }, report: null });
    expect((await hearth.exportData()).meta[EXPERIMENTS_META_KEY]).toBeDefined();

    await hearth.forget();
    expect(await storedMeta(dbName)).toBeUndefined();
    // Nothing about the experiment was sent anywhere.
    expect(fetches).toEqual([]);
  });

  it('shows the control and stores nothing without the personalise scope', async () => {
    const dbName = freshDb();
    const hearth = tab(dbName, { consent: 'opt-in' });
    const test = await hearth.experiment('home-recs', { variants: ['model', 'bestsellers'] });
    expect(test).toMatchObject({ variant: 'model', enrolled: false });
    await test.exposed();
    expect(await storedMeta(dbName)).toBeUndefined();
    expect(await hearth.experiments.report()).toMatchObject({ status: 'skipped' });
  });

  it('rejects bad options with invalid_argument saying what is valid, and never otherwise', async () => {
    const hearth = tab(freshDb());
    const bad: [unknown, unknown, RegExp][] = [
      ['home recs', { variants: ['a', 'b'] }, /experiment name/],
      ['x', { variants: ['a'] }, /2–8 names/],
      ['x', { variants: ['a', 'a'] }, /distinct/],
      ['x', { variants: ['a', 'b'], weights: [1, -1] }, /weight/],
      ['x', { variants: ['a', 'b'], metrics: ['add2cart'] }, /expected one of: select_item, add_to_cart/],
      ['x', { variants: ['a', 'b'], colour: 'red' }, /valid options: variants, weights, metrics/],
    ];
    for (const [name, options, message] of bad) {
      const error = await hearth.experiment(name as string, options as never).catch((e: unknown) => e);
      expect(hasErrorCode(error, 'invalid_argument')).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
    await (await hearth.optimise('w', { arms: ['a', 'b'], reward: 'select_item' })).exposed();
    const clash = await hearth.experiment('w', { variants: ['a', 'b'] }).catch((e: unknown) => e);
    expect(hasErrorCode(clash, 'invalid_argument')).toBe(true);
    expect((clash as Error).message).toMatch(/already an optimise\(\) name/);
  });

  it('never rejects for storage trouble: the device is then not enrolled', async () => {
    const store = persistentMemory();
    store.updateMeta = async () => {
      throw new Error('QuotaExceededError');
    };
    const page = pageExperiments({ store: () => store, canWrite: () => true, unwritten: () => [], now: Date.now, logger: silentLogger });
    expect(await page.experiment('home-recs', { variants: ['model', 'bestsellers'] })).toMatchObject({ variant: 'model', enrolled: false });
    const choice = await page.optimise('widget', { arms: ['a', 'b'], reward: 'select_item' });
    await expect(choice.exposed()).resolves.toBeUndefined();
  });
});

describe('hearth.optimise()', () => {
  it('learns from this device’s rewards: showings followed by the reward become successes', async () => {
    const store = persistentMemory();
    let now = 1_000_000;
    const pending: StoredEvent[] = [];
    const page = pageExperiments({ store: () => store, canWrite: () => true, unwritten: () => pending, now: () => now, logger: silentLogger, random: seededRandom(7) });
    const options = { arms: ['carousel', 'grid'], reward: 'select_item' as const, windowMinutes: 5 };
    for (let i = 0; i < 60; i++) {
      const choice = await page.optimise('widget', options);
      expect(choice.learning).toBe(true);
      await choice.exposed();
      // The grid is always clicked, the carousel never.
      if (choice.arm === 'grid') await store.appendEvents([event('select_item', now + 1000)]);
      now += 10 * 60_000;
    }
    await page.optimise('widget', options);
    const record = (await store.getMeta<ExperimentsMeta>(EXPERIMENTS_META_KEY))?.records.widget;
    expect(record?.kind).toBe('bandit');
    if (record?.kind !== 'bandit') return;
    const grid = record.local.grid ?? [0, 0];
    const carousel = record.local.carousel ?? [0, 0];
    expect(grid[1]).toBe(0);
    expect(carousel[0]).toBe(0);
    // Thompson sampling moved to the grid after a few failures of the carousel.
    expect(grid[0]).toBeGreaterThan(45);
    expect(record.first).toMatchObject({ rewarded: record.first?.arm === 'grid' });
  });

  it('starts from the shop-wide priors the worker fetched', async () => {
    const store = persistentMemory();
    await store.setMeta(PRIORS_META_KEY, { widget: { carousel: [1, 49], grid: [40, 10] } });
    const page = pageExperiments({ store: () => store, canWrite: () => true, unwritten: () => [], now: Date.now, logger: silentLogger, random: seededRandom(3) });
    let grid = 0;
    for (let i = 0; i < 200; i++) if ((await page.optimise('widget', { arms: ['carousel', 'grid'], reward: 'add_to_cart' })).arm === 'grid') grid++;
    expect(grid).toBeGreaterThan(195);
  });

  it('does not learn without the personalise scope, but still chooses an arm', async () => {
    const dbName = freshDb();
    const hearth = tab(dbName, { consent: 'opt-in' });
    const choice = await hearth.optimise('widget', { arms: ['carousel', 'grid'], reward: 'select_item' });
    expect(['carousel', 'grid']).toContain(choice.arm);
    expect(choice.learning).toBe(false);
    await choice.exposed();
    expect(await storedMeta(dbName)).toBeUndefined();
  });

  it('rejects a reward that is not an event Hearth tracks', async () => {
    const hearth = tab(freshDb());
    const error = await hearth.optimise('widget', { arms: ['a', 'b'], reward: 'click' as never }).catch((e: unknown) => e);
    expect(hasErrorCode(error, 'invalid_argument')).toBe(true);
    expect((error as Error).message).toMatch(/reward must be one of: select_item, add_to_cart, begin_checkout, purchase/);
  });
});
