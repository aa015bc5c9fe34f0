/**
 * The statistics of an experiment from its private aggregates: per-variant rates, the difference
 * and the relative uplift against the control with 95 % intervals, and an always-valid sequential
 * test — all with the differential-privacy noise in the variance.
 *
 * The data of one experiment combine two independent parts:
 * - the **vector** part, sums of the 0/1 rows devices sent through rounds (secure or central), each
 *   round's release carrying Gaussian (or Skellam) noise of a known variance per cell;
 * - the **randomized-response** part, a tally of privatised categories with its unbiased estimator.
 *
 * Every quantity is a ratio of estimated counts, Ĉ/N̂ (conversions over exposed shoppers), or a
 * function of two such ratios. Its variance comes from the delta method: a linear combination
 * L = Σ_v (a_v N̂_v + b_v Ĉ_v) of the counts has, in the vector part, the sampling variance of the
 * shoppers (devices are independent draws; a device is in one variant and its metric is 0/1) plus
 * the noise, Σ a_v² σ²(N_v) + b_v² σ²(C_v); in the randomized-response part, the variance of the
 * same combination of category estimates (see `linearVariance`). The parts add.
 *
 * The sequential test is the mixture sequential probability ratio test (mSPRT) of Johari, Koomen,
 * Pekelis & Walsh, "Always Valid Inference: Continuous Monitoring of A/B Tests" (Operations Research
 * 2022; Robbins 1970 for the normal mixture), on θ = p_B − p_A with a N(0, τ²) mixing distribution
 * (τ a fraction of the pooled rate): for an estimate θ̂ with variance V,
 *   Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²))),
 * and the always-valid p-value is the running minimum of 1/Λ over every look; rejecting when it
 * falls below α keeps the false-positive rate at most α however often one looks. The DP noise of
 * each release is independent of the others, so the estimates remain a process with independent
 * increments and the mixture martingale argument holds with V including the noise. Inverting the
 * test gives the always-valid confidence sequence θ̂ ± √(V(V+τ²)/τ² · (2 log(1/α) + log((V+τ²)/V))).
 */
import { linearVariance, type RrParams, type RrTally, estimateCounts } from './randomized-response.js';
import { outcomeOfCategory } from './layout.js';

/** z of a two-sided 95 % normal interval. */
export const Z95 = 1.959963984540054;

/** The aggregates of one experiment, in its own cell order: variant v's row is cells v·(1+m) … v·(1+m)+m. */
export interface ExperimentTotals {
  variants: number;
  metrics: number;
  vector: {
    /** Noisy sums per cell. */
    cells: number[];
    /** Variance of the noise in each sum (the releases' variances added up). */
    noiseVariance: number[];
  };
  rr?: { params: RrParams; tally: RrTally };
}

/** An empty aggregate. */
export function emptyTotals(variants: number, metrics: number): ExperimentTotals {
  const n = variants * (1 + metrics);
  return { variants, metrics, vector: { cells: new Array<number>(n).fill(0), noiseVariance: new Array<number>(n).fill(0) } };
}

/** Estimated exposed shoppers (N̂_v) and conversions (Ĉ_vj) of every variant, both parts added. */
export function estimatedCounts(totals: ExperimentTotals): { exposed: number[]; conversions: number[][] } {
  const { variants, metrics } = totals;
  const row = 1 + metrics;
  const exposed = Array.from({ length: variants }, (_, v) => totals.vector.cells[v * row] ?? 0);
  const conversions = Array.from({ length: variants }, (_, v) => Array.from({ length: metrics }, (_, j) => totals.vector.cells[v * row + 1 + j] ?? 0));
  if (totals.rr && totals.rr.tally.n > 0) {
    const estimates = estimateCounts(totals.rr.params, totals.rr.tally);
    estimates.forEach((count, category) => {
      const { variant, bits } = outcomeOfCategory(metrics, category);
      exposed[variant] = (exposed[variant] ?? 0) + count;
      bits.forEach((bit, j) => {
        if (bit) (conversions[variant] as number[])[j] = ((conversions[variant] as number[])[j] ?? 0) + count;
      });
    });
  }
  return { exposed, conversions };
}

/**
 * Variance of L = Σ_v (a_v N̂_v + b_v Ĉ_vj) for one metric j, where `rates[v]` is the plug-in rate
 * of metric j in variant v (used for the shoppers' sampling variance). See the module comment.
 */
export function combinationVariance(totals: ExperimentTotals, metric: number, a: readonly number[], b: readonly number[], rates: readonly number[]): number {
  const { variants, metrics } = totals;
  const row = 1 + metrics;
  const { exposed } = vectorCounts(totals);
  const devices = exposed.reduce((s, x) => s + Math.max(0, x), 0);
  let sampling = 0;
  let mean = 0;
  let noise = 0;
  for (let v = 0; v < variants; v++) {
    const n = Math.max(0, exposed[v] as number);
    const p = clamp01(rates[v] as number);
    const av = a[v] ?? 0;
    const bv = b[v] ?? 0;
    // One device of variant v contributes a_v + b_v·c with c ~ Bernoulli(p).
    sampling += n * (av * av + 2 * av * bv * p + bv * bv * p);
    mean += n * (av + bv * p);
    noise += av * av * (totals.vector.noiseVariance[v * row] ?? 0) + bv * bv * (totals.vector.noiseVariance[v * row + 1 + metric] ?? 0);
  }
  let variance = Math.max(0, sampling - (devices > 0 ? (mean * mean) / devices : 0)) + noise;
  if (totals.rr && totals.rr.tally.n > 0) {
    const d = totals.rr.params.d;
    const g = new Array<number>(d);
    for (let category = 0; category < d; category++) {
      const { variant, bits } = outcomeOfCategory(metrics, category);
      g[category] = (a[variant] ?? 0) + (bits[metric] ? (b[variant] ?? 0) : 0);
    }
    variance += linearVariance(totals.rr.params, totals.rr.tally, g);
  }
  return variance;
}

function vectorCounts(totals: ExperimentTotals): { exposed: number[] } {
  const row = 1 + totals.metrics;
  return { exposed: Array.from({ length: totals.variants }, (_, v) => totals.vector.cells[v * row] ?? 0) };
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

/** A rate with its standard error and 95 % interval. */
export interface RateEstimate {
  estimate: number;
  se: number;
  ci95: [number, number];
}

/** The rate of metric `metric` in variant `v`: Ĉ/N̂ (NaN while N̂ ≤ 0). */
export function rate(totals: ExperimentTotals, v: number, metric: number): RateEstimate {
  const { exposed, conversions } = estimatedCounts(totals);
  const n = exposed[v] as number;
  const c = (conversions[v] as number[])[metric] as number;
  if (!(n > 0)) return { estimate: Number.NaN, se: Number.NaN, ci95: [Number.NaN, Number.NaN] };
  const p = c / n;
  const a = new Array<number>(totals.variants).fill(0);
  const b = new Array<number>(totals.variants).fill(0);
  a[v] = -p / n;
  b[v] = 1 / n;
  const rates = ratesOf(exposed, conversions, metric);
  const se = Math.sqrt(combinationVariance(totals, metric, a, b, rates));
  return { estimate: p, se, ci95: [p - Z95 * se, p + Z95 * se] };
}

function ratesOf(exposed: number[], conversions: number[][], metric: number): number[] {
  return exposed.map((n, v) => (n > 0 ? ((conversions[v] as number[])[metric] as number) / n : 0));
}

/** Variant `treatment` against variant `control` on one metric. */
export interface Comparison {
  /** p_B − p_A (what the sequential test uses). */
  difference: RateEstimate;
  /**
   * p_B / p_A − 1, with Fieller's interval (Fieller 1954): the set of ratios R for which
   * p̂_B − R·p̂_A is compatible with 0, which stays honest when the control's rate is noisy (the delta
   * method on the log ratio does not, under strong randomized-response noise). Unbounded above
   * (∞) while the control's rate is not clearly above 0.
   */
  uplift: RateEstimate;
  /** The pooled rate of the two variants (the sequential test's scale). */
  pooled: number;
}

/**
 * @example
 * ```ts
 * const { uplift } = compare(totals, 0, 1, 1); // purchase rate of variant 1 against the control
 * ```
 */
export function compare(totals: ExperimentTotals, control: number, treatment: number, metric: number): Comparison {
  const { exposed, conversions } = estimatedCounts(totals);
  const rates = ratesOf(exposed, conversions, metric);
  const nA = exposed[control] as number;
  const nB = exposed[treatment] as number;
  const cA = (conversions[control] as number[])[metric] as number;
  const cB = (conversions[treatment] as number[])[metric] as number;
  const nan: RateEstimate = { estimate: Number.NaN, se: Number.NaN, ci95: [Number.NaN, Number.NaN] };
  if (!(nA > 0 && nB > 0)) return { difference: nan, uplift: nan, pooled: Number.NaN };
  const pA = cA / nA;
  const pB = cB / nB;
  const zeros = (): number[] => new Array<number>(totals.variants).fill(0);
  // Each rate is linearised as p̂ ≈ p + (Ĉ − p N̂)/N: the variance of x·p̂_A + y·p̂_B.
  const variance = (x: number, y: number): number => {
    const a = zeros();
    const b = zeros();
    a[control] = (-x * pA) / nA;
    b[control] = x / nA;
    a[treatment] = (-y * pB) / nB;
    b[treatment] = y / nB;
    return combinationVariance(totals, metric, a, b, rates);
  };
  const vA = variance(1, 0);
  const vB = variance(0, 1);
  const vDiff = variance(-1, 1);
  const covariance = (vA + vB - vDiff) / 2;
  const seDiff = Math.sqrt(vDiff);
  const diff = pB - pA;
  const difference: RateEstimate = { estimate: diff, se: seDiff, ci95: [diff - Z95 * seDiff, diff + Z95 * seDiff] };
  const pooled = (cA + cB) / (nA + nB);
  // Fieller: (p̂_A² − z²V_A)R² − 2(p̂_A p̂_B − z²C)R + (p̂_B² − z²V_B) ≤ 0.
  const z2 = Z95 * Z95;
  const qa = pA * pA - z2 * vA;
  const qb = pA * pB - z2 * covariance;
  const qc = pB * pB - z2 * vB;
  const ratio = pA > 0 ? pB / pA : Number.NaN;
  const discriminant = qb * qb - qa * qc;
  let ci95: [number, number] = [-1, Number.POSITIVE_INFINITY];
  if (qa > 0 && discriminant >= 0) {
    const root = Math.sqrt(discriminant);
    ci95 = [(qb - root) / qa - 1, (qb + root) / qa - 1];
  }
  const seRatio = pA > 0 ? Math.sqrt(vB + ratio * ratio * vA - 2 * ratio * covariance) / pA : Number.NaN;
  return { difference, uplift: { estimate: ratio - 1, se: seRatio, ci95 }, pooled };
}

/** The mixture likelihood ratio Λ of the mSPRT (see the module comment) for an estimate with variance V. */
export function mixtureLikelihoodRatio(estimate: number, variance: number, tau: number): number {
  const t2 = tau * tau;
  return Math.sqrt(variance / (variance + t2)) * Math.exp((t2 * estimate * estimate) / (2 * variance * (variance + t2)));
}

/** Half-width of the always-valid (1 − α) confidence sequence at one look. */
export function confidenceSequenceRadius(variance: number, tau: number, alpha: number): number {
  const t2 = tau * tau;
  return Math.sqrt(((variance * (variance + t2)) / t2) * (2 * Math.log(1 / alpha) + Math.log((variance + t2) / variance)));
}

export interface SequentialOptions {
  /** Level of the test (default 0.05). */
  alpha?: number;
  /**
   * Standard deviation of the mixing distribution on p_B − p_A, relative to the pooled rate
   * (default 0.1: differences of about ±10 % of the rate). It sets which effects the test finds
   * fastest, not its validity.
   */
  tau?: number;
  /**
   * Looks count only once both variants have at least this many estimated conversions (default 20):
   * before that the normal approximation of a ratio of small noisy counts is poor. Looking less
   * often never hurts the guarantee.
   */
  minConversions?: number;
}

/** The state of the sequential test after a sequence of looks. */
export interface SequentialState {
  /** Running minimum of 1/Λ (1 before the first valid look). */
  pValue: number;
  /** Intersection of the confidence sequence's intervals on the difference p_B − p_A so far. */
  ci: [number, number];
  /** Looks that counted. */
  looks: number;
  /** Whether p < α. */
  significant: boolean;
}

export function initialSequentialState(): SequentialState {
  return { pValue: 1, ci: [-1, 1], looks: 0, significant: false };
}

/**
 * Updates the test with one look at the cumulative aggregates (a look may be skipped at will).
 *
 * @example
 * ```ts
 * let state = initialSequentialState();
 * for (const totals of daily) {
 *   const { conversions } = estimatedCounts(totals);
 *   state = look(state, compare(totals, 0, 1, 1), { control: conversions[0][1], treatment: conversions[1][1] });
 * }
 * ```
 */
export function look(state: SequentialState, comparison: Comparison, conversions: { control: number; treatment: number }, options: SequentialOptions = {}): SequentialState {
  const alpha = options.alpha ?? 0.05;
  const min = options.minConversions ?? 20;
  const { estimate, se } = comparison.difference;
  const variance = se * se;
  const tau = (options.tau ?? 0.1) * comparison.pooled;
  if (!(conversions.control >= min && conversions.treatment >= min) || !Number.isFinite(estimate) || !(variance > 0) || !(tau > 0)) return state;
  const lambda = mixtureLikelihoodRatio(estimate, variance, tau);
  const pValue = Math.min(state.pValue, 1 / lambda);
  const r = confidenceSequenceRadius(variance, tau, alpha);
  const ci: [number, number] = [Math.max(state.ci[0], estimate - r), Math.min(state.ci[1], estimate + r)];
  return { pValue, ci, looks: state.looks + 1, significant: pValue < alpha };
}
