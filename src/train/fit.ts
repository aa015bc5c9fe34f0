/**
 * One training run of a starting model, as `hearth-train` and `bench:quality` do it: train on
 * every core within a time budget, measure full-catalogue NDCG@k on a validation split after each
 * epoch, keep the best epoch's weights (early stopping), then count the item neighbours of the
 * training log and choose the neighbour weight of the blend on the same validation split. Last,
 * what ships learns the held-out events too: a few more epochs from the best weights over the
 * whole log, and the neighbours counted over it.
 * Settings are only ever chosen on validation data; a test split never enters here.
 */
import type { HistoryStep, ItemAttributes, RecommenderConfig } from '../model/contract.js';
import { SasRecommender } from '../model/sasrec-recommender.js';
import { DEFAULT_NEIGHBOURS_PER_ITEM, ItemNeighbours } from '../model/item-neighbours.js';
import { DataParallelTrainer } from './data-parallel.js';
import { metricsOf, type RankingCase, type RankingMetrics } from './evaluate.js';

/**
 * Neighbour weights tried on validation: fine near both ends, where the two datasets' optima lie
 * (Games ~0.3, RetailRocket ~0.9); each costs one pass over the catalogue per validation user.
 */
export const NEIGHBOUR_WEIGHT_GRID: readonly number[] = [0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95];

/**
 * Epochs over the whole log after the best epoch. Chosen by nested validation on Amazon Games
 * (choose the epoch on each user's third-to-last item, train on, score the second-to-last; no last
 * item involved): NDCG@10 blended 0.0706 → 0.0727, 0.0750, 0.0752 after 1, 2, 3 epochs.
 */
export const DEFAULT_FINAL_EPOCHS = 3;

/**
 * Epochs without a better validation NDCG before training stops. 5, not 3: the Games validation
 * curve dips for two or three epochs at a time, and in the nested-validation run above the model
 * that patience 3 had stopped still gained 12 % (Transformer alone) from three more epochs.
 */
export const DEFAULT_PATIENCE = 5;

export interface FitOptions {
  items: ItemAttributes[];
  config: Partial<RecommenderConfig>;
  seed: number;
  sequences: HistoryStep[][];
  /** Held-out next items; empty: no early stopping, no blend tuning (the config's weight is kept). */
  validation: RankingCase[];
  /** Cut-off of the validation metric (NDCG@k). Default 10. */
  k?: number;
  /** Training time budget in minutes (0: none; then `maxEpochs` bounds it). */
  minutes: number;
  maxEpochs: number;
  /** Epochs without a better validation NDCG before training stops. Default {@link DEFAULT_PATIENCE}. */
  patience?: number;
  /** Validation cases scored after each epoch (a random subset when there are more). Default 3,000. */
  epochValidationCases?: number;
  /** Validation cases for choosing the neighbour weight (a random subset). Default 10,000. */
  tuningCases?: number;
  threads: number;
  backend?: 'wasm' | 'cpu';
  batchSize?: number;
  batchTokens?: number;
  /** Count item neighbours and tune their weight (default true). */
  neighbours?: boolean;
  /** Neighbours kept per item (default {@link DEFAULT_NEIGHBOURS_PER_ITEM}). */
  neighboursPerItem?: number;
  /**
   * The whole log, held-out events included (the same items as `sequences`). Once the best epoch
   * and the neighbour weight are chosen, the Transformer trains `finalEpochs` more epochs over it
   * and the shipped neighbours count it, so the model learns the newest behaviour too. Without
   * it the best epoch ships as it is, with neighbours counted over `sequences`.
   */
  wholeLog?: HistoryStep[][];
  /** Epochs over `wholeLog` (default {@link DEFAULT_FINAL_EPOCHS}; the time budget bounds them). */
  finalEpochs?: number;
  workerUrl?: URL;
  log?: (line: string) => void;
}

export interface CurvePoint {
  epoch: number;
  /** Seconds since training started, when the epoch ended. */
  seconds: number;
  loss: number;
  /** Validation NDCG@k of the Transformer alone. */
  ndcg: number;
}

export interface FitResult {
  /** The best epoch's model (trained on over the whole log when given), with neighbours and the chosen neighbour weight. Dispose it. */
  model: SasRecommender;
  curve: CurvePoint[];
  epochs: number;
  bestEpoch: number;
  stoppedBy: 'budget' | 'patience' | 'epochs';
  /** Epochs run over the whole log after the best one (0 without `wholeLog`). */
  finalEpochs: number;
  trainSeconds: number;
  /** Training positions per second over the whole run (validation time excluded). */
  positionsPerSecond: number;
  threads: number;
  /** Validation metrics of the Transformer alone and blended at the chosen weight. */
  validation: { model: RankingMetrics; blended: RankingMetrics; neighbourWeight: number } | null;
}

/** A seeded subset of `cases` of at most `limit` (all of them when there are fewer). */
function subset<T>(cases: readonly T[], limit: number, seed: number): T[] {
  if (cases.length <= limit) return [...cases];
  let state = seed >>> 0;
  const keyed = cases.map((c) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return { c, key: state };
  });
  return keyed
    .sort((a, b) => a.key - b.key)
    .slice(0, limit)
    .map((x) => x.c);
}

/**
 * @example
 * ```ts
 * const fit = await fitRecommender({ items, config, seed: 1, sequences, validation, minutes: 8, maxEpochs: 200, threads: 2 });
 * console.log(fit.curve, fit.validation);
 * saveModelArtifacts(fit.model);
 * ```
 */
export async function fitRecommender(options: FitOptions): Promise<FitResult> {
  const log = options.log ?? (() => undefined);
  const k = options.k ?? 10;
  const patience = options.patience ?? DEFAULT_PATIENCE;
  const wholeLog = options.wholeLog;
  const finalEpochs = wholeLog ? Math.max(0, Math.floor(options.finalEpochs ?? DEFAULT_FINAL_EPOCHS)) : 0;
  const perItem = options.neighboursPerItem ?? DEFAULT_NEIGHBOURS_PER_ITEM;
  const countNeighbours = (sequences: readonly HistoryStep[][]): ItemNeighbours =>
    ItemNeighbours.count(
      sequences.map((s) => model.rowsOf(s.map((step) => step.itemId))),
      options.items.length + 1,
      perItem,
    );
  const model = new SasRecommender({ items: options.items, config: options.config, seed: options.seed });
  const epochCases = subset(options.validation, options.epochValidationCases ?? 3_000, options.seed);
  const trainer = await DataParallelTrainer.start({
    items: options.items,
    config: options.config,
    seed: options.seed,
    sequences: options.sequences,
    threads: options.threads,
    parameters: model.parameterCount(),
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    ...(options.batchTokens ? { batchTokens: options.batchTokens } : {}),
    ...(options.workerUrl ? { workerUrl: options.workerUrl } : {}),
  });
  try {
    const started = performance.now();
    const budgetMs = options.minutes > 0 ? options.minutes * 60_000 : Number.POSITIVE_INFINITY;
    const curve: CurvePoint[] = [];
    let best = { ndcg: -1, epoch: 0, weights: model.getWeights() };
    let trainMs = 0;
    let positions = 0;
    let lastEvalMs = 0;
    let lastEpochMs = 0;
    let stoppedBy: FitResult['stoppedBy'] = 'epochs';
    for (let epoch = 1; epoch <= options.maxEpochs; epoch++) {
      // Leave time to validate the last epoch and tune the blend (about three validations), and
      // for the epochs over the whole log.
      const deadline = started + budgetMs - 3 * lastEvalMs - finalEpochs * lastEpochMs;
      if (performance.now() >= deadline - 1_000) {
        stoppedBy = 'budget';
        break;
      }
      const epochStart = performance.now();
      const result = await trainer.epoch(options.seed * 1_000 + epoch, deadline);
      lastEpochMs = performance.now() - epochStart;
      trainMs += lastEpochMs;
      positions += result.positions;
      if (result.steps === 0) {
        stoppedBy = 'budget';
        break;
      }
      const evalStart = performance.now();
      const ndcg = epochCases.length > 0 ? metricsOf(await trainer.evaluate(epochCases, [0]), k).ndcg : Number.NaN;
      lastEvalMs = performance.now() - evalStart;
      const seconds = (performance.now() - started) / 1000;
      curve.push({ epoch, seconds, loss: result.loss, ndcg });
      const rate = result.positions / ((evalStart - epochStart) / 1000);
      log(
        `epoch ${epoch}${result.stopped ? ' (partial)' : ''}: ${seconds.toFixed(0)} s, loss ${result.loss.toFixed(4)}, ${rate.toFixed(0)} positions/s on ${trainer.threadCount} threads, validation NDCG@${k} ${ndcg.toFixed(4)}`,
      );
      if (!(ndcg <= best.ndcg)) best = { ndcg, epoch, weights: await trainer.weights() };
      if (result.stopped) {
        stoppedBy = 'budget';
        break;
      }
      if (epochCases.length > 0 && epoch - best.epoch >= patience) {
        stoppedBy = 'patience';
        break;
      }
    }
    model.setWeights(best.weights);
    if (best.epoch > 0) log(`best epoch ${best.epoch} (validation NDCG@${k} ${best.ndcg.toFixed(4)})`);

    let validation: FitResult['validation'] = null;
    if (options.neighbours !== false) {
      const neighbours = countNeighbours(options.sequences);
      model.setNeighbours(neighbours);
      if (epochCases.length > 0) {
        // The best weights onto the threads, then every candidate weight on the same cases.
        const table = { offsets: neighbours.offsets, ids: neighbours.ids, counts: neighbours.counts };
        await trainer.setNeighbours(table);
        if (best.epoch !== curve.length) await trainer.setWeights(best.weights);
        const tuned = await tuneNeighbourWeight(trainer, subset(options.validation, options.tuningCases ?? 10_000, options.seed + 1), k);
        model.setNeighbourWeight(tuned.weight);
        validation = { model: tuned.byWeight[0] as RankingMetrics, blended: tuned.best, neighbourWeight: tuned.weight };
        log(`neighbour weight ${tuned.weight} on validation: NDCG@${k} ${tuned.best.ndcg.toFixed(4)} (Transformer alone ${(tuned.byWeight[0] as RankingMetrics).ndcg.toFixed(4)})`);
        log(`  by weight: ${NEIGHBOUR_WEIGHT_GRID.map((w, j) => `${w}:${(tuned.byWeight[j] as RankingMetrics).ndcg.toFixed(4)}`).join(' ')}`);
      }
    }

    let finalRun = 0;
    if (wholeLog && finalEpochs > 0) {
      // From the best weights (with a fresh optimizer, as the nested validation did it).
      await trainer.setSequences(wholeLog);
      await trainer.setWeights(best.weights);
      for (let e = 1; e <= finalEpochs; e++) {
        const deadline = started + budgetMs;
        if (performance.now() >= deadline - 1_000) break;
        const epochStart = performance.now();
        const result = await trainer.epoch(options.seed * 1_000 + curve.length + e, deadline);
        trainMs += performance.now() - epochStart;
        positions += result.positions;
        if (result.steps === 0) break;
        finalRun = e;
        log(`epoch ${curve.length + e} over the whole log${result.stopped ? ' (partial)' : ''}: ${((performance.now() - started) / 1000).toFixed(0)} s, loss ${result.loss.toFixed(4)}`);
        if (result.stopped) break;
      }
      if (finalRun > 0) model.setWeights(await trainer.weights());
    }
    if (wholeLog && options.neighbours !== false) model.setNeighbours(countNeighbours(wholeLog));
    const trainSeconds = trainMs / 1000;
    return {
      model,
      curve,
      epochs: curve.length,
      bestEpoch: best.epoch,
      stoppedBy,
      finalEpochs: finalRun,
      trainSeconds,
      positionsPerSecond: positions / Math.max(1e-3, trainSeconds),
      threads: trainer.threadCount,
      validation,
    };
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    await trainer.close();
  }
}

async function tuneNeighbourWeight(trainer: DataParallelTrainer, cases: readonly RankingCase[], k: number): Promise<{ weight: number; best: RankingMetrics; byWeight: RankingMetrics[] }> {
  const grid = NEIGHBOUR_WEIGHT_GRID;
  const ranks = await trainer.evaluate(cases, grid);
  const byWeight = grid.map((_, j) =>
    metricsOf(
      Int32Array.from({ length: cases.length }, (_, c) => ranks[c * grid.length + j] as number),
      k,
    ),
  );
  let bestIndex = 0;
  byWeight.forEach((m, j) => {
    if (m.ndcg > (byWeight[bestIndex] as RankingMetrics).ndcg) bestIndex = j;
  });
  return { weight: grid[bestIndex] as number, best: byWeight[bestIndex] as RankingMetrics, byWeight };
}
