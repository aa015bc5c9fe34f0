/**
 * The numbers a secure round's clients and server must agree on: the threshold of the secret
 * sharing, the integer grid of the updates, the sensitivity after rounding, and the noise each
 * client adds. Derived from the server's settings and the model's size alone, by one function on
 * both sides.
 */
import { HearthError } from '../../protocol/errors.js';

/** Shamir shares are points of GF(2^8): at most 255 holders. */
export const MAX_COHORT = 255;

/**
 * How many of the `n` clients that received shares must answer the unmasking: ⌈2n/3⌉, and never
 * fewer than `minClients` (so a published sum has at least that many inputs) nor than 2.
 *
 * Above n/2, no two disjoint sets of answers can both reach it, so an honest client — which
 * reveals, for each peer, either the self-mask share or the key share, never both — can never
 * help the server open both halves of one update. It also lets up to a third of the cohort drop
 * out after sending shares.
 *
 * @example
 * ```ts
 * sharingThreshold(30, 10); // 20
 * ```
 */
export function sharingThreshold(n: number, minClients: number): number {
  return Math.min(n, Math.max(2, minClients, Math.ceil((2 * n) / 3)));
}

/** The integer grid and privacy parameters of one secure round. */
export interface GridParams {
  /** Integer units per unit of update: a coordinate x travels as round(x · scale). */
  scale: number;
  /** L2 sensitivity on the grid: clip · scale + √d (stochastic rounding moves each coordinate < 1). */
  l2Sensitivity: number;
  /** L1 sensitivity on the grid: Δ₂ · min(√d, Δ₂) (Kairouz et al. 2021, for integer vectors). */
  l1Sensitivity: number;
  /** Variance of the noise in the sum, on the grid: (z · clip · scale)²; 0 without DP. */
  targetVariance: number;
}

/** Grid points per √d of clip: the rounding's share of the sensitivity is 1/GRID_FACTOR. */
const GRID_FACTOR = 128;

/**
 * The grid for a model of `dim` values clipped to `clip`, with noise multiplier `z`, for cohorts
 * of up to `maxClients`. The scale puts the clipped norm at 128·√d grid points, so rounding
 * adds under 1 % to the sensitivity; the check that follows makes sure that the sum of every
 * client's largest possible coordinate and 40 standard deviations of noise fit in a signed 32-bit
 * word, so an honest sum never wraps around the modulus.
 *
 * @example
 * ```ts
 * const grid = gridParams({ dim: 100_000, clip: 1, noiseMultiplier: 1, maxClients: 50 });
 * ```
 */
export function gridParams(options: { dim: number; clip: number; noiseMultiplier: number; maxClients: number }): GridParams {
  const { dim, clip, noiseMultiplier, maxClients } = options;
  if (!Number.isSafeInteger(dim) || dim < 1) throw new HearthError('invalid_options', `dim must be a positive integer, got ${dim}`);
  if (!(clip > 0) || !Number.isFinite(clip)) throw new HearthError('invalid_options', `clip must be a positive number, got ${clip}`);
  if (!(noiseMultiplier >= 0) || !Number.isFinite(noiseMultiplier)) throw new HearthError('invalid_options', `noise multiplier must be >= 0, got ${noiseMultiplier}`);
  const root = Math.sqrt(dim);
  const scaled = GRID_FACTOR * root;
  const l2 = scaled + root;
  const sigma = noiseMultiplier * scaled;
  const worst = maxClients * l2 + 40 * sigma;
  if (worst >= 2 ** 31) {
    throw new HearthError(
      'invalid_options',
      `a sum of ${maxClients} clients with noise multiplier ${noiseMultiplier} over ${dim} values would not fit 32 bits; use a smaller cohort or noise multiplier`,
    );
  }
  return { scale: scaled / clip, l2Sensitivity: l2, l1Sensitivity: l2 * Math.min(root, l2), targetVariance: sigma * sigma };
}

/**
 * The Skellam variance each client adds: the target spread over the `planned` clients whose
 * inputs are expected in the sum. Fewer in the sum (dropouts after masking) means less noise than
 * planned; the server accounts for what was actually summed.
 */
export function localVariance(grid: GridParams, planned: number): number {
  if (!Number.isSafeInteger(planned) || planned < 1) throw new HearthError('invalid_options', `planned clients must be a positive integer, got ${planned}`);
  return grid.targetVariance / planned;
}
