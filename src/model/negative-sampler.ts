/**
 * Negatives for the sampled softmax, drawn in proportion to how often each item is a training
 * target, with the log Q correction that makes the sampled loss estimate the full softmax
 * (Yi et al., "Sampling-bias-corrected neural modeling", RecSys 2019; Jean et al., ACL 2015).
 *
 * Why frequency and not uniform: on a long-tailed catalogue, uniform negatives are almost all
 * items nobody buys, which the model separates from the target after a few steps; the items that
 * actually compete for the top of a full-catalogue ranking are the popular ones. Sampling them
 * more often, and correcting each logit by the log of its expected count, keeps the estimator
 * unbiased while the gradient goes where the ranking is decided.
 */
import type { Random } from './random.js';

/**
 * Smoothing of the frequencies: q ∝ (count + 1)^SAMPLING_EXPONENT. Below 1 it flattens the head,
 * so the tail is still seen; chosen on the Games validation split.
 */
export const SAMPLING_EXPONENT = 0.75;

export class NegativeSampler {
  /** Cumulative distribution over rows 1..size-1 (row 0 is padding and never drawn). */
  private readonly cumulative: Float64Array;
  /** log(q_row) for every row (row 0: 0). */
  readonly logQ: Float32Array;

  /** `counts[row]`: how often each vocabulary row is a training target (row 0 ignored). */
  constructor(counts: ArrayLike<number>) {
    const size = counts.length;
    const weights = new Float64Array(size);
    let total = 0;
    for (let row = 1; row < size; row++) {
      const w = Math.pow((counts[row] as number) + 1, SAMPLING_EXPONENT);
      weights[row] = w;
      total += w;
    }
    this.cumulative = new Float64Array(size);
    this.logQ = new Float32Array(size);
    let running = 0;
    for (let row = 1; row < size; row++) {
      running += (weights[row] as number) / total;
      this.cumulative[row] = running;
      this.logQ[row] = Math.log((weights[row] as number) / total);
    }
    this.cumulative[size - 1] = 1;
  }

  /** `k` rows drawn with replacement. */
  sample(k: number, random: Random): Int32Array {
    const out = new Int32Array(k);
    const c = this.cumulative;
    for (let i = 0; i < k; i++) {
      const u = random();
      // The first row whose cumulative share exceeds u.
      let lo = 1;
      let hi = c.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((c[mid] as number) > u) hi = mid;
        else lo = mid + 1;
      }
      out[i] = lo;
    }
    return out;
  }
}
