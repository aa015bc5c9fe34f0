import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { EngineCore } from '../../src/worker/engine-core.js';
import { openStore } from '../../src/store/index.js';
import { SasRecommender } from '../../src/model/sasrec-recommender.js';
import { ItemNeighbours } from '../../src/model/item-neighbours.js';
import { saveModelArtifacts, type FetchLike } from '../../src/model/model-artifacts.js';
import { seededRandom } from '../../src/model/random.js';
import type { CatalogItem, ConsentState, HearthStore } from '../../src/store/types.js';
import type { EventType, StoredEvent } from '../../src/protocol/event-types.js';
import type { RecommenderConfig } from '../../src/model/contract.js';
import { recordingLogger, uniqueName } from '../fixtures/store/helpers.js';

const granted: ConsentState = { personalise: true, contribute: false, updatedAt: 1 };
const tiny: Partial<RecommenderConfig> = { dims: 16, blocks: 1, heads: 2, maxLen: 12, dropout: 0, attributeBuckets: 32, learningRate: 0.02 };
const catalog = (n = 30): CatalogItem[] => Array.from({ length: n }, (_, i) => ({ id: `p${i}`, title: `Product ${i}`, category: `c${i % 3}`, inStock: true }));
const event = (time: number, id: string, type: EventType = 'view_item', session = 'now'): StoredEvent => ({
  eventId: `${session}:${time}:${type}:${id}`,
  type,
  time,
  session,
  items: [{ item_id: id }],
  itemIds: [id],
});

/** Shoppers browsing along a few "paths" of the catalog: p(i) is usually followed by p(i + 1), sometimes by p(i + 7). */
function pathEvents(sessions: number, seed: number): StoredEvent[] {
  const random = seededRandom(seed);
  const out: StoredEvent[] = [];
  let t = 1_000;
  for (let s = 0; s < sessions; s++) {
    let item = Math.floor(random() * 30);
    for (let i = 0; i < 6; i++) {
      out.push(event((t += 1000), `p${item}`, 'view_item', `past-${s}`));
      item = (item + (random() < 0.7 ? 1 : 7)) % 30;
    }
  }
  return out;
}

const stores: HearthStore[] = [];
async function newStore(): Promise<HearthStore> {
  const store = await openStore({ name: uniqueName('engine-recommend'), logger: recordingLogger() });
  stores.push(store);
  return store;
}
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

describe('recommend() as a shop serves it', () => {
  beforeAll(async () => {
    await setupNodeRuntime('wasm');
  });

  test('leaves out what the shopper just viewed and what is in the cart, unless asked not to', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    await store.appendEvents(pathEvents(150, 1));
    const core = new EngineCore({ store, options: { recommender: tiny, trainEpochs: 15 } });
    await core.train(granted);
    const now = 5e6;
    const recent = [event(now, 'p3'), event(now + 1, 'p4'), event(now + 2, 'p11', 'add_to_cart'), event(now + 3, 'p12'), event(now + 4, 'p12', 'remove_from_cart')];
    const picks = (await core.recommend({ k: 30 }, recent, granted)).map((r) => r.itemId);
    expect(picks).not.toContain('p3');
    expect(picks).not.toContain('p4');
    expect(picks).not.toContain('p11'); // in the cart
    expect(picks).toContain('p5'); // what comes next on the path
    const all = (await core.recommend({ k: 30, excludeSeen: false }, recent, granted)).map((r) => r.itemId);
    expect(all).toContain('p4');
    expect(all).toContain('p11');
    // A view from an earlier session is not "just seen": it can come back.
    const earlier = [event(now - 4e6, 'p5', 'view_item', 'yesterday'), ...recent];
    expect((await core.recommend({ k: 30 }, earlier, granted)).map((r) => r.itemId)).toContain('p5');
    await core.close();
  }, 60_000);

  test('explanations are faithful: removing the top-explained event lowers the item’s score more than removing another one', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    await store.appendEvents(pathEvents(200, 2));
    const core = new EngineCore({ store, options: { recommender: tiny, trainEpochs: 15 } });
    await core.train(granted);
    const random = seededRandom(9);
    let cases = 0;
    let faithful = 0;
    for (let h = 0; h < 6; h++) {
      const history = Array.from({ length: 6 }, (_, i) => event(6e6 + h * 100 + i, `p${Math.floor(random() * 30)}`));
      const scoreWithout = async (removed: number, itemId: string): Promise<number> => {
        const recs = await core.recommend(
          { k: 100, excludeSeen: false },
          history.filter((_, i) => i !== removed),
          granted,
        );
        return recs.find((r) => r.itemId === itemId && r.source === 'model')?.score ?? 0;
      };
      for (const rec of await core.recommend({ k: 5, excludeSeen: false }, history, granted)) {
        const top = rec.because[0];
        if (rec.source !== 'model' || !top) continue;
        const topIndex = history.findIndex((e) => e.itemIds[0] === top.itemId && e.time === top.time);
        const others = history.map((_, i) => i).filter((i) => history[i]?.itemIds[0] !== top.itemId);
        const other = others[Math.floor(random() * others.length)] as number;
        cases++;
        if ((await scoreWithout(topIndex, rec.itemId)) < (await scoreWithout(other, rec.itemId))) faithful++;
      }
    }
    expect(cases).toBeGreaterThanOrEqual(20);
    expect(faithful / cases).toBeGreaterThanOrEqual(0.8);
    await core.close();
  }, 120_000);

  test('a starting model’s neighbours shape recommendations and similarItems(), and survive a catalog change', async () => {
    const store = await newStore();
    await store.replaceCatalog(catalog());
    // An untrained model that knows only the shop's co-visitation: p1 is bought with p2 and p3.
    const items = catalog().map(({ id }) => ({ id }));
    const model = new SasRecommender({ items, config: { ...tiny, neighbourWeight: 0.9 }, seed: 1 });
    const rows = (ids: string[]): Int32Array => model.rowsOf(ids);
    model.setNeighbours(ItemNeighbours.count([rows(['p1', 'p2']), rows(['p1', 'p2']), rows(['p1', 'p3'])], items.length + 1));
    const { modelJson, weightData, tableData } = saveModelArtifacts(model);
    model.dispose();
    const served: FetchLike = async (url) => ({
      ok: true,
      status: 200,
      json: async () => modelJson,
      arrayBuffer: async () => (url.endsWith('weights.bin') ? weightData : (tableData as Uint8Array)).slice().buffer,
    });
    const core = new EngineCore({ store, options: { recommender: tiny, modelUrl: 'https://shop.example/model/model.json', autoTrain: false }, fetch: served as never });
    expect((await core.similarItems('p1', 2)).map((r) => r.itemId)).toEqual(['p2', 'p3']);
    const recs = await core.recommend({ k: 2 }, [event(1e6, 'p1')], granted);
    expect(recs.map((r) => r.itemId)).toEqual(['p2', 'p3']);
    expect(recs[0]?.because[0]).toMatchObject({ itemId: 'p1', weight: 1 });
    await store.replaceCatalog([...catalog(), { id: 'new-1', title: 'New', inStock: true }]);
    core.catalogChanged();
    expect((await core.recommend({ k: 2 }, [event(1e6, 'p1')], granted)).map((r) => r.itemId)).toEqual(['p2', 'p3']);
    await core.close();
  }, 60_000);
});
