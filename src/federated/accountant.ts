/**
 * Privacy accounting for DP-FedAvg: Rényi differential privacy of the sampled Gaussian mechanism
 * (Mironov, Talwar & Zhang, "Rényi Differential Privacy of the Sampled Gaussian Mechanism", 2019),
 * composed over rounds and converted to (ε, δ).
 *
 * This follows the standard computation of TensorFlow Privacy's and Opacus's `compute_rdp`
 * (Section 3.3 of the paper: a finite sum for integer orders, a convergent two-sided series with
 * erfc terms for fractional orders), in log space to avoid overflow, and Opacus's RDP → (ε, δ)
 * conversion (Balle et al. 2020, Theorem 21), minimised over a grid of orders.
 */

/** Opacus's default grid of orders: 1.1, 1.2, …, 10.9, then 12, 13, …, 63. */
export const DEFAULT_ORDERS: readonly number[] = [...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10), ...Array.from({ length: 52 }, (_, i) => 12 + i)];

function logAdd(x: number, y: number): number {
  const a = Math.min(x, y);
  const b = Math.max(x, y);
  if (a === -Infinity) return b;
  return b + Math.log1p(Math.exp(a - b));
}

/** log(exp(x) − exp(y)) for x ≥ y. */
function logSub(x: number, y: number): number {
  if (y === -Infinity) return x;
  if (x === y) return -Infinity;
  if (x < y) throw new RangeError('logSub: the result would be negative');
  return x + Math.log1p(-Math.exp(y - x));
}

/**
 * log(erfc(x)). For x ≥ 0 it uses the Chebyshev fit of Numerical Recipes (`erfcc`, fractional
 * error < 1.2e-7 everywhere), which is already of the form t·exp(−x² + poly), so its logarithm
 * never underflows even where erfc(x) itself would.
 */
export function logErfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly =
    -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const logPositive = Math.log(t) + poly;
  if (x >= 0) return logPositive;
  // erfc(−z) = 2 − erfc(z).
  return Math.log(2 - Math.exp(logPositive));
}

/** log A_α for integer α: Σ_i C(α,i) q^i (1−q)^(α−i) exp((i² − i) / 2σ²). */
function logAInt(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  let logBinom = 0; // log C(alpha, 0)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log(alpha - i + 1) - Math.log(i);
    const term = logBinom + i * Math.log(q) + (alpha - i) * Math.log1p(-q) + (i * i - i) / (2 * sigma * sigma);
    logA = logAdd(logA, term);
  }
  return logA;
}

/** log A_α for fractional α: the series of Mironov et al. (2019), Section 3.3. */
function logAFrac(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  let logAbsBinom = 0; // log |C(alpha, 0)|
  let binomSign = 1;
  for (let i = 0; i < 100_000; i++) {
    if (i > 0) {
      const factor = (alpha - i + 1) / i;
      if (factor < 0) binomSign = -binomSign;
      logAbsBinom += Math.log(Math.abs(factor));
    }
    const j = alpha - i;
    const logT0 = logAbsBinom + i * Math.log(q) + j * Math.log1p(-q);
    const logT1 = logAbsBinom + j * Math.log(q) + i * Math.log1p(-q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (binomSign > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30) break;
  }
  return logAdd(logA0, logA1);
}

/**
 * RDP ε(α) of `steps` compositions of the sampled Gaussian mechanism with sampling rate `q` and
 * noise multiplier `sigma` (noise std / L2 sensitivity), at each order.
 *
 * @example
 * ```ts
 * const rdp = computeRdp(0.01, 1.1, 10_000, DEFAULT_ORDERS);
 * ```
 */
export function computeRdp(q: number, sigma: number, steps: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate must be in [0, 1], got ${q}`);
  if (!(sigma >= 0)) throw new RangeError(`noise multiplier must be >= 0, got ${sigma}`);
  return orders.map((alpha) => {
    if (q === 0) return 0;
    if (sigma === 0 || alpha === Infinity) return Infinity;
    if (q === 1) return (steps * alpha) / (2 * sigma * sigma);
    const logA = Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha);
    return (steps * logA) / (alpha - 1);
  });
}

/**
 * The smallest ε over the orders such that the RDP curve implies (ε, δ)-DP, with the order that
 * attains it (Balle et al. 2020's conversion, as in Opacus's `get_privacy_spent`).
 *
 * @example
 * ```ts
 * const { epsilon } = epsilonFromRdp(DEFAULT_ORDERS, rdp, 1e-5);
 * ```
 */
export function epsilonFromRdp(orders: readonly number[], rdp: readonly number[], delta: number): { epsilon: number; order: number } {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  let best = { epsilon: Infinity, order: NaN };
  orders.forEach((alpha, i) => {
    const r = rdp[i] as number;
    if (!Number.isFinite(r) || alpha <= 1) return;
    const eps = r - (Math.log(delta) + Math.log(alpha)) / (alpha - 1) + Math.log((alpha - 1) / alpha);
    if (Number.isFinite(eps) && eps < best.epsilon) best = { epsilon: Math.max(0, eps), order: alpha };
  });
  return best;
}

/** One kind of step of the sampled Gaussian mechanism (central DP: the server adds the noise). */
export interface GaussianEntry {
  mechanism?: 'gaussian';
  q: number;
  sigma: number;
  steps: number;
}

/**
 * One kind of step of the sampled distributed Skellam mechanism (secure aggregation: the clients
 * add the noise). On the integer grid: L1 and L2 sensitivity and the variance of the noise the
 * sum actually carried.
 */
export interface SkellamEntry {
  mechanism: 'skellam';
  q: number;
  l1: number;
  l2: number;
  variance: number;
  steps: number;
}

/** One kind of step in the accountant's history. */
export type AccountantEntry = GaussianEntry | SkellamEntry;

/**
 * RDP ε(α) of one Skellam mechanism without sampling (Agarwal, Kairouz & Liu, NeurIPS 2021,
 * Theorem 3.5, as their reference implementation computes it), for integer α > 1, with the L1 and
 * L2 sensitivities and the noise variance in the same integer units:
 * αΔ₂²/(2μ) + min(((2α − 1)Δ₂² + 6Δ₁)/(4μ²), 3Δ₁/(2μ)).
 *
 * @example
 * ```ts
 * skellamRdp(8, { l1: 1e5, l2: 1e3, variance: 1.2e6 });
 * ```
 */
export function skellamRdp(alpha: number, p: { l1: number; l2: number; variance: number }): number {
  if (!(alpha > 1)) throw new RangeError(`order must be > 1, got ${alpha}`);
  if (!(p.variance > 0)) return Infinity;
  const mu = p.variance;
  return (alpha * p.l2 * p.l2) / (2 * mu) + Math.min(((2 * alpha - 1) * p.l2 * p.l2 + 6 * p.l1) / (4 * mu * mu), (3 * p.l1) / (2 * mu));
}

/** log C(n, k) for integers. */
function logBinomial(n: number, k: number): number {
  let sum = 0;
  for (let i = 1; i <= k; i++) sum += Math.log(n - k + i) - Math.log(i);
  return sum;
}

/**
 * RDP at integer order α ≥ 2 of a mechanism with RDP curve `rdp` run on a Poisson sample of rate
 * q: the general upper bound of Zhu & Wang ("Poisson Subsampled Rényi Differential Privacy",
 * ICML 2019), valid for any mechanism. With `tight`, the coefficients 3 become 1 — the exact
 * value for the Gaussian mechanism (it then equals Mironov et al.'s), not a bound for others.
 *
 * @example
 * ```ts
 * subsampledRdp(0.01, 8, (a) => skellamRdp(a, params));
 * ```
 */
export function subsampledRdp(q: number, alpha: number, rdp: (order: number) => number, tight = false): number {
  if (!Number.isInteger(alpha) || alpha < 2) throw new RangeError(`order must be an integer >= 2, got ${alpha}`);
  if (q === 0) return 0;
  if (q === 1) return rdp(alpha);
  let log = Math.log((1 - q) ** (alpha - 1) * (alpha * q - q + 1));
  for (let l = 2; l <= alpha; l++) {
    const coefficient = l === 2 || tight ? 0 : Math.log(3);
    const term = coefficient + logBinomial(alpha, l) + (alpha - l) * Math.log1p(-q) + l * Math.log(q) + (l - 1) * rdp(l);
    log = logAdd(log, term);
  }
  return log / (alpha - 1);
}

/**
 * RDP of `steps` compositions of the sampled Skellam mechanism at each order. RDP is
 * non-decreasing in the order, so a fractional order is given the (larger) value of the next
 * integer, and orders below 2 that of 2: an upper bound everywhere.
 *
 * @example
 * ```ts
 * const rdp = computeRdpSkellam(0.001, { l1, l2, variance }, 100);
 * ```
 */
export function computeRdpSkellam(q: number, p: { l1: number; l2: number; variance: number }, steps: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate must be in [0, 1], got ${q}`);
  const cache = new Map<number, number>();
  const unsampled = (a: number): number => {
    let v = cache.get(a);
    if (v === undefined) cache.set(a, (v = skellamRdp(a, p)));
    return v;
  };
  return orders.map((order) => {
    if (q === 0) return 0;
    if (order === Infinity) return Infinity;
    const alpha = Math.max(2, Math.ceil(order));
    const value = q === 1 ? unsampled(alpha) : Math.min(subsampledRdp(q, alpha, unsampled), unsampled(alpha));
    return steps * value;
  });
}

/**
 * Composes rounds of the sampled Gaussian mechanism (central noise) and of the sampled Skellam
 * mechanism (distributed noise under secure aggregation) and reports the cumulative ε. Its state is
 * the history of (q, σ, steps), which is small and JSON-serialisable, so a server can persist it
 * with each published round.
 *
 * @example
 * ```ts
 * const accountant = new RdpAccountant();
 * accountant.step(0.01, 1.1);
 * accountant.epsilon(1e-5);
 * ```
 */
export class RdpAccountant {
  readonly orders: readonly number[];
  private entries: AccountantEntry[];

  constructor(history: readonly AccountantEntry[] = [], orders: readonly number[] = DEFAULT_ORDERS) {
    this.orders = orders;
    this.entries = history.map((e) => ({ ...e }));
  }

  /** Records `steps` more rounds at sampling rate `q` and noise multiplier `sigma`. */
  step(q: number, sigma: number, steps = 1): void {
    const last = this.entries[this.entries.length - 1];
    if (last && last.mechanism !== 'skellam' && last.q === q && last.sigma === sigma) last.steps += steps;
    else this.entries.push({ q, sigma, steps });
  }

  /** Records `steps` more rounds of the distributed Skellam mechanism. */
  stepSkellam(q: number, p: { l1: number; l2: number; variance: number }, steps = 1): void {
    const last = this.entries[this.entries.length - 1];
    if (last && last.mechanism === 'skellam' && last.q === q && last.l1 === p.l1 && last.l2 === p.l2 && last.variance === p.variance) last.steps += steps;
    else this.entries.push({ mechanism: 'skellam', q, l1: p.l1, l2: p.l2, variance: p.variance, steps });
  }

  /** Records one entry of either kind (e.g. one restored from disk). */
  record(entry: AccountantEntry): void {
    if (entry.mechanism === 'skellam') this.stepSkellam(entry.q, entry, entry.steps);
    else this.step(entry.q, entry.sigma, entry.steps);
  }

  get history(): AccountantEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  get rounds(): number {
    return this.entries.reduce((n, e) => n + e.steps, 0);
  }

  /** Cumulative ε at `delta`, optionally as if `extra` more rounds had been published. */
  epsilon(delta: number, extra?: AccountantEntry): number {
    const entries = extra ? [...this.entries, extra] : this.entries;
    if (entries.length === 0) return 0;
    const total = new Array<number>(this.orders.length).fill(0);
    for (const entry of entries) {
      const rdp = entry.mechanism === 'skellam' ? computeRdpSkellam(entry.q, entry, entry.steps, this.orders) : computeRdp(entry.q, entry.sigma, entry.steps, this.orders);
      rdp.forEach((r, i) => (total[i] = (total[i] as number) + r));
    }
    return epsilonFromRdp(this.orders, total, delta).epsilon;
  }
}
