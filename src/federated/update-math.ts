/**
 * Arithmetic on model updates: lists of named float32 tensors in the model's `getWeights()`
 * order: the device's update (local − global), clipping and on-device noise; the server uses
 * `sizeOf` for the shapes it checks.
 */
import type { NamedWeight } from '../model/contract.js';
import { HearthError } from '../protocol/errors.js';
import { gaussianSampler, type RandomSource } from '../shared/random.js';

/** What clipping did to an update, for the privacy centre and for metrics. */
export interface ClipReport {
  normBefore: number;
  normAfter: number;
  /** The factor every value was multiplied by (1 when the update was within the bound). */
  factor: number;
}

/** Throws unless `a` and `b` have the same tensor names and shapes, in the same order. */
export function assertSameLayout(a: readonly NamedWeight[], b: readonly NamedWeight[], what: string): void {
  const problem = layoutMismatch(a, b);
  if (problem !== undefined) throw new HearthError('invalid_update', `${what}: ${problem}`);
}

/** Describes the first difference between two layouts, or `undefined` when they agree. */
export function layoutMismatch(a: readonly { name: string; shape: readonly number[] }[], b: readonly { name: string; shape: readonly number[] }[]): string | undefined {
  if (a.length !== b.length) return `expected ${b.length} tensors, got ${a.length}`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as { name: string; shape: readonly number[] };
    const y = b[i] as { name: string; shape: readonly number[] };
    if (x.name !== y.name) return `tensor ${i} is "${x.name}", expected "${y.name}"`;
    if (x.shape.length !== y.shape.length || x.shape.some((d, j) => d !== y.shape[j])) {
      return `tensor "${x.name}" has shape [${x.shape.join(',')}], expected [${y.shape.join(',')}]`;
    }
  }
  return undefined;
}

/** Number of values in a tensor of `shape`. */
export function sizeOf(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

/**
 * `local − global`, tensor by tensor (a new list; neither input changes).
 *
 * @example
 * ```ts
 * const update = subtractWeights(model.getWeights(), globalWeights);
 * ```
 */
export function subtractWeights(local: readonly NamedWeight[], global: readonly NamedWeight[]): NamedWeight[] {
  assertSameLayout(local, global, 'local and global models differ');
  return local.map((tensor, i) => {
    const other = (global[i] as NamedWeight).values;
    const values = new Float32Array(tensor.values.length);
    for (let j = 0; j < values.length; j++) values[j] = (tensor.values[j] as number) - (other[j] as number);
    return { name: tensor.name, shape: [...tensor.shape], values };
  });
}

/** The L2 norm of all values of all tensors, as one vector. Accumulates in float64. */
export function l2Norm(tensors: readonly { values: Float32Array }[]): number {
  let sum = 0;
  for (const { values } of tensors) for (let j = 0; j < values.length; j++) sum += (values[j] as number) ** 2;
  return Math.sqrt(sum);
}

/**
 * Scales the update in place so that its L2 norm is at most `bound` (the whole update is one
 * vector, so one user's influence on the sum is bounded by `bound` — the sensitivity DP needs).
 *
 * @example
 * ```ts
 * const { normBefore, normAfter } = clipToNorm(update, 0.5);
 * ```
 */
export function clipToNorm(tensors: readonly { values: Float32Array }[], bound: number): ClipReport {
  if (!(bound > 0) || !Number.isFinite(bound)) throw new HearthError('invalid_argument', `clip bound must be a positive number, got ${bound}`);
  const normBefore = l2Norm(tensors);
  if (normBefore <= bound) return { normBefore, normAfter: normBefore, factor: 1 };
  // A hair under the bound so that float32 rounding can never leave the result above it.
  const factor = (bound / normBefore) * (1 - 1e-6);
  for (const { values } of tensors) for (let j = 0; j < values.length; j++) values[j] = (values[j] as number) * factor;
  return { normBefore, normAfter: l2Norm(tensors), factor };
}

/**
 * Adds independent N(0, sigma²) noise to every value, in place.
 *
 * @example
 * ```ts
 * addGaussianNoise(update, 0.01, secureRandom());
 * ```
 */
export function addGaussianNoise(tensors: readonly { values: Float32Array }[], sigma: number, random: RandomSource): void {
  if (sigma === 0) return;
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new HearthError('invalid_argument', `noise sigma must be >= 0, got ${sigma}`);
  const normal = gaussianSampler(random);
  for (const { values } of tensors) for (let j = 0; j < values.length; j++) values[j] = (values[j] as number) + sigma * normal();
}
