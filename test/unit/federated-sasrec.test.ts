/**
 * The federated path with the real SASRec recommender: the model helper's tfjs artefacts seed the
 * server, real clients train real models and upload, the server publishes, and the published
 * model loads back through the model's own URL loader (relative shard path with `?v=`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { createRecommender } from '../../src/model/sasrec-recommender.js';
import { loadModelFromUrl, saveModelArtifacts } from '../../src/model/model-artifacts.js';
import { createAggregationServer, type AggregationServer } from '../../src/server/index.js';
import { parseModelJson } from '../../src/protocol/model-file.js';
import { runFederatedRound } from '../../src/federated/client.js';
import type { HistoryStep } from '../../src/model/contract.js';
import { syntheticItems, cyclicHistories } from '../fixtures/model/synthetic-logs.js';

const items = syntheticItems(30);
const config = { dims: 8, blocks: 1, heads: 1, maxLen: 8, attributeBuckets: 8, negatives: 8 };
let server: AggregationServer;
let url: string;
let dataDir: string;

beforeAll(async () => {
  await setupNodeRuntime('wasm');
  const seedModel = createRecommender({ items, config, seed: 1 });
  const { modelJson, weightData } = saveModelArtifacts(seedModel);
  seedModel.dispose();
  dataDir = await mkdtemp(join(tmpdir(), 'hearth-fl-sasrec-'));
  server = await createAggregationServer({ dataDir, initialModel: { modelJson: parseModelJson(modelJson), weights: weightData }, siteKeys: ['sasrec-key-0001'], minClients: 2, clip: 1 });
  url = await server.listen();
});

afterAll(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('federated round with the real recommender', () => {
  it('trains two real clients, publishes, and the published model loads through the model loader', async () => {
    const histories: HistoryStep[][] = cyclicHistories(30, 2, [6, 8], 0, 3);
    for (let c = 0; c < 2; c++) {
      const model = createRecommender({ items, config, seed: 10 + c });
      const result = await runFederatedRound({
        serverUrl: url,
        siteKey: 'sasrec-key-0001',
        model,
        sequences: [histories[c] as HistoryStep[]],
        consent: { contribute: true },
        capabilities: { globalPrivacyControl: false, saveData: false },
      });
      expect(result.status).toBe('uploaded');
      expect(result.upload!.tensors.length).toBe(model.getWeights().length);
      model.dispose();
    }
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundId: 2, modelVersion: '2' });
    const loaded = await loadModelFromUrl(`${url}/v1/model`);
    expect(loaded.kind).toBe('recommender');
    if (loaded.kind === 'recommender') {
      const scored = loaded.model.score(histories[0]!.slice(0, 3));
      expect(scored.scores.length).toBe(items.length);
      expect(scored.scores.every((s) => Number.isFinite(s))).toBe(true);
      loaded.model.dispose();
    }
  });
});
