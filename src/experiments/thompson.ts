/**
 * Thompson sampling for `hearth.optimise()`: each arm's success probability has a Beta posterior,
 * the shop-wide prior (from the private aggregate, arriving with the global model) updated with
 * this device's own successes and failures; each showing draws one value per arm and shows the
 * arm with the largest (Thompson 1933; Chapelle & Li, "An Empirical Evaluation of Thompson
 * Sampling", NIPS 2011).
 */
import { gaussianSampler, type RandomSource } from '../shared/random.js';

/**
 * One Gamma(shape, 1) variate by Marsaglia & Tsang, "A Simple Method for Generating Gamma
 * Variables" (ACM TOMS 2000), with the boost Gamma(a) = Gamma(a + 1) · U^(1/a) for a < 1.
 */
export function sampleGamma(shape: number, random: RandomSource, normal: () => number = gaussianSampler(random)): number {
  if (!(shape > 0) || !Number.isFinite(shape)) throw new RangeError(`Gamma shape must be a finite number > 0, got ${shape}`);
  if (shape < 1) return sampleGamma(shape + 1, random, normal) * Math.pow(1 - random(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (u < 1 - 0.0331 * x * x * x * x) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** One Beta(a, b) variate: X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b). */
export function sampleBeta(a: number, b: number, random: RandomSource, normal: () => number = gaussianSampler(random)): number {
  const x = sampleGamma(a, random, normal);
  const y = sampleGamma(b, random, normal);
  return x + y > 0 ? x / (x + y) : 0.5;
}

/**
 * The arm Thompson sampling shows: the index of the largest Beta draw.
 *
 * @example
 * ```ts
 * chooseArm([[1, 1], [3, 1]], secureRandom()); // 1 most of the time
 * ```
 */
export function chooseArm(posteriors: readonly (readonly [number, number])[], random: RandomSource): number {
  const normal = gaussianSampler(random);
  let best = 0;
  let bestDraw = -1;
  posteriors.forEach(([a, b], i) => {
    const draw = sampleBeta(a, b, random, normal);
    if (draw > bestDraw) {
      bestDraw = draw;
      best = i;
    }
  });
  return best;
}

/** How strong a shop-wide prior may be, in pseudo-observations: weak enough that a device's own rewards soon count. */
export const MAX_PRIOR_STRENGTH = 50;

/**
 * The shop-wide Beta prior of an arm from private aggregate counts (estimated showings and rewards,
 * which may be noisy or negative): Beta(1 + rewards, 1 + misses), scaled down to at most
 * {@link MAX_PRIOR_STRENGTH} pseudo-observations with its mean kept.
 *
 * @example
 * ```ts
 * priorFromCounts(1000, 50); // [2.5, 47.5]
 * ```
 */
export function priorFromCounts(shown: number, rewarded: number, strength = MAX_PRIOR_STRENGTH): [number, number] {
  const n = Math.max(0, Number.isFinite(shown) ? shown : 0);
  const s = Math.min(n, Math.max(0, Number.isFinite(rewarded) ? rewarded : 0));
  let a = 1 + s;
  let b = 1 + (n - s);
  if (a + b > strength) {
    const k = strength / (a + b);
    a = Math.max(a * k, 0.05);
    b = Math.max(b * k, 0.05);
  }
  return [a, b];
}
