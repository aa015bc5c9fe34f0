/**
 * The engine's wiring of federated rounds: devices warm-start from the server's global model
 * (engine.modelUrl), take part through EngineCore.federatedRound() with their live recommender and
 * their store's events, record the upload (lastUpload), and take part at idle time when
 * autoParticipate is on and the shopper consented to contribute.
 */
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { createRecommender } from '../../src/model/sasrec-recommender.js';
import { saveModelArtifacts } from '../../src/model/model-artifacts.js';
import { createAggregationServer, type AggregationServer } from '../../src/server/index.js';
import { parseModelJson } from '../../src/protocol/model-file.js';
import { openStore } from '../../src/store/open-store.js';
import { EngineCore } from '../../src/worker/engine-core.js';
import type { CatalogItem, ConsentState } from '../../src/store/types.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';
import { recordingLogger, uniqueName } from '../fixtures/store/helpers.js';

const SITE_KEY = 'engine-fl-key-0001';
const catalog: CatalogItem[] = Array.from({ length: 24 }, (_, i) => ({ id: `sku-${i}`, title: `Item ${i}`, category: `c${i % 4}`, inStock: true }));
const config = { dims: 8, blocks: 1, heads: 1, maxLen: 8, attributeBuckets: 8, negatives: 8 };
const both: ConsentState = { personalise: true, contribute: true, updatedAt: 1 };
let server: AggregationServer;
let url: string;
let dataDir: string;

function events(offset: number): StoredEvent[] {
  return Array.from({ length: 16 }, (_, i) => {
    const id = `sku-${(offset + i) % 24}`;
    return { eventId: `evt-${offset}-${i}`, type: 'view_item', time: 1_000 + i * 1000, session: 's1', items: [{ item_id: id }], itemIds: [id] };
  });
}

async function device(offset: number, autoParticipate = true): Promise<EngineCore> {
  const store = await openStore({ name: uniqueName('engine-fl'), logger: recordingLogger() });
  await store.replaceCatalog(catalog);
  await store.appendEvents(events(offset));
  return new EngineCore({
    store,
    options: { modelUrl: `${url}/v1/model`, autoTrain: false },
    federated: { serverUrl: url, siteKey: SITE_KEY, autoParticipate, retry: { attempts: 1 } },
  });
}

beforeAll(async () => {
  await setupNodeRuntime('wasm');
  const seed = createRecommender({ items: catalog.map(({ id, category }) => ({ id, category })), config, seed: 1 });
  const { modelJson, weightData } = saveModelArtifacts(seed);
  seed.dispose();
  dataDir = await mkdtemp(join(tmpdir(), 'hearth-engine-fl-'));
  server = await createAggregationServer({ dataDir, initialModel: { modelJson: parseModelJson(modelJson), weights: weightData }, siteKeys: [SITE_KEY], minClients: 2, clip: 1 });
  url = await server.listen();
});

afterAll(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('federated rounds through the engine', () => {
  test('warm-starts from the global model, uploads with the live recommender, records the upload; idle time takes part by itself', async () => {
    const first = await device(0);
    await first.start();
    expect(first.info().globalModelVersion).toMatch(/v1\/model/);
    expect(first.info().parameters.recommender).toBeGreaterThan(0);

    const denied = await first.federatedRound({ personalise: true, contribute: false, updatedAt: 1 });
    expect(denied.status).toBe('skipped');
    expect(await first.lastUpload()).toBeNull();

    const result = await first.federatedRound(both);
    expect(result.status).toBe('uploaded');
    const upload = await first.lastUpload();
    expect(upload?.bytes).toBeGreaterThan(0);
    expect(upload?.header).toBeDefined();
    expect(first.info().globalModelVersion).toBe('1');
    // The live model answers from the round's weights.
    const recs = await first.recommend({ k: 3 }, [], both);
    expect(recs[0]?.source).toBe('model');

    // The second device takes part at idle time (autoParticipate), and the server publishes.
    const second = await device(5);
    await second.idle(both);
    expect((await second.lastUpload())?.bytes).toBeGreaterThan(0);
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ modelVersion: '2' });

    // Not without the scope, and not when autoParticipate is off.
    const third = await device(9, false);
    await third.idle(both);
    expect(await third.lastUpload()).toBeNull();
    for (const core of [first, second, third]) await core.close();
  });

  test('a device contributes to a round once: a second call in the same round, or two at once, upload once', async () => {
    await server.settled();
    const roundBefore = server.coordinator.status();
    const device1 = await device(3);
    await device1.start();
    // Two calls at once (an idle-time round and a click) are one round.
    const [a, b] = await Promise.all([device1.federatedRound(both), device1.federatedRound(both)]);
    expect(a.status).toBe('uploaded');
    expect(b).toBe(a);
    // The same round again: sat out, nothing uploaded.
    const again = await device1.federatedRound(both);
    expect(again).toMatchObject({ status: 'skipped', reason: 'already_contributed', roundId: a.roundId });
    expect((await device1.lastUpload())?.at).toBe(a.upload?.at);
    const roundAfter = server.coordinator.status();
    expect(roundAfter).toMatchObject({ roundId: roundBefore.roundId, updates: roundBefore.updates + 1 });
    await device1.close();
  });

  test('a device without a federated configuration sits rounds out', async () => {
    const store = await openStore({ name: uniqueName('engine-fl-none'), logger: recordingLogger() });
    await store.replaceCatalog(catalog);
    const core = new EngineCore({ store });
    expect(await core.federatedRound(both)).toEqual({ status: 'skipped', reason: 'not_configured' });
    await core.close();
  });
});
