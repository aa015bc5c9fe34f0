/**
 * Distributed differential privacy with the Skellam mechanism (Agarwal, Kairouz & Liu, "The
 * Skellam Mechanism for Differentially Private Federated Learning", NeurIPS 2021).
 *
 * Each client scales its clipped update to the integer grid, rounds it stochastically, and adds
 * Skellam noise of variance μ_i per coordinate: Poisson(μ_i/2) − Poisson(μ_i/2). Skellam is closed
 * under summation, so the sum of the survivors' inputs carries exactly Skellam(Σ μ_i) noise — the
 * target σ when every planned client is in the sum, less when some dropped (the accountant is told
 * the real figure). No party, the server included, ever sees a less-noised sum: the sum is all the
 * server can unmask.
 */
import { HearthError } from '../../protocol/errors.js';
import type { RandomSource } from '../../shared/random.js';

/** log k! for k < 10, exactly; Stirling's series beyond (error < 1e-13 there). */
const LOG_FACTORIAL = [0, 0, Math.log(2), Math.log(6), Math.log(24), Math.log(120), Math.log(720), Math.log(5040), Math.log(40320), Math.log(362880)];

function logFactorial(k: number): number {
  if (k < 10) return LOG_FACTORIAL[k] as number;
  const x = k + 1;
  const x2 = x * x;
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + (1 / 12 - (1 / 360 - 1 / (1260 * x2)) / x2) / x;
}

/**
 * One Poisson(λ) variate. Inversion by sequential search for λ < 10; Hörmann's transformed
 * rejection with squeeze (PTRS, "The transformed rejection method for generating Poisson random
 * variables", 1993) otherwise — the algorithm of NumPy's generator, exact up to floating point.
 */
export function poisson(lambda: number, random: RandomSource): number {
  if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new RangeError(`Poisson mean must be finite and >= 0, got ${lambda}`);
  if (lambda === 0) return 0;
  if (lambda < 10) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let product = random();
    while (product > limit) {
      k++;
      product *= random();
    }
    return k;
  }
  const slam = Math.sqrt(lambda);
  const logLambda = Math.log(lambda);
  const b = 0.931 + 2.53 * slam;
  const a = -0.059 + 0.02483 * b;
  const invAlpha = 1.1239 + 1.1328 / (b - 3.4);
  const vr = 0.9277 - 3.6224 / (b - 2);
  for (;;) {
    const u = random() - 0.5;
    const v = random();
    const us = 0.5 - Math.abs(u);
    const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43);
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (Math.log(v) + Math.log(invAlpha) - Math.log(a / (us * us) + b) <= -lambda + k * logLambda - logFactorial(k)) return k;
  }
}

/**
 * One symmetric Skellam variate of variance `variance` (mean 0).
 *
 * @example
 * ```ts
 * const noise = skellam(1e6, secureRandom());
 * ```
 */
export function skellam(variance: number, random: RandomSource): number {
  const half = variance / 2;
  return poisson(half, random) - poisson(half, random);
}

/**
 * Scales `values` (an update already clipped to L2 ≤ `clip`) by `scale`, rounds each coordinate
 * stochastically (unbiased: `floor(y + u)`), adds Skellam noise of `variance` per coordinate when
 * it is positive, and writes the result modulo 2^32 into a new `Uint32Array`.
 *
 * Rounding moves each coordinate by less than 1, so the rounded vector's L2 norm is below
 * `clip · scale + √d` whatever the rounding draws: the sensitivity the accountant uses.
 */
export function encodeToGrid(values: Float32Array, scale: number, variance: number, random: RandomSource): Uint32Array {
  if (!(scale > 0) || !Number.isFinite(scale)) throw new HearthError('invalid_options', `scale must be a positive number, got ${scale}`);
  if (!(variance >= 0) || !Number.isFinite(variance)) throw new HearthError('invalid_options', `noise variance must be >= 0, got ${variance}`);
  const out = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) throw new HearthError('invalid_update', 'cannot encode an update with NaN or infinite values');
    let q = Math.floor(v * scale + random());
    if (variance > 0) q += skellam(variance, random);
    out[i] = q >>> 0;
  }
  return out;
}

/** The inverse of the grid: the centred modular sum divided by the scale, as float32. */
export function decodeFromGrid(sum: Int32Array, scale: number): Float32Array {
  const out = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = (sum[i] as number) / scale;
  return out;
}
