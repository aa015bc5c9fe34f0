import { describe, expect, it } from 'vitest';
import { budgetProblem, calibrate, DEVICE_MAX_EPSILON, gaussianEpsilon, noiseMultiplierFor, reportEpsilon } from '../../src/federated/experiment-privacy.js';
import { buildLayout } from '../../src/experiments/layout.js';
import type { RegistryExperiment } from '../../src/protocol/experiments.js';

const experiment: RegistryExperiment = {
  name: 'home-recs',
  kind: 'experiment',
  variants: ['model', 'bestsellers'],
  metrics: ['add_to_cart', 'purchase', 'revenue'],
  windowHours: 168,
  revenueCap: 500,
  epsilon: 1,
  delta: 1e-6,
};

describe('the privacy of experiment reports', () => {
  it('calibrates the smallest Gaussian noise multiplier that meets (ε, δ)', () => {
    for (const [epsilon, delta] of [
      [1, 1e-6],
      [0.5, 1e-6],
      [2, 1e-5],
    ] as const) {
      const z = noiseMultiplierFor(epsilon, delta);
      expect(gaussianEpsilon(z, delta)).toBeLessThanOrEqual(epsilon);
      expect(gaussianEpsilon(z * 0.99, delta)).toBeGreaterThan(epsilon);
    }
    // The classical bound z = √(2 ln(1.25/δ))/ε is looser than the RDP calibration.
    expect(noiseMultiplierFor(1, 1e-6)).toBeLessThan(Math.sqrt(2 * Math.log(1.25 / 1e-6)));
  });

  it('scales the noise of each cell with the L2 sensitivity of one shopper’s row', () => {
    const { sigma } = calibrate(experiment);
    expect(sigma).toBeCloseTo(noiseMultiplierFor(1, 1e-6) * 2, 10);
  });

  it('spends at most the experiment’s ε through either channel, and refuses a server that asks for more', () => {
    const [entry] = buildLayout([experiment], calibrate).experiments;
    expect(reportEpsilon(entry!, 'vector')).toBeLessThanOrEqual(1);
    expect(reportEpsilon(entry!, 'randomized-response')).toBeCloseTo(1, 10);
    expect(budgetProblem(entry!, 'vector')).toBeUndefined();
    expect(budgetProblem({ ...entry!, sigma: entry!.sigma / 3 }, 'vector')).toMatch(/over the budget/);
    expect(budgetProblem({ ...entry!, rr: { ...entry!.rr, epsilon: 3 } }, 'randomized-response')).toMatch(/over the budget/);
    const greedy = buildLayout([{ ...experiment, epsilon: 9 }], calibrate).experiments[0]!;
    expect(budgetProblem(greedy, 'randomized-response')).toMatch(`budget ${DEVICE_MAX_EPSILON}`);
  });
});
