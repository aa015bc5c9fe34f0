import { beforeAll, describe, expect, test } from 'vitest';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { SasRecommender } from '../../src/model/sasrec-recommender.js';
import { DataParallelTrainer } from '../../src/train/data-parallel.js';
import { fitRecommender } from '../../src/train/fit.js';
import { blendedRanks, metricsOf, type RankingCase } from '../../src/train/evaluate.js';
import { seededRandom } from '../../src/model/random.js';
import type { HistoryStep, ItemAttributes, RecommenderConfig } from '../../src/model/contract.js';
import { cyclicHistories, syntheticItems } from '../fixtures/model/synthetic-logs.js';
import { trainWorkerUrl } from '../fixtures/model/train-worker-url.js';

const small: Partial<RecommenderConfig> = { dims: 16, blocks: 1, heads: 2, maxLen: 8, dropout: 0, attributeBuckets: 8, loss: 'softmax', learningRate: 0.02 };
const step = (itemId: string, time: number): HistoryStep => ({ itemId, type: 'view_item', time });
const idsOnly = (n: number, prefix: string): ItemAttributes[] => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}` }));

/**
 * A log where order decides: each session opens with one of five "key" items, then three random
 * fillers, then the key's own target. The target depends on an item four steps back, outside the
 * three newest steps that item-to-item co-occurrence looks at.
 */
function keyedSessions(count: number, seed: number): { sequences: HistoryStep[][]; cases: RankingCase[] } {
  const random = seededRandom(seed);
  const sequences: HistoryStep[][] = [];
  const cases: RankingCase[] = [];
  for (let s = 0; s < count; s++) {
    const key = Math.floor(random() * 5);
    const fillers = [0, 1, 2].map(() => `f${Math.floor(random() * 10)}`);
    const history = [`k${key}`, ...fillers].map(step);
    if (s % 5 === 0) cases.push({ history, target: `t${key}`, excludeHistory: false });
    else sequences.push([...history, step(`t${key}`, 4)]);
  }
  return { sequences, cases };
}

/** Pure co-visitation: eight groups of four items, each session three of one group in any order. */
function basketSessions(count: number, seed: number): { sequences: HistoryStep[][]; cases: RankingCase[] } {
  const random = seededRandom(seed);
  const sequences: HistoryStep[][] = [];
  const cases: RankingCase[] = [];
  for (let s = 0; s < count; s++) {
    const group = Math.floor(random() * 8);
    const members = [0, 1, 2, 3]
      .sort(() => random() - 0.5)
      .slice(0, 3)
      .map((m) => `g${group * 4 + m}`);
    const steps = members.map(step);
    if (s % 5 === 0) cases.push({ history: steps.slice(0, 2), target: members[2] as string, excludeHistory: false });
    else sequences.push(steps);
  }
  return { sequences, cases };
}

describe('training on every core', () => {
  let workerUrl: URL;
  beforeAll(async () => {
    await setupNodeRuntime('wasm');
    workerUrl = await trainWorkerUrl();
  });

  test('two threads learn what one does, and the same seed gives the same weights', async () => {
    const items = syntheticItems(12);
    const sequences = cyclicHistories(12, 200, [4, 8], 0.05, 3);
    const parameters = new SasRecommender({ items, config: small, seed: 1 }).parameterCount();
    const run = async (threads: number): Promise<{ losses: number[]; weights: Float32Array[] }> => {
      const trainer = await DataParallelTrainer.start({ items, config: small, seed: 1, sequences, threads, parameters, batchTokens: 128, workerUrl });
      const losses: number[] = [];
      for (let epoch = 1; epoch <= 6; epoch++) losses.push((await trainer.epoch(epoch)).loss);
      const weights = (await trainer.weights()).map((w) => w.values);
      await trainer.close();
      return { losses, weights };
    };
    const [one, two, twoAgain] = [await run(1), await run(2), await run(2)];
    for (const r of [one, two]) expect(r.losses[5]).toBeLessThan((r.losses[0] as number) * 0.6);
    // The two-thread step is the one-thread step on the whole batch: the same losses up to rounding.
    expect(Math.abs((two.losses[5] as number) - (one.losses[5] as number))).toBeLessThan(0.15);
    expect(twoAgain.weights.map((w) => Array.from(w))).toEqual(two.weights.map((w) => Array.from(w)));
  }, 120_000);

  test('stops at the deadline, every thread at the same step', async () => {
    const items = syntheticItems(12);
    const sequences = cyclicHistories(12, 4_000, [6, 8], 0.05, 4);
    const parameters = new SasRecommender({ items, config: small, seed: 1 }).parameterCount();
    const trainer = await DataParallelTrainer.start({ items, config: small, seed: 1, sequences, threads: 2, parameters, batchTokens: 64, workerUrl });
    const started = performance.now();
    const result = await trainer.epoch(1, started + 300);
    expect(result.stopped).toBe(true);
    expect(performance.now() - started).toBeLessThan(5_000);
    // Still in lockstep: a full epoch afterwards works.
    expect((await trainer.epoch(2, performance.now() + 600_000)).stopped).toBe(false);
    await trainer.close();
  }, 120_000);

  test('where order matters, the Transformer beats item-to-item co-occurrence', async () => {
    const { sequences, cases } = keyedSessions(1_500, 7);
    const items = [...idsOnly(5, 'k'), ...idsOnly(10, 'f'), ...idsOnly(5, 't')];
    const fit = await fitRecommender({ items, config: small, seed: 1, sequences, validation: cases, minutes: 0, maxEpochs: 25, patience: 25, threads: 2, batchTokens: 256, workerUrl });
    const ranks = blendedRanks(fit.model, cases, [0, 1]);
    const column = (j: number): number[] => cases.map((_, c) => ranks[c * 2 + j] as number);
    const transformer = metricsOf(column(0), 1);
    const cooccurrence = metricsOf(column(1), 1);
    expect(transformer.hr).toBeGreaterThan(0.9);
    expect(cooccurrence.hr).toBeLessThan(0.5);
    // The blend chosen on validation keeps the Transformer's answer.
    expect(fit.validation?.blended.hr ?? 0).toBeGreaterThanOrEqual(transformer.hr - 0.02);
    expect(fit.curve.length).toBeGreaterThan(1);
    fit.model.dispose();
  }, 180_000);

  test('where only co-visitation matters, the served blend matches co-occurrence', async () => {
    const { sequences, cases } = basketSessions(1_500, 8);
    const items = idsOnly(32, 'g');
    const fit = await fitRecommender({ items, config: small, seed: 1, sequences, validation: cases, minutes: 0, maxEpochs: 4, threads: 2, batchTokens: 256, workerUrl });
    const weight = fit.model.config.neighbourWeight;
    const ranks = blendedRanks(fit.model, cases, [weight, 1]);
    const served = metricsOf(
      cases.map((_, c) => ranks[c * 2] as number),
      2,
    );
    const cooccurrence = metricsOf(
      cases.map((_, c) => ranks[c * 2 + 1] as number),
      2,
    );
    expect(cooccurrence.hr).toBeGreaterThan(0.8);
    expect(served.hr).toBeGreaterThanOrEqual(cooccurrence.hr * 0.97);
    fit.model.dispose();
  }, 180_000);

  test('what ships learns the held-out events too: epochs over the whole log after the best one, neighbours counted over it', async () => {
    const { sequences, cases } = basketSessions(600, 9);
    // Behaviour only the whole log holds (as the held-out newest events would): x1 follows x0.
    const newest = Array.from({ length: 150 }, (_, s) => [step('x0', 0), step('x1', 1), step(`g${s % 32}`, 2)]);
    const items = [...idsOnly(32, 'g'), ...idsOnly(2, 'x')];
    const asked: RankingCase[] = [{ history: [step('g5', 0), step('x0', 1)], target: 'x1', excludeHistory: false }];
    const fitWith = (wholeLog?: HistoryStep[][]) =>
      fitRecommender({ items, config: small, seed: 1, sequences, validation: cases, minutes: 0, maxEpochs: 3, threads: 2, batchTokens: 256, workerUrl, ...(wholeLog ? { wholeLog } : {}) });
    const rankOfX1 = (model: SasRecommender): { transformer: number; neighbours: number } => {
      const ranks = blendedRanks(model, asked, [0, 1]);
      return { transformer: ranks[0] as number, neighbours: ranks[1] as number };
    };
    const withoutLog = await fitWith();
    const before = rankOfX1(withoutLog.model);
    expect(withoutLog.finalEpochs).toBe(0);
    withoutLog.model.dispose();
    const withLog = await fitWith([...sequences, ...newest]);
    const after = rankOfX1(withLog.model);
    expect(withLog.finalEpochs).toBe(3);
    expect(withLog.curve.length).toBe(3); // the validation curve is the training part's alone
    // Ranks count from 0: x1 first, where before it was not.
    expect(after.transformer).toBe(0);
    expect(after.neighbours).toBe(0);
    expect(before.transformer).toBeGreaterThan(0);
    expect(before.neighbours).toBeGreaterThan(0);
    withLog.model.dispose();
  }, 180_000);
});
