/**
 * The privacy of experiment reports: how much noise a round adds to each experiment's cells for its
 * ε budget, which randomized-response mechanism the fallback uses, and the ε a device spends.
 *
 * A device reports each experiment once (after its attribution window), through exactly one
 * mechanism: its rows in one round's vector sum, or one randomized-response report. Every release
 * of a round is a sum over *different* devices, so a shopper's data in an experiment passes one
 * mechanism once, and the experiment's ε for any shopper is that mechanism's ε — however many
 * rounds and daily looks follow (looks are post-processing of the releases). The device keeps a
 * ledger and refuses a second report, and refuses a mechanism that would spend more than the
 * experiment's budget or than {@link DEVICE_MAX_EPSILON}, whatever the server asks.
 *
 * The Gaussian mechanism is accounted with Rényi DP like the model's rounds (`accountant.ts`): a
 * release of a sum with L2 sensitivity Δ and noise σ = z·Δ has RDP α / (2z²) at every order α
 * (Mironov, "Rényi Differential Privacy", CSF 2017, Proposition 7), converted to (ε, δ) by Balle et
 * al. 2020's bound over the accountant's orders.
 */
import { DEFAULT_ORDERS, epsilonFromRdp } from './accountant.js';
import { categoryCount, sensitivity } from '../experiments/layout.js';
import { chooseMechanism, rrEpsilon, rrParams, type RrParams } from '../experiments/randomized-response.js';
import type { LayoutExperiment, RegistryExperiment } from '../protocol/experiments.js';

/** The most ε per experiment a device spends, whatever a server declares. */
export const DEVICE_MAX_EPSILON = 4;

/** ε at `delta` of one Gaussian mechanism with noise multiplier `z` (σ / Δ₂). */
export function gaussianEpsilon(z: number, delta: number): number {
  if (!(z > 0)) return Number.POSITIVE_INFINITY;
  const rdp = DEFAULT_ORDERS.map((alpha) => alpha / (2 * z * z));
  return epsilonFromRdp(DEFAULT_ORDERS, rdp, delta).epsilon;
}

/**
 * The smallest noise multiplier z whose Gaussian mechanism is (ε, δ)-DP, by bisection (ε falls as
 * z grows). Rounded up in the 4th significant digit, so the guarantee holds exactly.
 *
 * @example
 * ```ts
 * noiseMultiplierFor(1, 1e-6); // ≈ 4.2
 * ```
 */
export function noiseMultiplierFor(epsilon: number, delta: number): number {
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new RangeError(`ε must be a finite number > 0, got ${epsilon}`);
  let lo = 1e-3;
  let hi = 1e4;
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(lo * hi);
    if (gaussianEpsilon(mid, delta) > epsilon) lo = mid;
    else hi = mid;
  }
  const digits = 10 ** (Math.floor(Math.log10(hi)) - 3);
  return Math.ceil(hi / digits) * digits;
}

/** Integer Rényi orders (the Skellam bound holds for integer α > 1). */
const INTEGER_ORDERS = DEFAULT_ORDERS.filter((alpha) => Number.isInteger(alpha) && alpha > 1);

/**
 * ε at `delta` of the Skellam mechanism: integer noise Sk(μ) = Poisson(μ) − Poisson(μ) (variance
 * 2μ) on every cell of a sum with sensitivities Δ₁ and Δ₂. RDP by Agarwal, Kairouz & Liu, "The
 * Skellam Mechanism for Differentially Private Federated Learning" (NeurIPS 2021, Theorem 3.5):
 * ε(α) ≤ αΔ₂²/(4μ) + min(((2α − 1)Δ₂² + 6Δ₁)/(16μ²), 3Δ₁/(4μ)) — the Gaussian's α/(2z²) plus a
 * small term for being integer. Sums of Skellam shares are Skellam, so cohort members can each add
 * Sk(μ/n) and the sum carries Sk(μ): the noise of secure rounds.
 */
export function skellamEpsilon(mu: number, l1: number, l2: number, delta: number): number {
  if (!(mu > 0)) return Number.POSITIVE_INFINITY;
  const rdp = INTEGER_ORDERS.map((alpha) => (alpha * l2 * l2) / (4 * mu) + Math.min(((2 * alpha - 1) * l2 * l2 + 6 * l1) / (16 * mu * mu), (3 * l1) / (4 * mu)));
  return epsilonFromRdp(INTEGER_ORDERS, rdp, delta).epsilon;
}

/** The smallest total Skellam parameter μ whose mechanism is (ε, δ)-DP for `experiment`'s rows (bisection, rounded up). */
export function skellamMuFor(experiment: Pick<RegistryExperiment, 'metrics' | 'epsilon' | 'delta'>): number {
  const { l1, l2 } = sensitivity(experiment);
  let lo = 1e-3;
  let hi = 1e8;
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(lo * hi);
    if (skellamEpsilon(mid, l1, l2, experiment.delta) > experiment.epsilon) lo = mid;
    else hi = mid;
  }
  const digits = 10 ** (Math.floor(Math.log10(hi)) - 3);
  return Math.ceil(hi / digits) * digits;
}

/**
 * The noise and fallback of one experiment at its budget: σ = z·Δ₂ per cell per round (central
 * rounds), the Skellam μ a secure round's cohort adds in shares, and the randomized-response
 * mechanism Wang et al. recommend for its outcome categories at ε.
 */
export function calibrate(experiment: RegistryExperiment): Pick<LayoutExperiment, 'sigma' | 'secureMu' | 'rr'> {
  const z = noiseMultiplierFor(experiment.epsilon, experiment.delta);
  const categories = categoryCount(experiment);
  return {
    sigma: z * sensitivity(experiment).l2,
    secureMu: skellamMuFor(experiment),
    rr: { mechanism: chooseMechanism(experiment.epsilon, categories), epsilon: experiment.epsilon, categories },
  };
}

/** The randomized-response parameters a layout experiment declares. */
export function rrParamsOf(experiment: LayoutExperiment): RrParams {
  return rrParams(experiment.rr.mechanism, experiment.rr.epsilon, experiment.rr.categories);
}

/** How a device's data in an experiment is protected: a central round's Gaussian, a secure round's Skellam shares, or randomized response. */
export type Mechanism = 'vector' | 'secure' | 'randomized-response';

/** ε a device spends reporting `experiment` through a round (Gaussian, σ per cell; or Skellam, μ in all) or by randomized response. */
export function reportEpsilon(experiment: LayoutExperiment, channel: Mechanism): number {
  if (channel === 'randomized-response') return rrEpsilon(rrParamsOf(experiment));
  const { l1, l2 } = sensitivity(experiment);
  if (channel === 'secure') return skellamEpsilon(experiment.secureMu, l1, l2, experiment.delta);
  return gaussianEpsilon(experiment.sigma / l2, experiment.delta);
}

/**
 * Why a device must not report `experiment` through `channel`, or undefined: the mechanism the
 * server declares would spend more than the experiment's own budget or {@link DEVICE_MAX_EPSILON},
 * or its fallback does not match the experiment's outcome categories.
 */
export function budgetProblem(experiment: LayoutExperiment, channel: Mechanism): string | undefined {
  if (experiment.rr.categories !== categoryCount(experiment)) return 'the fallback does not cover the outcome categories';
  const spent = reportEpsilon(experiment, channel);
  const budget = Math.min(experiment.epsilon, DEVICE_MAX_EPSILON);
  // A little slack for the calibration's rounding.
  if (!(spent <= budget * 1.001)) return `the ${channel} report would spend ε ${spent.toFixed(3)}, over the budget ${budget}`;
  return undefined;
}
