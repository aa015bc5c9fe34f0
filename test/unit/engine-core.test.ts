import 'fake-indexeddb/auto';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { openStore } from '../../src/store/open-store.js';
import type { CatalogItem, ConsentState, HearthStore } from '../../src/store/types.js';
import type { EventType, StoredEvent } from '../../src/protocol/event-types.js';
import type { Recommendation, RecommendOptions } from '../../src/protocol/engine-types.js';
import { EngineCore } from '../../src/worker/engine-core.js';
import { errorCodeOf } from '../../src/protocol/errors.js';
import { recordingLogger, uniqueName } from '../fixtures/store/helpers.js';
import type { RecommenderConfig } from '../../src/model/contract.js';
import { createRecommender } from '../../src/model/sasrec-recommender.js';
import { createIntentModel } from '../../src/model/intent-model.js';
import { saveModelArtifacts, type FetchLike } from '../../src/model/model-artifacts.js';

const tiny: Partial<RecommenderConfig> = { dims: 16, blocks: 1, heads: 2, maxLen: 12, dropout: 0, attributeBuckets: 32, negatives: 0, learningRate: 0.02 };
const granted: ConsentState = { personalise: true, contribute: false, updatedAt: 1 };
const CATEGORIES = ['shoes', 'hats', 'bags'];

function catalog(n = 30): CatalogItem[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `p${i}`,
    title: `Product ${i}`,
    category: CATEGORIES[i % 3],
    brand: i % 2 ? 'acme' : 'zenith',
    price: 10 + i,
    inStock: i !== 7,
  }));
}

function event(time: number, id: string, type: EventType = 'view_item', session = 's1'): StoredEvent {
  return { eventId: `evt-${type}-${time}-${id}-${session}`, type, time, session, items: [{ item_id: id }], itemIds: [id] };
}

/** A shopper who keeps browsing p0 → p1 → … → p9 → p0 …: the next item is always the successor. */
function cyclicEvents(rounds = 8, start = 1_000): StoredEvent[] {
  const out: StoredEvent[] = [];
  let t = start;
  for (let r = 0; r < rounds; r++) for (let i = 0; i < 10; i++) out.push(event((t += 1000), `p${i}`, 'view_item', `past-${r}`));
  return out;
}

const stores: HearthStore[] = [];
async function newStore(name = uniqueName('engine')): Promise<HearthStore> {
  const store = await openStore({ name, logger: recordingLogger() });
  stores.push(store);
  return store;
}

afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

describe('EngineCore on wasm', () => {
  beforeAll(async () => {
    await setupNodeRuntime('wasm');
  });

  test('answers a new shopper with in-stock catalog items, never an error', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    const core = new EngineCore({ store, options: { recommender: tiny } });
    const recs = await core.recommend({ k: 10 }, [], granted);
    expect(recs).toHaveLength(10);
    expect(recs.every((r) => r.source === 'catalog' && r.item?.inStock)).toBe(true);
    expect(recs.map((r) => r.itemId)).not.toContain('p7');
    const trending = await core.trending(5, [], granted);
    expect(trending).toHaveLength(5);
    await core.close();
  });

  test('trending() ranks by the starting model’s shop-wide shares, nudged by this shopper’s activity, and keeps them across a vocabulary change', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    // A starting model (as hearth-train writes it) whose log liked p20 most, then p11, then p5.
    const popularity: Record<string, number> = { p20: 0.5, p11: 0.3, p5: 0.2 };
    const items = catalog().map(({ id, category, brand, price }) => ({ id, category, brand, price, ...(popularity[id] ? { popularity: popularity[id] } : {}) }));
    const start = createRecommender({ items, config: tiny, seed: 1 });
    const { modelJson, weightData } = saveModelArtifacts(start);
    start.dispose();
    const served: FetchLike = async (url) => ({
      ok: true,
      status: 200,
      json: async () => modelJson,
      arrayBuffer: async () => (url.endsWith('weights.bin') ? weightData.slice().buffer : new ArrayBuffer(0)),
    });
    const core = new EngineCore({ store, options: { recommender: tiny, modelUrl: 'https://shop.example/model/model.json', autoTrain: false }, fetch: served as never });
    const fresh = await core.trending(5, [], granted);
    expect(fresh.slice(0, 3).map((r) => [r.itemId, r.source])).toEqual([
      ['p20', 'trending'],
      ['p11', 'trending'],
      ['p5', 'trending'],
    ]);
    expect(fresh.slice(3).every((r) => r.source === 'catalog')).toBe(true);
    // A shopper's own views count, but a handful do not take over the shop-wide list.
    const now = Date.now();
    const mine = [event(now - 2000, 'p3'), event(now - 1000, 'p3'), event(now, 'p3')];
    const nudged = await core.trending(5, mine, granted);
    expect(nudged.map((r) => r.itemId).slice(0, 4)).toEqual(['p20', 'p11', 'p5', 'p3']);
    // The catalog grows: the vocabulary is extended and the shares survive.
    await store.replaceCatalog([...catalog(), { id: 'new-1', title: 'New', category: 'hats', inStock: true }]);
    core.catalogChanged();
    await core.recommend({ k: 3 }, mine, granted);
    expect((await core.trending(2, [], granted)).map((r) => r.itemId)).toEqual(['p20', 'p11']);
    await core.close();
  });

  test('intent() answers from a starting intent model (engine.intentModelUrl) before the device trains; a wrong kind of model is refused', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    const intent = createIntentModel({ items: catalog().map(({ id, category }) => ({ id, category })), seed: 3 });
    const recommender = createRecommender({ items: catalog().map(({ id }) => ({ id })), config: tiny, seed: 1 });
    const files = new Map<string, ReturnType<typeof saveModelArtifacts>>([
      ['https://shop.example/intent/model.json', saveModelArtifacts(intent)],
      ['https://shop.example/rec/model.json', saveModelArtifacts(recommender)],
    ]);
    intent.dispose();
    recommender.dispose();
    const served: FetchLike = async (url) => {
      const dir = url.slice(0, url.lastIndexOf('/') + 1);
      const file = files.get(`${dir}model.json`);
      return { ok: !!file, status: file ? 200 : 404, json: async () => file?.modelJson, arrayBuffer: async () => (file ? file.weightData.slice().buffer : new ArrayBuffer(0)) };
    };
    const session = [event(Date.now() - 2000, 'p1', 'view_item'), event(Date.now() - 1000, 'p2', 'add_to_cart')];
    const logger = recordingLogger();
    const warm = new EngineCore({ store, logger, options: { recommender: tiny, autoTrain: false, intentModelUrl: 'https://shop.example/intent/model.json' }, fetch: served as never });
    const answer = await warm.intent(session, granted);
    expect(answer.source).toBe('model');
    expect(answer.because.length).toBeGreaterThan(0);
    // The session already had its add-to-cart: certain. A purchase is the model's estimate.
    expect(answer.cart).toBe(1);
    expect(answer.purchase).toBeGreaterThan(0);
    expect(answer.purchase).toBeLessThan(1);
    const browsing = await warm.intent([event(Date.now() - 1000, 'p1', 'view_item', 's9')], granted);
    expect(browsing.source).toBe('model');
    expect(browsing.cart).toBeLessThan(1);
    expect(warm.info().parameters.intent).toBeGreaterThan(0);
    await warm.close();
    const wrong = new EngineCore({ store, logger, options: { recommender: tiny, autoTrain: false, intentModelUrl: 'https://shop.example/rec/model.json' }, fetch: served as never });
    expect((await wrong.intent(session, granted)).source).toBe('heuristic');
    expect(logger.warnings.map((w) => w.message).join(' ')).toMatch(/holds a recommender model, not an intent model/);
    await wrong.close();
  });

  test('rejects bad input with typed errors that say what was wrong', async () => {
    const store = await newStore();
    const empty = new EngineCore({ store, options: { recommender: tiny } });
    await expect(empty.recommend({ k: 5 }, [], granted)).rejects.toMatchObject({ code: 'invalid_catalog' });
    await store.replaceCatalog(catalog());
    empty.catalogChanged();
    for (const k of [0, 101, 2.5, '3']) {
      const error = await empty.recommend({ k: k as number }, [], granted).catch((e: unknown) => e);
      expect(errorCodeOf(error)).toBe('invalid_argument');
      expect(String((error as Error).message)).toMatch(/1 to 100/);
    }
    await expect(empty.recommend({ filter: { categories: 'shoes' as unknown as string[] } }, [], granted)).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(empty.recommend({ filter: { minPrice: 'cheap' as unknown as number } }, [], granted)).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(empty.recommend({ filter: { colour: 'red' } as never }, [], granted)).rejects.toThrow(/expected one of: inStock/);
    await expect(empty.similarItems('nope', 3)).rejects.toMatchObject({ code: 'unknown_item' });
    await expect(empty.similarItems('p1', 0)).rejects.toMatchObject({ code: 'invalid_argument' });
    await empty.close();
  });

  test('before training, recommends items like the history (same category) and explains with it', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    const core = new EngineCore({ store, options: { recommender: tiny } });
    const recs = await core.recommend({ k: 3 }, [event(1, 'p3')], granted);
    expect(recs[0]?.source).toBe('similar');
    expect(recs.every((r) => r.item?.category === 'shoes')).toBe(true);
    expect(recs[0]?.because[0]).toMatchObject({ itemId: 'p3', type: 'view_item' });
    await core.close();
  });

  test('trains on the store’s events, then recommends the learned next item with because ⊆ history; filters, exclusions and boosts apply', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    await store.appendEvents([...cyclicEvents(), event(999_000, 'p20', 'purchase', 'sx')]);
    const progress: number[] = [];
    const core = new EngineCore({ store, options: { recommender: tiny, trainEpochs: 40 }, onProgress: (p) => progress.push(p.fraction) });
    const result = await core.train(granted);
    expect(result.recommenderLoss).toBeGreaterThan(0);
    expect(result.intentLoss).not.toBeNull();
    expect(progress.length).toBeGreaterThan(0);
    expect(core.info().lastTrainedAt).not.toBeNull();

    const history = [event(2_000_000, 'p2'), event(2_000_001, 'p3'), event(2_000_002, 'p4')];
    const recs = await core.recommend({ k: 5 }, history, granted);
    expect(recs[0]).toMatchObject({ itemId: 'p5', source: 'model' });
    const stored = await store.readEvents();
    const historyIds = new Set([...stored, ...history].map((e) => e.itemIds[0]));
    for (const r of recs) for (const b of r.because) expect(historyIds.has(b.itemId)).toBe(true);
    expect(recs[0]!.because.length).toBeGreaterThan(0);
    expect(recs.map((r) => r.itemId)).not.toContain('p20'); // purchased
    // Unexplained: the same picks and scores, with no reasons.
    const unexplained = await core.recommend({ k: 5, explain: false }, history, granted);
    expect(unexplained.map((r) => r.itemId)).toEqual(recs.map((r) => r.itemId));
    unexplained.forEach((r, i) => expect(r.score).toBeCloseTo((recs[i] as Recommendation).score, 5));
    expect(unexplained.every((r) => r.because.length === 0)).toBe(true);
    await expect(core.recommend({ k: 5, explain: 'no' } as unknown as RecommendOptions, history, granted)).rejects.toMatchObject({ code: 'invalid_argument' });

    const excluded = await core.recommend({ k: 5, exclude: ['p5'] }, history, granted);
    expect(excluded.map((r) => r.itemId)).not.toContain('p5');
    const withPurchased = await core.recommend({ k: 30, excludePurchased: false }, history, granted);
    expect(withPurchased.map((r) => r.itemId)).toContain('p20');
    const hats = await core.recommend({ k: 5, filter: { categories: ['hats'], maxPrice: 30 } }, history, granted);
    expect(hats.length).toBeGreaterThan(0);
    expect(hats.every((r) => r.item?.category === 'hats' && (r.item.price ?? 0) <= 30)).toBe(true);
    const outOfStock = await core.recommend({ k: 30 }, history, granted);
    expect(outOfStock.map((r) => r.itemId)).not.toContain('p7');
    // A boost multiplies the served probability: enough of it lifts the fourth item to the top.
    const plain = await core.recommend({ k: 5 }, history, granted);
    const fourth = plain[3] as Recommendation;
    const factor = (2 * (plain[0] as Recommendation).score) / fourth.score;
    const boosted = await core.recommend({ k: 5, boost: [{ factor, itemIds: [fourth.itemId] }] }, history, granted);
    expect(boosted[0]?.itemId).toBe(fourth.itemId);

    // Real time: one more event in `recent` changes the answer.
    const later = await core.recommend({ k: 1 }, [...history, event(2_000_003, 'p5')], granted);
    expect(later[0]?.itemId).toBe('p6');
    // context.itemId counts as the latest view and is not recommended back.
    const onPage = await core.recommend({ k: 1, context: { itemId: 'p8' } }, history, granted);
    expect(onPage[0]?.itemId).toBe('p9');

    // Events written to the store after a first answer are read on the next one.
    await core.recommend({ k: 1 }, [], granted);
    await store.appendEvents([event(3_000_000, 'p6'), event(3_000_001, 'p7')]);
    expect((await core.recommend({ k: 1 }, [], granted))[0]?.itemId).toBe('p8');

    const similar = await core.similarItems('p1', 4);
    expect(similar).toHaveLength(4);
    expect(similar.map((r) => r.itemId)).not.toContain('p1');
    await core.close();
  });

  test('restores its checkpoint on start and discards a corrupt one without crashing', async () => {
    const name = uniqueName('engine-ckpt');
    const store = await newStore(name);
    await store.replaceCatalog(catalog());
    await store.appendEvents(cyclicEvents(4));
    const first = new EngineCore({ store, options: { recommender: tiny, trainEpochs: 20 } });
    await first.train(granted);
    const before = await first.recommend({ k: 3 }, [event(5e6, 'p2')], granted);
    await first.close();

    const again = await newStore(name);
    const second = new EngineCore({ store: again, options: { recommender: tiny } });
    const after = await second.recommend({ k: 3 }, [event(5e6, 'p2')], granted);
    expect(after.map((r) => r.itemId)).toEqual(before.map((r) => r.itemId));
    expect(after[0]?.source).toBe('model');
    expect(second.info().lastTrainedAt).not.toBeNull();
    await second.close();

    const third = await newStore(name);
    const checkpoint = await third.getCheckpoint('recommender');
    // Incompatible: a table of the wrong shape (what an older layout would leave behind).
    await third.putCheckpoint({ ...checkpoint!, weights: checkpoint!.weights.map((w) => ({ name: w.name, shape: [3], values: new Float32Array(3) })) });
    const logger = recordingLogger();
    const fourth = new EngineCore({ store: third, options: { recommender: tiny }, logger });
    const recs = await fourth.recommend({ k: 3 }, [event(5e6, 'p2')], granted);
    expect(recs).toHaveLength(3);
    expect(recs[0]?.source).not.toBe('model');
    expect(logger.warnings.some((w) => w.key === 'checkpoint-recommender')).toBe(true);
    expect(await third.getCheckpoint('recommender')).toBeUndefined();
    await fourth.close();
  });

  test('grows the vocabulary when the catalog gains items, keeping what it learned', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog(20));
    await store.appendEvents(cyclicEvents(6));
    const core = new EngineCore({ store, options: { recommender: tiny, trainEpochs: 30 } });
    await core.train(granted);
    const history = [event(5e6, 'p3'), event(5e6 + 1, 'p4')];
    expect((await core.recommend({ k: 1 }, history, granted))[0]?.itemId).toBe('p5');
    await store.replaceCatalog([...catalog(20), { id: 'new-1', title: 'New', category: 'shoes', inStock: true }]);
    core.catalogChanged();
    await store.appendEvents([event(4e6, 'new-1')]);
    await core.train(granted);
    expect((await core.recommend({ k: 1 }, history, granted))[0]?.itemId).toBe('p5');
    expect((await core.similarItems('new-1', 3)).length).toBe(3);
    await core.close();
  });

  test('intent: heuristic before training, the model after, with because from the session', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    const core = new EngineCore({ store, options: { recommender: tiny, intent: { dims: 8, heads: 1, maxLen: 10 }, trainEpochs: 3 } });
    const none = await core.intent([], granted);
    expect(none).toMatchObject({ cart: 0, purchase: 0, source: 'heuristic' });
    const session = [event(9e6, 'p1', 'view_item', 'now'), event(9e6 + 1, 'p2', 'view_item', 'now'), event(9e6 + 2, 'p2', 'add_to_wishlist', 'now')];
    const heuristic = await core.intent(session, granted);
    expect(heuristic.source).toBe('heuristic');
    expect(heuristic.cart).toBeGreaterThan(0);
    expect(heuristic.because[0]).toMatchObject({ itemId: 'p2', type: 'add_to_wishlist' });
    await store.appendEvents([...cyclicEvents(3), event(5e5, 'p1', 'add_to_cart', 's1'), event(5e5 + 1, 'p1', 'purchase', 's1')]);
    await core.train(granted);
    const model = await core.intent(session, granted);
    expect(model.source).toBe('model');
    expect(model.cart).toBeGreaterThanOrEqual(0);
    expect(model.cart).toBeLessThanOrEqual(1);
    for (const b of model.because) expect(['p1', 'p2']).toContain(b.itemId);
    await core.close();
  });

  test('without the personalise scope it neither reads history nor trains', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    await store.appendEvents(cyclicEvents(2));
    const core = new EngineCore({ store, options: { recommender: tiny } });
    const denied: ConsentState = { personalise: false, contribute: false, updatedAt: 1 };
    await expect(core.train(denied)).rejects.toMatchObject({ code: 'consent_required' });
    const recs = await core.recommend({ k: 3 }, [event(1, 'p3')], denied);
    expect(recs.every((r) => r.source === 'catalog')).toBe(true);
    await core.close();
  });

  test('idle time trains once enough new events arrived, and not again without new ones', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    await store.appendEvents(cyclicEvents(1).slice(0, 5));
    const core = new EngineCore({ store, options: { recommender: tiny, trainEpochs: 1, trainAfterEvents: 20 } });
    await core.idle(granted);
    expect(core.info().lastTrainedAt).toBeNull();
    await store.appendEvents(cyclicEvents(3, 50_000));
    await core.idle(granted);
    const first = core.info().lastTrainedAt;
    expect(first).not.toBeNull();
    await core.idle(granted);
    expect(core.info().lastTrainedAt).toBe(first);
    const off = new EngineCore({ store, options: { recommender: tiny, autoTrain: false } });
    await store.appendEvents(cyclicEvents(3, 900_000));
    await off.idle(granted);
    expect(off.info().lastTrainedAt).toBe(first);
    await core.close();
  });

  test('training can be cancelled and reports aborted', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    await store.appendEvents(cyclicEvents(8));
    const core = new EngineCore({ store, options: { recommender: tiny, trainEpochs: 500 } });
    const run = core.train(granted);
    setTimeout(() => core.cancelTraining(), 50);
    await expect(run).rejects.toMatchObject({ code: 'aborted' });
    await core.close();
  });

  test('tf.memory().numTensors stays flat across 1,000 recommend() calls', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    await store.appendEvents(cyclicEvents(2));
    const core = new EngineCore({ store, options: { recommender: tiny, trainEpochs: 1 } });
    await core.train(granted);
    await core.recommend({ k: 5 }, [], granted);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) await core.recommend({ k: 5, filter: { categories: ['shoes', 'bags'] } }, [event(9e6 + i, `p${i % 30}`)], granted);
    expect(tf.memory().numTensors).toBe(before);
    await core.close();
  });
});
