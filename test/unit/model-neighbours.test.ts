import { beforeAll, describe, expect, test } from 'vitest';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { ItemNeighbours } from '../../src/model/item-neighbours.js';
import { blendScores } from '../../src/model/blend.js';
import { NegativeSampler } from '../../src/model/negative-sampler.js';
import { SasRecommender, recommenderFromCheckpoint } from '../../src/model/sasrec-recommender.js';
import { chooseLoss, resolveRecommenderConfig, FULL_SOFTMAX_MAX_ITEMS } from '../../src/model/defaults.js';
import { loadModelFromUrl, saveModelArtifacts, type FetchLike } from '../../src/model/model-artifacts.js';
import { decodeModel } from '../../src/protocol/model-file.js';
import { seededRandom } from '../../src/model/random.js';
import type { HistoryStep, RecommenderConfig } from '../../src/model/contract.js';
import { errorCodeOf } from '../../src/protocol/errors.js';
import { syntheticItems } from '../fixtures/model/synthetic-logs.js';

const tiny: Partial<RecommenderConfig> = { dims: 8, blocks: 1, heads: 1, maxLen: 8, dropout: 0, attributeBuckets: 8, learningRate: 0.01 };
const steps = (ids: number[]): HistoryStep[] => ids.map((i, t) => ({ itemId: `item-${i}`, type: 'view_item', time: t }));

describe('item neighbours', () => {
  test('counts co-visits within three steps, the next item double, and keeps the strongest per item', () => {
    // Rows 1..5; 1 → 2 → 3 twice, 1 → 4 once.
    const table = ItemNeighbours.count(
      [
        [1, 2, 3],
        [1, 2, 3],
        [1, 4],
      ],
      6,
      2,
    );
    expect(table.neighboursOf(1, 5)).toEqual([
      { row: 2, count: 4 },
      { row: 3, count: 4 },
    ]);
    expect(table.neighboursOf(3, 5)).toEqual([
      { row: 1, count: 2 },
      { row: 2, count: 2 },
    ]);
    expect(table.neighboursOf(5, 5)).toEqual([]);
    expect(table.neighboursOf(0, 5)).toEqual([]);
  });

  test('scores a history from its newest three steps and from its own transitions', () => {
    const table = ItemNeighbours.count(
      [
        [1, 2],
        [3, 4],
      ],
      6,
    );
    const out = new Float32Array(6);
    // Newest step 2 (weight 1): its neighbour 1 (backward: 1), plus the same pair in the history
    // itself (1). Step 1 (weight 1/2): its neighbour 2 (forward: 2), and again from the history (2).
    const total = table.score([1, 2], out);
    expect(Array.from(out)).toEqual([0, 2, 2, 0, 0, 0]);
    expect(total).toBeCloseTo(4, 6);
    expect(table.score([5], out)).toBe(0);
    expect(Array.from(out).every((x) => x === 0)).toBe(true);
  });

  test('grows with the vocabulary and refuses malformed tables', () => {
    const table = ItemNeighbours.count([[1, 2]], 3);
    expect(table.grow(5).rows).toBe(5);
    expect(table.grow(5).neighboursOf(1, 3)).toEqual(table.neighboursOf(1, 3));
    const bad = (offsets: number[], ids: number[], counts: number[]): string | undefined => {
      try {
        new ItemNeighbours({ offsets: Int32Array.from(offsets), ids: Int32Array.from(ids), counts: Float32Array.from(counts) });
        return undefined;
      } catch (error) {
        return errorCodeOf(error);
      }
    };
    expect(bad([0, 1, 1], [1], [2])).toBeUndefined();
    expect(bad([0, 1, 1], [2], [2])).toBe('invalid_checkpoint'); // row outside the table
    expect(bad([0, 2, 1], [1, 1], [2, 2])).toBe('invalid_checkpoint'); // offsets decrease
    expect(bad([0, 1, 1], [1], [0])).toBe('invalid_checkpoint'); // a zero count
  });

  test('blending mixes the model distribution with the neighbours and still sums to one', () => {
    const logits = Float32Array.from([0, 0, 0, 0]);
    const neighbours = Float32Array.from([0, 0, 0, 3, 1]); // rows: item i at row i + 1
    const p = blendScores(logits, neighbours, 4, 0.5);
    expect(Array.from(p).map((x) => Number(x.toFixed(4)))).toEqual([0.125, 0.125, 0.5, 0.25]);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(Array.from(blendScores(logits, neighbours, 0, 0.5))).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(Array.from(blendScores(logits, neighbours, 4, 0))).toEqual([0.25, 0.25, 0.25, 0.25]);
  });
});

describe('the training loss', () => {
  test('is the full softmax for small catalogues and the sampled softmax for large ones', () => {
    expect(chooseLoss(560)).toBe('softmax');
    expect(chooseLoss(FULL_SOFTMAX_MAX_ITEMS)).toBe('softmax');
    expect(chooseLoss(FULL_SOFTMAX_MAX_ITEMS + 1)).toBe('sampled-softmax');
    expect(chooseLoss(37_000)).toBe('sampled-softmax');
    // A checkpoint from before `loss` existed: negatives 0 meant the full softmax.
    expect(resolveRecommenderConfig({ negatives: 0 }).loss).toBe('softmax');
    expect(resolveRecommenderConfig({ negatives: 256 }).loss).toBe('sampled-softmax');
    expect(() => resolveRecommenderConfig({ loss: 'bce' as never })).toThrow(/loss must be one of softmax, sampled-softmax/);
    expect(() => resolveRecommenderConfig({ neighbourWeight: 1.5 })).toThrow(/neighbourWeight must be a number in \[0, 1\]/);
  });

  test('samples negatives in proportion to smoothed target frequency, with matching log Q', () => {
    const counts = [0, 999, 99, 0]; // row 0 is padding
    const sampler = new NegativeSampler(counts);
    const drawn = sampler.sample(20_000, seededRandom(1));
    const share = (row: number): number => drawn.filter((r) => r === row).length / drawn.length;
    expect(share(0)).toBe(0);
    const w = [0, 1000 ** 0.75, 100 ** 0.75, 1];
    const total = w[1]! + w[2]! + w[3]!;
    for (const row of [1, 2, 3]) {
      expect(share(row)).toBeCloseTo(w[row]! / total, 1);
      expect(sampler.logQ[row]).toBeCloseTo(Math.log(w[row]! / total), 5);
    }
  });
});

describe('the model file with neighbours', () => {
  beforeAll(async () => {
    await setupNodeRuntime('wasm');
  });

  function modelWithNeighbours(): SasRecommender {
    const items = syntheticItems(10);
    const model = new SasRecommender({ items, config: { ...tiny, neighbourWeight: 0.3 }, seed: 2 });
    model.setNeighbours(ItemNeighbours.count([model.rowsOf(['item-1', 'item-2', 'item-3']), model.rowsOf(['item-1', 'item-2'])], 11));
    return model;
  }

  test('round-trips the neighbours, compressed to 16 bits, and serves the same blended scores', () => {
    const model = modelWithNeighbours();
    const { modelJson, weightData, tableData } = saveModelArtifacts(model);
    expect(tableData).toBeDefined();
    const meta = modelJson.userDefinedMetadata?.hearth;
    expect(meta?.tables?.paths).toEqual(['neighbours.bin']);
    expect(meta?.tables?.entries.every((e) => e.quantization?.dtype === 'uint16')).toBe(true);
    // The federated server averages the manifest: the tables are not in it.
    expect(modelJson.weightsManifest.flatMap((g) => g.weights.map((w) => w.name)).some((n) => n.includes('neighbours'))).toBe(false);
    const restored = recommenderFromCheckpoint(decodeModel(JSON.parse(JSON.stringify(modelJson)), weightData, tableData));
    expect(restored.neighbours?.neighboursOf(2, 5)).toEqual(model.neighbours?.neighboursOf(2, 5));
    expect(restored.config.neighbourWeight).toBe(0.3);
    const history = steps([1, 2]);
    expect(Array.from(restored.probabilities(history))).toEqual(Array.from(model.probabilities(history)));
    // The neighbours moved the scores: item-3 follows item-1 → item-2 in the log.
    const modelOnly = new SasRecommender({ items: syntheticItems(10), config: tiny, seed: 2 });
    expect(restored.probabilities(history)[3]).toBeGreaterThan(modelOnly.probabilities(history)[3]! + 0.05);
    for (const m of [model, restored, modelOnly]) m.dispose();
  });

  test('loads without neighbours when neighbours.bin is missing, and refuses a truncated one', async () => {
    const model = modelWithNeighbours();
    const { modelJson, weightData, tableData } = saveModelArtifacts(model);
    model.dispose();
    const serve =
      (tables: Uint8Array | null): FetchLike =>
      async (url) => {
        if (url.endsWith('neighbours.bin') && !tables) return { ok: false, status: 404, json: async () => null, arrayBuffer: async () => new ArrayBuffer(0) };
        const body = url.endsWith('weights.bin') ? weightData : (tables as Uint8Array);
        return { ok: true, status: 200, json: async () => JSON.parse(JSON.stringify(modelJson)), arrayBuffer: async () => body.slice().buffer };
      };
    const without = await loadModelFromUrl('https://shop.example/model/model.json', serve(null));
    expect(without.kind).toBe('recommender');
    expect(without.kind === 'recommender' && without.model.neighbours).toBeNull();
    without.model.dispose();
    const broken = await loadModelFromUrl('https://shop.example/model/model.json', serve((tableData as Uint8Array).slice(0, -2))).catch((e: unknown) => errorCodeOf(e));
    expect(broken).toBe('invalid_checkpoint');
  });
});
