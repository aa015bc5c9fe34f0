import { describe, expect, it } from 'vitest';
import {
  compare,
  confidenceSequenceRadius,
  emptyTotals,
  estimatedCounts,
  initialSequentialState,
  look,
  mixtureLikelihoodRatio,
  rate,
  type ExperimentTotals,
} from '../../src/experiments/statistics.js';
import { addToTally, emptyTally, randomize, rrParams } from '../../src/experiments/randomized-response.js';
import { categoryOf } from '../../src/experiments/layout.js';
import { gaussianSampler, seededRandom, type RandomSource } from '../../src/shared/random.js';

/** One release of `shoppers` shoppers split evenly between two variants with conversion rates `rates`, central noise σ, and `rrShare` of them reporting by randomized response. */
function release(totals: ExperimentTotals, shoppers: number, rates: [number, number], sigma: number, random: RandomSource, rrShare = 0): void {
  const normal = gaussianSampler(random);
  const cells = [0, 0, 0, 0];
  for (let i = 0; i < shoppers; i++) {
    const v = random() < 0.5 ? 0 : 1;
    const converted = random() < rates[v];
    if (totals.rr && random() < rrShare) {
      addToTally(totals.rr.tally, randomize(totals.rr.params, categoryOf(1, { variant: v, bits: [converted] }), random));
      continue;
    }
    cells[v * 2] = (cells[v * 2] as number) + 1;
    if (converted) cells[v * 2 + 1] = (cells[v * 2 + 1] as number) + 1;
  }
  cells.forEach((c, i) => {
    totals.vector.cells[i] = (totals.vector.cells[i] as number) + Math.round(c + sigma * normal());
    totals.vector.noiseVariance[i] = (totals.vector.noiseVariance[i] as number) + sigma * sigma + 1 / 12;
  });
}

function withRr(totals: ExperimentTotals, epsilon: number): ExperimentTotals {
  totals.rr = { params: rrParams('krr', epsilon, 4), tally: emptyTally(4) };
  return totals;
}

describe('experiment statistics with DP noise', () => {
  it('covers the true uplift with its 95 % interval about 95 % of the time, noise and randomized response included', () => {
    const random = seededRandom(7);
    const truth = 0.06 / 0.05 - 1;
    let upliftCovered = 0;
    let rateCovered = 0;
    const runs = 400;
    for (let run = 0; run < runs; run++) {
      const totals = withRr(emptyTotals(2, 1), 1);
      release(totals, 8000, [0.05, 0.06], 9, random, 0.2);
      const { uplift } = compare(totals, 0, 1, 0);
      if (uplift.ci95[0] <= truth && truth <= uplift.ci95[1]) upliftCovered++;
      const r = rate(totals, 1, 0);
      if (r.ci95[0] <= 0.06 && 0.06 <= r.ci95[1]) rateCovered++;
    }
    expect(upliftCovered / runs).toBeGreaterThan(0.92);
    expect(upliftCovered / runs).toBeLessThan(0.98);
    expect(rateCovered / runs).toBeGreaterThan(0.92);
  });

  it('widens the interval by the noise: the same data with DP noise has a larger standard error', () => {
    const seed = 99;
    const plain = emptyTotals(2, 1);
    release(plain, 4000, [0.05, 0.05], 0, seededRandom(seed));
    const noisy = emptyTotals(2, 1);
    release(noisy, 4000, [0.05, 0.05], 20, seededRandom(seed));
    expect(compare(noisy, 0, 1, 0).difference.se).toBeGreaterThan(compare(plain, 0, 1, 0).difference.se * 1.2);
  });

  it('keeps the always-valid test below α in A/A experiments looked at after every one of 30 releases', () => {
    const random = seededRandom(21);
    let rejected = 0;
    const runs = 200;
    for (let run = 0; run < runs; run++) {
      const totals = emptyTotals(2, 1);
      let state = initialSequentialState();
      for (let day = 0; day < 30; day++) {
        release(totals, 500, [0.05, 0.05], 9, random);
        const { conversions } = estimatedCounts(totals);
        state = look(state, compare(totals, 0, 1, 0), { control: conversions[0]![0]!, treatment: conversions[1]![0]! });
      }
      if (state.significant) rejected++;
    }
    expect(rejected / runs).toBeLessThanOrEqual(0.05);
  });

  it('detects a planted +30 % uplift and its confidence sequence contains the truth', () => {
    const random = seededRandom(5);
    const totals = emptyTotals(2, 1);
    let state = initialSequentialState();
    for (let day = 0; day < 30 && !state.significant; day++) {
      release(totals, 2000, [0.05, 0.065], 9, random);
      const { conversions } = estimatedCounts(totals);
      state = look(state, compare(totals, 0, 1, 0), { control: conversions[0]![0]!, treatment: conversions[1]![0]! });
    }
    expect(state.significant).toBe(true);
    // The confidence sequence is on the difference p_B − p_A = 0.015.
    expect(state.ci[0]).toBeLessThan(0.015);
    expect(state.ci[1]).toBeGreaterThan(0.015);
    expect(state.ci[0]).toBeGreaterThan(0);
  });

  it('computes the mixture likelihood ratio of Johari et al. and its confidence sequence', () => {
    // At θ̂ = 0 the ratio is √(V/(V+τ²)) < 1: no evidence.
    expect(mixtureLikelihoodRatio(0, 0.01, 0.1)).toBeCloseTo(Math.sqrt(0.5), 12);
    // Λ = 1/α exactly at the edge of the confidence sequence.
    const V = 0.004;
    const r = confidenceSequenceRadius(V, 0.1, 0.05);
    expect(mixtureLikelihoodRatio(r, V, 0.1)).toBeCloseTo(20, 8);
  });

  it('skips looks while a variant has too few conversions', () => {
    const totals = emptyTotals(2, 1);
    release(totals, 100, [0.05, 0.05], 0, seededRandom(1));
    const state = look(initialSequentialState(), compare(totals, 0, 1, 0), { control: 3, treatment: 4 });
    expect(state.looks).toBe(0);
    expect(state.pValue).toBe(1);
  });
});
