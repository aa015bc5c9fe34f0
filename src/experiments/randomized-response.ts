/**
 * Randomized response: the fallback report of a device that cannot take part in a round. The
 * device privatises its one outcome category itself, with ε-local differential privacy, so the
 * server (or anyone reading the report) learns almost nothing from one report, while counts over
 * many reports can be estimated without bias.
 *
 * Two mechanisms of Wang, Blocki, Li & Jha, "Locally Differentially Private Protocols for
 * Frequency Estimation" (USENIX Security 2017), chosen as that paper advises (Section 5: direct
 * encoding when d < 3e^ε + 2, else optimised unary encoding), each with its unbiased estimator
 * ĉ_j = (O_j − n·q) / (p − q):
 *
 * - `krr` (their "direct encoding", k-ary randomized response): the true category with probability
 *   p = e^ε / (e^ε + d − 1), each other one with q = 1 / (e^ε + d − 1).
 * - `oue` (optimised unary encoding): one bit per category; the true one is 1 with p = 1/2, every
 *   other one is 1 with q = 1 / (e^ε + 1). Two inputs differ in two bits, so ε-LDP.
 */
import type { RandomSource } from '../shared/random.js';

export type RrMechanism = 'krr' | 'oue';

export interface RrParams {
  mechanism: RrMechanism;
  /** Categories. */
  d: number;
  /** Probability of reporting the truth (krr) / of a 1 in the true position (oue). */
  p: number;
  /** Probability of reporting a given other category (krr) / of a 1 elsewhere (oue). */
  q: number;
}

/** The mechanism Wang et al. recommend for `d` categories at `epsilon`. */
export function chooseMechanism(epsilon: number, d: number): RrMechanism {
  return d < 3 * Math.exp(epsilon) + 2 ? 'krr' : 'oue';
}

/**
 * @example
 * ```ts
 * rrParams('krr', 1, 4); // { p: 0.475…, q: 0.174… }
 * ```
 */
export function rrParams(mechanism: RrMechanism, epsilon: number, d: number): RrParams {
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new RangeError(`randomized response needs a finite ε > 0, got ${epsilon}`);
  if (!Number.isSafeInteger(d) || d < 2) throw new RangeError(`randomized response needs at least 2 categories, got ${d}`);
  const e = Math.exp(epsilon);
  return mechanism === 'krr' ? { mechanism, d, p: e / (e + d - 1), q: 1 / (e + d - 1) } : { mechanism, d, p: 0.5, q: 1 / (e + 1) };
}

/** ε of a mechanism's parameters: the largest log-ratio of the probabilities of one report under two inputs. */
export function rrEpsilon(params: RrParams): number {
  const { p, q } = params;
  // krr: p/q. oue: two positions change, (p/q)·((1−q)/(1−p)).
  return params.mechanism === 'krr' ? Math.log(p / q) : Math.log((p * (1 - q)) / (q * (1 - p)));
}

/** One privatised report: the category (krr) or the set bits (oue, as a 0/1 array). */
export type RrReport = { mechanism: 'krr'; value: number } | { mechanism: 'oue'; bits: Uint8Array };

/**
 * Privatises `category` (0 ≤ category < d). `random` must be the CSPRNG in production: the
 * report's deniability is only as good as the coin.
 *
 * @example
 * ```ts
 * const report = randomize(rrParams('krr', 1, 4), 2, secureRandom());
 * ```
 */
export function randomize(params: RrParams, category: number, random: RandomSource): RrReport {
  const { d, p, q } = params;
  if (!Number.isSafeInteger(category) || category < 0 || category >= d) throw new RangeError(`category must be in 0–${d - 1}, got ${category}`);
  if (params.mechanism === 'krr') {
    if (random() < p) return { mechanism: 'krr', value: category };
    // One of the other d − 1 categories, uniformly.
    const other = Math.min(d - 2, Math.floor(random() * (d - 1)));
    return { mechanism: 'krr', value: other >= category ? other + 1 : other };
  }
  const bits = new Uint8Array(d);
  for (let j = 0; j < d; j++) bits[j] = random() < (j === category ? p : q) ? 1 : 0;
  return { mechanism: 'oue', bits };
}

/** Reports received for one experiment: how many, and how often each category (krr) or bit (oue) was seen. */
export interface RrTally {
  n: number;
  counts: number[];
}

export function emptyTally(d: number): RrTally {
  return { n: 0, counts: new Array<number>(d).fill(0) };
}

/** Adds one report to `tally` (in place). */
export function addToTally(tally: RrTally, report: RrReport): void {
  tally.n++;
  if (report.mechanism === 'krr') tally.counts[report.value] = (tally.counts[report.value] ?? 0) + 1;
  else report.bits.forEach((bit, j) => (tally.counts[j] = (tally.counts[j] ?? 0) + bit));
}

/**
 * Unbiased estimates of how many of the `n` reporting devices had each category:
 * ĉ_j = (O_j − n·q) / (p − q). They may be negative or exceed n; only their sums are meaningful.
 */
export function estimateCounts(params: RrParams, tally: RrTally): number[] {
  return tally.counts.map((o) => (o - tally.n * params.q) / (params.p - params.q));
}

/**
 * Variance of the estimate Σ_j g_j · ĉ_j, counting both the randomness of the mechanism and which
 * devices happened to report (the devices are a sample of the shop's shoppers), plugged in from the
 * tally. For krr the reports are multinomial: n·[Σ g_j²π_j − (Σ g_jπ_j)²] / (p − q)², with π_j the
 * observed frequencies. For oue the bits are independent given the category: the law of total
 * variance gives n·[Σ g_j²((1−f_j)q(1−q) + f_j p(1−p)) + (p−q)²(Σ f_j g_j² − (Σ f_j g_j)²)] / (p − q)²,
 * with f the estimated category frequencies (clipped to [0, 1] and renormalised).
 */
export function linearVariance(params: RrParams, tally: RrTally, g: readonly number[]): number {
  const { n } = tally;
  if (n === 0) return 0;
  const { p, q } = params;
  const scale = (p - q) * (p - q);
  if (params.mechanism === 'krr') {
    let second = 0;
    let first = 0;
    tally.counts.forEach((o, j) => {
      const pi = o / n;
      const w = g[j] ?? 0;
      second += w * w * pi;
      first += w * pi;
    });
    return (n * Math.max(0, second - first * first)) / scale;
  }
  const raw = estimateCounts(params, tally).map((c) => Math.min(1, Math.max(0, c / n)));
  const total = raw.reduce((a, b) => a + b, 0);
  const f = raw.map((x) => (total > 0 ? x / total : 1 / raw.length));
  let within = 0;
  let second = 0;
  let first = 0;
  f.forEach((fj, j) => {
    const w = g[j] ?? 0;
    within += w * w * ((1 - fj) * q * (1 - q) + fj * p * (1 - p));
    second += fj * w * w;
    first += fj * w;
  });
  return (n * (within + scale * Math.max(0, second - first * first))) / scale;
}
