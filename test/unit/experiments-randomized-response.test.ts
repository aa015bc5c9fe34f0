import { describe, expect, it } from 'vitest';
import { addToTally, chooseMechanism, emptyTally, estimateCounts, linearVariance, randomize, rrEpsilon, rrParams, type RrMechanism } from '../../src/experiments/randomized-response.js';
import { seededRandom } from '../../src/shared/random.js';

/** Exact probability that `params` reports `output` (a category for krr, a bit vector for oue) for `input`. */
function probability(mechanism: RrMechanism, epsilon: number, d: number, input: number, output: number | number[]): number {
  const { p, q } = rrParams(mechanism, epsilon, d);
  if (mechanism === 'krr') return output === input ? p : q;
  return (output as number[]).reduce((acc, bit, j) => acc * (j === input ? (bit ? p : 1 - p) : bit ? q : 1 - q), 1);
}

describe('randomized response', () => {
  it('is ε-locally private: no report is more than e^ε times likelier under one input than another', () => {
    for (const mechanism of ['krr', 'oue'] as const) {
      const epsilon = 1;
      const d = 4;
      const outputs: (number | number[])[] = mechanism === 'krr' ? [0, 1, 2, 3] : Array.from({ length: 16 }, (_, mask) => [0, 1, 2, 3].map((j) => (mask >> j) & 1));
      let worst = 0;
      for (const output of outputs) {
        for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) worst = Math.max(worst, Math.log(probability(mechanism, epsilon, d, a, output) / probability(mechanism, epsilon, d, b, output)));
      }
      expect(worst).toBeLessThanOrEqual(epsilon + 1e-12);
      expect(rrEpsilon(rrParams(mechanism, epsilon, d))).toBeCloseTo(epsilon, 12);
    }
  });

  it('chooses direct encoding for few categories and unary encoding for many, as Wang et al. advise', () => {
    expect(chooseMechanism(1, 4)).toBe('krr');
    expect(chooseMechanism(1, 16)).toBe('oue');
    expect(chooseMechanism(3, 16)).toBe('krr');
  });

  it('is plausibly deniable: a single report names the true category with probability p < 1/2 at ε = 1', () => {
    const params = rrParams('krr', 1, 8);
    expect(params.p).toBeLessThan(0.5);
    const random = seededRandom(3);
    let truthful = 0;
    for (let i = 0; i < 20_000; i++) if ((randomize(params, 5, random) as { value: number }).value === 5) truthful++;
    expect(truthful / 20_000).toBeCloseTo(params.p, 2);
  });

  for (const mechanism of ['krr', 'oue'] as const) {
    it(`has an unbiased count estimator whose variance formula matches the spread of estimates (${mechanism})`, () => {
      const d = 8;
      const truth = [0.4, 0.2, 0.1, 0.1, 0.08, 0.06, 0.04, 0.02];
      const params = rrParams(mechanism, 1, d);
      const random = seededRandom(mechanism === 'krr' ? 11 : 12);
      const n = 2000;
      const runs = 300;
      // The combination the statistics use: conversions − p·exposed of "variant 0" (categories 0–3, converted 1 and 3).
      const g = [-0.25, 0.75, -0.25, 0.75, 0, 0, 0, 0];
      const sums = new Array<number>(d).fill(0);
      const combos: number[] = [];
      const predicted: number[] = [];
      for (let run = 0; run < runs; run++) {
        const tally = emptyTally(d);
        for (let i = 0; i < n; i++) {
          let u = random();
          let category = 0;
          while (category < d - 1 && u >= (truth[category] as number)) u -= truth[category++] as number;
          addToTally(tally, randomize(params, category, random));
        }
        const est = estimateCounts(params, tally);
        est.forEach((c, j) => (sums[j] = (sums[j] as number) + c));
        combos.push(est.reduce((acc, c, j) => acc + c * (g[j] as number), 0));
        predicted.push(linearVariance(params, tally, g));
      }
      // Unbiased: the mean estimate of each count is within 4 standard errors of n·truth.
      for (let j = 0; j < d; j++) {
        const mean = (sums[j] as number) / runs;
        const se = Math.sqrt(
          linearVariance(
            params,
            { n, counts: truth.map((t) => n * (params.q + (params.p - params.q) * t)) },
            truth.map((_, k) => (k === j ? 1 : 0)),
          ) / runs,
        );
        expect(Math.abs(mean - n * (truth[j] as number))).toBeLessThan(4 * se);
      }
      const mean = combos.reduce((a, b) => a + b, 0) / runs;
      const empirical = combos.reduce((a, b) => a + (b - mean) ** 2, 0) / (runs - 1);
      const formula = predicted.reduce((a, b) => a + b, 0) / runs;
      expect(empirical / formula).toBeGreaterThan(0.8);
      expect(empirical / formula).toBeLessThan(1.25);
    });
  }
});
