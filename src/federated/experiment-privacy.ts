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

/**
 * The noise and fallback of one experiment at its budget: σ = z·Δ₂ per cell per round, and the
 * randomized-response mechanism Wang et al. recommend for its outcome categories at ε.
 */
export function calibrate(experiment: RegistryExperiment): Pick<LayoutExperiment, 'sigma' | 'rr'> {
  const z = noiseMultiplierFor(experiment.epsilon, experiment.delta);
  const categories = categoryCount(experiment);
  return { sigma: z * sensitivity(experiment).l2, rr: { mechanism: chooseMechanism(experiment.epsilon, categories), epsilon: experiment.epsilon, categories } };
}

/** The randomized-response parameters a layout experiment declares. */
export function rrParamsOf(experiment: LayoutExperiment): RrParams {
  return rrParams(experiment.rr.mechanism, experiment.rr.epsilon, experiment.rr.categories);
}

/** ε a device spends reporting `experiment` through a round (Gaussian, σ per cell) or by randomized response. */
export function reportEpsilon(experiment: LayoutExperiment, channel: 'vector' | 'randomized-response'): number {
  if (channel === 'randomized-response') return rrEpsilon(rrParamsOf(experiment));
  return gaussianEpsilon(experiment.sigma / sensitivity(experiment).l2, experiment.delta);
}

/**
 * Why a device must not report `experiment` through `channel`, or undefined: the mechanism the
 * server declares would spend more than the experiment's own budget or {@link DEVICE_MAX_EPSILON},
 * or its fallback does not match the experiment's outcome categories.
 */
export function budgetProblem(experiment: LayoutExperiment, channel: 'vector' | 'randomized-response'): string | undefined {
  if (experiment.rr.categories !== categoryCount(experiment)) return 'the fallback does not cover the outcome categories';
  const spent = reportEpsilon(experiment, channel);
  const budget = Math.min(experiment.epsilon, DEVICE_MAX_EPSILON);
  // A little slack for the calibration's rounding.
  if (!(spent <= budget * 1.001)) return `the ${channel} report would spend ε ${spent.toFixed(3)}, over the budget ${budget}`;
  return undefined;
}
