import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { SasRecommender, createRecommender, recommenderFromCheckpoint } from '../../src/model/sasrec-recommender.js';
import type { HistoryStep, RecommenderConfig } from '../../src/model/contract.js';
import { errorCodeOf } from '../../src/protocol/errors.js';
import { ItemNeighbours } from '../../src/model/item-neighbours.js';
import { cyclicHistories, rankOf, syntheticItems } from '../fixtures/model/synthetic-logs.js';

const tiny: Partial<RecommenderConfig> = { dims: 16, blocks: 1, heads: 2, maxLen: 8, dropout: 0.1, attributeBuckets: 16, negatives: 8, learningRate: 0.01 };
const items = syntheticItems(12);
const history = (ids: number[], type: HistoryStep['type'] = 'view_item'): HistoryStep[] => ids.map((i, t) => ({ itemId: `item-${i}`, type, time: t }));

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`recommender on ${backend}`, () => {
    beforeAll(async () => {
      await setupNodeRuntime(backend);
    });

    test('scores every item and returns attention over the used history', () => {
      const model = createRecommender({ items, config: tiny, seed: 3 });
      const result = model.score(history([1, 2, 3]));
      expect(result.scores).toHaveLength(12);
      expect(result.itemIds).toEqual(items.map((i) => i.id));
      expect(result.used).toBe(3);
      expect(result.attention).toHaveLength(3);
      expect(result.attention.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(model.parameterCount()).toBe(model.getWeights().reduce((n, w) => n + w.values.length, 0));
      model.dispose();
    });

    test('changing a later event never changes an earlier position', () => {
      const model = new SasRecommender({ items, config: tiny, seed: 3 });
      const a = model.hiddenStates(history([1, 2, 3, 4, 5]));
      const b = model.hiddenStates([...history([1, 2, 3, 4]), { itemId: 'item-9', type: 'purchase', time: 9 }]);
      const d = 16;
      expect(Array.from(a.slice(0, 4 * d))).toEqual(Array.from(b.slice(0, 4 * d)));
      expect(Array.from(a.slice(4 * d))).not.toEqual(Array.from(b.slice(4 * d)));
      model.dispose();
    });
  });
}

describe('recommender (wasm)', () => {
  beforeAll(async () => {
    await setupNodeRuntime('wasm');
  });

  test('is deterministic for a seed', () => {
    const a = createRecommender({ items, config: tiny, seed: 5 });
    const b = createRecommender({ items, config: tiny, seed: 5 });
    expect(Array.from(a.score(history([1, 2])).scores)).toEqual(Array.from(b.score(history([1, 2])).scores));
    a.dispose();
    b.dispose();
  });

  test('getWeights() returns copies in a stable order, and setWeights() takes them back', () => {
    const model = createRecommender({ items, config: tiny, seed: 5 });
    const scores = Array.from(model.score(history([1, 2])).scores);
    const weights = model.getWeights();
    expect(weights.map((w) => w.name)).toEqual(model.getWeights().map((w) => w.name));
    expect(weights[0]!.name).toBe('recommender/item_embedding');
    weights[0]!.values.fill(0);
    expect(Array.from(model.score(history([1, 2])).scores)).toEqual(scores);
    model.setWeights(weights);
    expect(Array.from(model.score(history([1, 2])).scores)).not.toEqual(scores);
    expect(() => model.setWeights(weights.slice(1))).toThrowError(expect.objectContaining({ code: 'invalid_argument' }));
    model.dispose();
  });

  test('skips unknown history items and rejects unknown items in similar()', () => {
    const model = createRecommender({ items, config: tiny });
    const withUnknown = model.score([...history([1]), { itemId: 'nope', type: 'view_item', time: 5 }, ...history([2])]);
    expect(withUnknown.used).toBe(2);
    expect(Array.from(withUnknown.scores)).toEqual(Array.from(model.score(history([1, 2])).scores));
    expect(model.score([{ itemId: 'nope', type: 'view_item', time: 1 }]).used).toBe(0);
    expect(model.similar('item-1', 3)).toHaveLength(3);
    expect(model.similar('item-1', 3).map((s) => s.itemId)).not.toContain('item-1');
    expect(() => model.similar('nope', 3)).toThrowError(expect.objectContaining({ code: 'unknown_item' }));
    model.dispose();
  });

  test('learns a planted sequential pattern that popularity cannot', async () => {
    const n = 40;
    const catalog = syntheticItems(n);
    const train = cyclicHistories(n, 300, [6, 12], 0.1, 1);
    const test = cyclicHistories(n, 200, [4, 9], 0, 2);
    const model = createRecommender({ items: catalog, config: { ...tiny, dims: 32, maxLen: 10, negatives: 16 }, seed: 1 });
    const { loss } = await model.train(train, { epochs: 12, batchSize: 64 });
    expect(Number.isFinite(loss)).toBe(true);
    const popularity = new Float32Array(n);
    for (const s of train) for (const step of s) popularity[Number(step.itemId.slice(5))]! += 1;
    let hits = 0;
    let popularHits = 0;
    for (const s of test) {
      const target = Number(s[s.length - 1]!.itemId.slice(5));
      const { scores } = model.score(s.slice(0, -1));
      if (rankOf(scores, target) < 10) hits++;
      if (rankOf(popularity, target) < 10) popularHits++;
    }
    expect(hits / test.length).toBeGreaterThanOrEqual(0.8);
    expect(popularHits / test.length).toBeLessThan(0.45);
    model.dispose();
  }, 120_000);

  test('keeps the tensor count flat across 1,000 score() calls and a training epoch', async () => {
    const model = createRecommender({ items, config: tiny });
    model.score(history([1, 2]));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) model.score(history([i % 12, (i + 1) % 12, (i + 5) % 12]));
    expect(tf.memory().numTensors).toBe(before);
    await model.train(cyclicHistories(12, 20, [3, 9], 0.2, 4), { epochs: 1, batchSize: 8 });
    // The first epoch creates Adam's two moments per variable; a second epoch adds nothing.
    const afterFirst = tf.memory().numTensors;
    await model.train(cyclicHistories(12, 20, [3, 9], 0.2, 5), { epochs: 1, batchSize: 8 });
    expect(tf.memory().numTensors).toBe(afterFirst);
    model.score(history([1, 2]));
    model.dispose();
  }, 60_000);

  test('keeps the tensor count flat across batched scoring, blending and data-parallel steps, and frees everything on dispose', async () => {
    const start = tf.memory().numTensors;
    const model = new SasRecommender({ items, config: { ...tiny, loss: 'sampled-softmax', negatives: 4 } });
    model.setNeighbours(ItemNeighbours.count([model.rowsOf(['item-1', 'item-2', 'item-3'])], items.length + 1));
    const data = model.trainingData(cyclicHistories(12, 20, [3, 9], 0.2, 4));
    const gradient = new Float32Array(model.parameterCount());
    const weights = new Float32Array(model.parameterCount());
    const batch = { batch: 1, length: 3, rows: Int32Array.from([1, 2, 3]), types: Int32Array.from([1, 1, 1]), targets: Int32Array.from([2, 3, 4]) };
    const round = (i: number): void => {
      const scored = model.scoreBatch([history([i % 12, (i + 1) % 12]), history([(i + 3) % 12]), []]);
      model.probabilities(history([i % 12, (i + 1) % 12]), scored[0]);
      model.batchGradients(batch, data, gradient);
      model.writeFlatWeights(weights);
      model.loadFlatWeights(weights);
    };
    round(0);
    const before = tf.memory().numTensors;
    for (let i = 1; i < 50; i++) round(i);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  test('scores a batch of histories exactly as it scores each alone', () => {
    const model = createRecommender({ items, config: tiny, seed: 4 });
    const histories = [history([1, 2, 3]), history([4]), [], history([5, 6, 7, 8, 9, 10])];
    const batched = model.scoreBatch(histories);
    histories.forEach((h, i) => {
      const alone = model.score(h);
      expect(batched[i]?.used).toBe(alone.used);
      batched[i]?.scores.forEach((v, j) => expect(v).toBeCloseTo(alone.scores[j] as number, 4));
    });
    model.dispose();
  });

  test('scores each newest step hidden in one pass, as a model without position information scores the history without that step', () => {
    const model = createRecommender({ items, config: { ...tiny, blocks: 2 }, seed: 6 });
    // Without position embeddings, hiding a step from attention is the same as deleting it.
    model.setWeights(model.getWeights().map((w) => (w.name === 'recommender/position_embedding' ? { ...w, values: new Float32Array(w.values.length) } : w)));
    const h = history([1, 5, 2, 7, 3, 9]);
    const { scored, hidden } = model.scoreOcclusions(h, 4);
    expect(hidden.steps).toBe(4);
    expect(hidden.used).toBe(5);
    expect(Array.from(scored.scores)).toEqual(Array.from(model.score(h).scores));
    const reference = model.scoreBatch(Array.from({ length: 4 }, (_, e) => h.filter((_, i) => i !== 2 + e)));
    reference.forEach((r, e) => {
      r.scores.forEach((v, j) => expect(hidden.logit(e, j)).toBeCloseTo(v, 4));
      const lse = Math.log(r.scores.reduce((sum, v) => sum + Math.exp(v), 0));
      expect(hidden.logSumExp[e]).toBeCloseTo(lse, 4);
    });
    // More steps asked for than the history has: every step; a one-step history hides to nothing (uniform).
    expect(model.scoreOcclusions(h, 50).hidden.steps).toBe(6);
    const single = model.scoreOcclusions(history([4]), 8).hidden;
    expect(single.used).toBe(0);
    expect(single.logSumExp[0]).toBeCloseTo(Math.log(items.length), 4);
    model.dispose();
  });

  test('trains with a full softmax too', async () => {
    const model = createRecommender({ items, config: { ...tiny, negatives: 0 } });
    const { loss } = await model.train(cyclicHistories(12, 20, [3, 9], 0.2, 4), { epochs: 2, batchSize: 8, batchTokens: 40 });
    expect(Number.isFinite(loss)).toBe(true);
    model.dispose();
  });

  test('round-trips a checkpoint with identical scores', async () => {
    const model = createRecommender({ items, config: tiny, seed: 9 });
    await model.train(cyclicHistories(12, 20, [3, 9], 0.2, 4), { epochs: 1 });
    const copy = recommenderFromCheckpoint(structuredClone(model.toCheckpoint()));
    expect(copy.config).toEqual(model.config);
    expect(Array.from(copy.score(history([3, 4, 5])).scores)).toEqual(Array.from(model.score(history([3, 4, 5])).scores));
    model.dispose();
    copy.dispose();
  });

  test('rejects corrupt or incompatible checkpoints', () => {
    const model = createRecommender({ items, config: tiny });
    const good = model.toCheckpoint();
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return errorCodeOf(error);
      }
      return 'no error';
    };
    expect(code(() => recommenderFromCheckpoint({ ...good, formatVersion: 999 }))).toBe('invalid_checkpoint');
    expect(code(() => recommenderFromCheckpoint({ ...good, name: 'intent' }))).toBe('invalid_checkpoint');
    expect(code(() => recommenderFromCheckpoint({ ...good, config: null }))).toBe('invalid_checkpoint');
    const nan = good.weights.map((w) => ({ ...w, values: w.values.slice() }));
    nan[3]!.values[0] = Number.NaN;
    expect(code(() => recommenderFromCheckpoint({ ...good, weights: nan }))).toBe('invalid_checkpoint');
    const shape = good.weights.map((w, i) => (i === 0 ? { ...w, shape: [1, 2], values: new Float32Array(2) } : w));
    expect(code(() => recommenderFromCheckpoint({ ...good, weights: shape }))).toBe('invalid_checkpoint');
    expect(code(() => recommenderFromCheckpoint({ ...good, weights: good.weights.slice(1) }))).toBe('invalid_checkpoint');
    const before = tf.memory().numTensors;
    code(() => recommenderFromCheckpoint({ ...good, weights: nan }));
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  test('stops with "aborted" when the signal fires', async () => {
    const model = createRecommender({ items, config: tiny });
    const controller = new AbortController();
    const run = model.train(cyclicHistories(12, 200, [3, 9], 0.2, 4), {
      epochs: 50,
      batchSize: 4,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.fraction > 0.01) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'aborted' });
    model.dispose();
  });

  test('rejects bad options with a typed error', () => {
    expect(() => createRecommender({ items: [], config: tiny })).toThrowError(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => createRecommender({ items, config: { ...tiny, dims: 15 } })).toThrowError(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => createRecommender({ items: [{ id: 'a' }, { id: 'a' }] })).toThrowError(expect.objectContaining({ code: 'invalid_argument' }));
  });
});
