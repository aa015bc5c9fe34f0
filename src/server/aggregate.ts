/**
 * Aggregation rules. Every update is one flat Float32Array (all tensors concatenated in the
 * model's order); the rules are pure functions so that they can be tested on their own.
 */
import { gaussianSampler, type RandomSource } from '../shared/random.js';

export type AggregatorName = 'fedavg' | 'fedadam';
export type RobustRule = 'none' | 'median' | 'trimmed-mean';

/**
 * Weighted mean of the updates (FedAvg, McMahan et al. 2017). Weights default to 1 each.
 *
 * @example
 * ```ts
 * const delta = weightedMean([u1, u2], [1, 3]);
 * ```
 */
export function weightedMean(updates: readonly Float32Array[], weights?: readonly number[]): Float32Array {
  const first = updates[0];
  if (!first) throw new RangeError('no updates to average');
  const w = weights ?? updates.map(() => 1);
  const total = w.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new RangeError('weights must sum to a positive number');
  const sum = new Float64Array(first.length);
  updates.forEach((u, k) => {
    const wk = w[k] as number;
    for (let i = 0; i < u.length; i++) sum[i] = (sum[i] as number) + wk * (u[i] as number);
  });
  const out = new Float32Array(first.length);
  for (let i = 0; i < out.length; i++) out[i] = (sum[i] as number) / total;
  return out;
}

/**
 * DP-FedAvg's noisy mean (McMahan et al., ICLR 2018): the sum of (already clipped) updates plus
 * N(0, (noiseMultiplier · clip)²) per coordinate, divided by the number of updates. One user's
 * update moves the sum by at most `clip`, so the noise multiplier is the σ of the accountant.
 */
export function noisyMean(updates: readonly Float32Array[], clip: number, noiseMultiplier: number, random: RandomSource): Float32Array {
  const first = updates[0];
  if (!first) throw new RangeError('no updates to average');
  const sum = new Float64Array(first.length);
  for (const u of updates) for (let i = 0; i < u.length; i++) sum[i] = (sum[i] as number) + (u[i] as number);
  const out = new Float32Array(first.length);
  const std = noiseMultiplier * clip;
  const normal = gaussianSampler(random);
  for (let i = 0; i < out.length; i++) out[i] = ((sum[i] as number) + (std > 0 ? std * normal() : 0)) / updates.length;
  return out;
}

/**
 * Coordinate-wise median (Yin et al. 2018): robust to a minority of arbitrary (poisoned) updates.
 *
 * @example
 * ```ts
 * coordinateMedian([a, b, c]);
 * ```
 */
export function coordinateMedian(updates: readonly Float32Array[]): Float32Array {
  return coordinateWise(updates, (column) => {
    const m = column.length;
    const mid = m >> 1;
    return m % 2 === 1 ? (column[mid] as number) : ((column[mid - 1] as number) + (column[mid] as number)) / 2;
  });
}

/**
 * Coordinate-wise trimmed mean: drops the `trim` fraction of the smallest and of the largest
 * values of every coordinate, then averages the rest.
 */
export function trimmedMean(updates: readonly Float32Array[], trim: number): Float32Array {
  if (!(trim >= 0 && trim < 0.5)) throw new RangeError(`trim must be in [0, 0.5), got ${trim}`);
  const cut = Math.floor(trim * updates.length);
  return coordinateWise(updates, (column) => {
    let sum = 0;
    for (let k = cut; k < column.length - cut; k++) sum += column[k] as number;
    return sum / (column.length - 2 * cut);
  });
}

function coordinateWise(updates: readonly Float32Array[], reduce: (sortedColumn: Float64Array) => number): Float32Array {
  const first = updates[0];
  if (!first) throw new RangeError('no updates to aggregate');
  const m = updates.length;
  const column = new Float64Array(m);
  const out = new Float32Array(first.length);
  for (let i = 0; i < out.length; i++) {
    for (let k = 0; k < m; k++) column[k] = (updates[k] as Float32Array)[i] as number;
    column.sort();
    out[i] = reduce(column);
  }
  return out;
}

/** FedAdam's server state: first and second moments of the pseudo-gradient. */
export interface AdamState {
  m: Float32Array;
  v: Float32Array;
}

export interface FedAdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  /** Adaptivity τ; Reddi et al. use 1e-3 in most experiments. */
  tau?: number;
}

/**
 * One FedAdam step (Reddi et al., "Adaptive Federated Optimization", ICLR 2021, Algorithm 2):
 * the averaged update Δ is the (negated) pseudo-gradient; m ← β1·m + (1−β1)·Δ,
 * v ← β2·v + (1−β2)·Δ², x ← x + η·m / (√v + τ). No bias correction, as in the paper.
 * Updates `weights` and `state` in place.
 */
export function fedAdamStep(weights: Float32Array, delta: Float32Array, state: AdamState, options: FedAdamOptions): void {
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.99;
  const tau = options.tau ?? 1e-3;
  const lr = options.learningRate;
  for (let i = 0; i < weights.length; i++) {
    const d = delta[i] as number;
    const m = beta1 * (state.m[i] as number) + (1 - beta1) * d;
    const v = beta2 * (state.v[i] as number) + (1 - beta2) * d * d;
    state.m[i] = m;
    state.v[i] = v;
    weights[i] = (weights[i] as number) + (lr * m) / (Math.sqrt(v) + tau);
  }
}

/** FedAvg's server step: x ← x + η·Δ (η = 1 is plain FedAvg). In place. */
export function fedAvgStep(weights: Float32Array, delta: Float32Array, learningRate: number): void {
  for (let i = 0; i < weights.length; i++) weights[i] = (weights[i] as number) + learningRate * (delta[i] as number);
}

/** Scales `update` in place to L2 norm at most `bound`; returns the norm before. */
export function clipFlat(update: Float32Array, bound: number): number {
  let sum = 0;
  for (let i = 0; i < update.length; i++) sum += (update[i] as number) ** 2;
  const norm = Math.sqrt(sum);
  if (norm > bound) {
    const factor = (bound / norm) * (1 - 1e-6);
    for (let i = 0; i < update.length; i++) update[i] = (update[i] as number) * factor;
  }
  return norm;
}
