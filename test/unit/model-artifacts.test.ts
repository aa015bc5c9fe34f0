import { beforeAll, describe, expect, test } from 'vitest';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { createRecommender } from '../../src/model/sasrec-recommender.js';
import { createIntentModel } from '../../src/model/intent-model.js';
import { loadModelFromUrl, saveModelArtifacts, type FetchLike } from '../../src/model/model-artifacts.js';
import { decodeModel } from '../../src/protocol/model-file.js';
import type { HistoryStep } from '../../src/model/contract.js';
import { errorCodeOf } from '../../src/protocol/errors.js';
import { syntheticItems } from '../fixtures/model/synthetic-logs.js';

const items = syntheticItems(10);
const config = { dims: 8, blocks: 1, heads: 1, maxLen: 6, attributeBuckets: 8, negatives: 4 };
const history: HistoryStep[] = [
  { itemId: 'item-2', type: 'view_item', time: 0 },
  { itemId: 'item-3', type: 'purchase', time: 1 },
];

/** A fetch that serves files from memory, like a static host. */
function memoryFetch(files: Record<string, string | Uint8Array>): FetchLike {
  return async (url) => {
    const body = files[new URL(url).pathname];
    return {
      ok: body !== undefined,
      status: body === undefined ? 404 : 200,
      json: async () => JSON.parse(body as string) as unknown,
      arrayBuffer: async () => {
        const bytes = body as Uint8Array;
        return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      },
    };
  };
}

describe('tfjs model artefacts', () => {
  beforeAll(async () => {
    await setupNodeRuntime('wasm');
  });

  test('a recommender saved as model.json + weights.bin loads back from a URL with identical scores', async () => {
    const model = createRecommender({ items, config, seed: 4 });
    const { modelJson, weightData } = saveModelArtifacts(model);
    expect(modelJson.weightsManifest[0]!.paths).toEqual(['weights.bin']);
    expect(weightData.byteLength).toBe(model.parameterCount() * 4);
    const fetch = memoryFetch({ '/models/model.json': JSON.stringify(modelJson), '/models/weights.bin': weightData });
    const loaded = await loadModelFromUrl('http://shop.test/models/model.json', fetch);
    expect(loaded.kind).toBe('recommender');
    if (loaded.kind !== 'recommender') return;
    expect(loaded.model.itemIds).toEqual(model.itemIds);
    expect(Array.from(loaded.model.score(history).scores)).toEqual(Array.from(model.score(history).scores));
    loaded.model.dispose();
    model.dispose();
  });

  test('an intent model round-trips too', async () => {
    const model = createIntentModel({ items, config: { dims: 8, heads: 1, maxLen: 6 } });
    const { modelJson, weightData } = saveModelArtifacts(model);
    const loaded = await loadModelFromUrl('http://shop.test/m/model.json', memoryFetch({ '/m/model.json': JSON.stringify(modelJson), '/m/weights.bin': weightData }));
    expect(loaded.kind).toBe('intent');
    if (loaded.kind === 'intent') expect(loaded.model.predict(history)).toEqual(model.predict(history));
    loaded.model.dispose();
    model.dispose();
  });

  test('rejects truncated weights, wrong shapes and missing files', async () => {
    const model = createRecommender({ items, config });
    const { modelJson, weightData } = saveModelArtifacts(model);
    const codeOf = async (f: () => unknown) => {
      try {
        await f();
      } catch (error) {
        return errorCodeOf(error);
      }
      return 'no error';
    };
    expect(await codeOf(() => decodeModel(modelJson, weightData.slice(0, -4)))).toBe('invalid_checkpoint');
    const reshaped = structuredClone(modelJson);
    reshaped.weightsManifest[0]!.weights[0]!.shape = [weightData.byteLength / 4 - model.parameterCount() + 11 * 8, 1];
    expect(await codeOf(() => loadModelFromUrl('http://x.test/model.json', memoryFetch({ '/model.json': JSON.stringify(reshaped), '/weights.bin': weightData })))).toBe('invalid_checkpoint');
    expect(await codeOf(() => decodeModel({ weightsManifest: [] }, weightData))).toBe('invalid_checkpoint');
    expect(await codeOf(() => loadModelFromUrl('http://x.test/model.json', memoryFetch({ '/model.json': JSON.stringify(modelJson) })))).toBe('network');
    model.dispose();
  });
});
