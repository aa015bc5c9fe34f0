import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { createIntentModel, intentModelFromCheckpoint } from '../../src/model/intent-model.js';
import type { HistoryStep } from '../../src/model/contract.js';
import { seededRandom } from '../../src/model/random.js';
import { errorCodeOf } from '../../src/protocol/errors.js';
import { syntheticItems } from '../fixtures/model/synthetic-logs.js';

const categories = 6;
const items = syntheticItems(60, categories);

/** Sessions of views; when one category gets ≥ 3 views, the session ends in an add_to_cart. */
function sessions(count: number, seed: number): { steps: HistoryStep[]; views: HistoryStep[]; cart: boolean }[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const length = 3 + Math.floor(random() * 4);
    const focus = Math.floor(random() * categories);
    const focused = random() < 0.5;
    const views: HistoryStep[] = Array.from({ length }, (_, t) => {
      const category = focused && random() < 0.7 ? focus : Math.floor(random() * categories);
      return { itemId: `item-${category + categories * Math.floor(random() * 10)}`, type: 'view_item', time: t };
    });
    const counts = new Map<number, number>();
    for (const v of views) {
      const c = Number(v.itemId.slice(5)) % categories;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    const cart = [...counts.values()].some((n) => n >= 3);
    const steps = cart ? [...views, { itemId: views[views.length - 1]!.itemId, type: 'add_to_cart' as const, time: length }] : views;
    return { steps, views, cart };
  });
}

function auc(scores: number[], labels: boolean[]): number {
  let pairs = 0;
  let wins = 0;
  scores.forEach((s, i) => {
    if (!labels[i]) return;
    scores.forEach((t, j) => {
      if (labels[j]) return;
      pairs++;
      wins += s > t ? 1 : s === t ? 0.5 : 0;
    });
  });
  return wins / Math.max(1, pairs);
}

describe('intent model', () => {
  beforeAll(async () => {
    await setupNodeRuntime('wasm');
  });

  test('predicts probabilities with attention over the session', () => {
    const model = createIntentModel({ items, config: { dims: 16, heads: 2, maxLen: 8 } });
    const out = model.predict([
      { itemId: 'item-1', type: 'view_item', time: 0 },
      { itemId: 'unknown', type: 'add_to_cart', time: 1 },
    ]);
    expect(out.cart).toBeGreaterThan(0);
    expect(out.cart).toBeLessThan(1);
    expect(out.purchase).toBeGreaterThan(0);
    expect(out.used).toBe(2);
    expect(out.attention.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(model.predict([]).used).toBe(0);
    model.dispose();
  });

  test('learns that ≥ 3 views of one category lead to the cart, better than chance', async () => {
    const model = createIntentModel({ items, config: { dims: 16, heads: 2, maxLen: 8, dropout: 0 }, seed: 2 });
    await model.train(
      sessions(800, 1).map((s) => s.steps),
      { epochs: 7, batchSize: 64 },
    );
    // From here on (Adam's state exists) training and prediction must not add tensors.
    const before = tf.memory().numTensors;
    await model.train(
      sessions(400, 1).map((s) => s.steps),
      { epochs: 1, batchSize: 64 },
    );
    const test = sessions(300, 7);
    const score = auc(
      test.map((s) => model.predict(s.views).cart),
      test.map((s) => s.cart),
    );
    expect(score).toBeGreaterThan(0.75);
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < 200; i++) model.predict(test[i % test.length]!.views);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  }, 120_000);

  test('round-trips a checkpoint and rejects a corrupt one', () => {
    const model = createIntentModel({ items, config: { dims: 16, heads: 2, maxLen: 8 }, seed: 3 });
    const copy = intentModelFromCheckpoint(structuredClone(model.toCheckpoint()));
    const session: HistoryStep[] = [
      { itemId: 'item-4', type: 'view_item', time: 0 },
      { itemId: 'item-10', type: 'view_item', time: 1 },
    ];
    expect(copy.predict(session)).toEqual(model.predict(session));
    const bad = model.toCheckpoint();
    bad.weights[0]!.values[0] = Number.POSITIVE_INFINITY;
    let code: string | undefined;
    try {
      intentModelFromCheckpoint(bad);
    } catch (error) {
      code = errorCodeOf(error);
    }
    expect(code).toBe('invalid_checkpoint');
    model.dispose();
    copy.dispose();
  });
});
