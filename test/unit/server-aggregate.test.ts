import { describe, expect, it } from 'vitest';
import { clipFlat, coordinateMedian, fedAdamStep, fedAvgStep, noisyMean, trimmedMean, weightedMean } from '../../src/server/aggregate.js';
import { seededRandom } from '../../src/shared/random.js';

const f = (...v: number[]): Float32Array => Float32Array.from(v);

describe('aggregation rules', () => {
  it('averages updates, weighted or not', () => {
    expect(Array.from(weightedMean([f(1, 2), f(3, 6)]))).toEqual([2, 4]);
    expect(Array.from(weightedMean([f(1, 2), f(3, 6)], [3, 1]))).toEqual([1.5, 3]);
  });

  it('applies the FedAvg server step', () => {
    const w = f(1, 1);
    fedAvgStep(w, f(0.5, -1), 0.5);
    expect(Array.from(w)).toEqual([1.25, 0.5]);
  });

  it('follows Reddi et al.: m, v and x after two FedAdam steps', () => {
    const w = f(0);
    const state = { m: f(0), v: f(0) };
    fedAdamStep(w, f(0.1), state, { learningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
    // m = 0.01, v = 1e-4, x = 0.01 * 0.01 / (0.01 + 0.001)
    expect(state.m[0]).toBeCloseTo(0.01, 7);
    expect(state.v[0]).toBeCloseTo(1e-4, 9);
    expect(w[0]).toBeCloseTo((0.01 * 0.01) / 0.011, 7);
    fedAdamStep(w, f(-0.2), state, { learningRate: 0.01, beta1: 0.9, beta2: 0.99, tau: 1e-3 });
    const m2 = 0.9 * 0.01 + 0.1 * -0.2;
    const v2 = 0.99 * 1e-4 + 0.01 * 0.04;
    expect(state.m[0]).toBeCloseTo(m2, 7);
    expect(state.v[0]).toBeCloseTo(v2, 8);
    expect(w[0]).toBeCloseTo((0.01 * 0.01) / 0.011 + (0.01 * m2) / (Math.sqrt(v2) + 1e-3), 6);
  });

  it('takes the coordinate-wise median, which ignores a poisoned minority', () => {
    const honest = [f(1, -1), f(1.2, -0.8), f(0.9, -1.1)];
    const poisoned = [f(1000, 1000), f(-1000, 1000)];
    expect(Array.from(coordinateMedian([...honest, ...poisoned]))).toEqual([1, -0.800000011920929]);
    expect(Array.from(coordinateMedian([f(1), f(2), f(3), f(10)]))).toEqual([2.5]);
  });

  it('trims the extremes before averaging', () => {
    const updates = [f(1), f(2), f(3), f(4), f(100)];
    expect(trimmedMean(updates, 0.2)[0]).toBeCloseTo(3, 6);
    expect(trimmedMean(updates, 0)[0]).toBeCloseTo(22, 6);
  });

  it('clips a flat update to the bound', () => {
    const u = f(3, 4);
    expect(clipFlat(u, 1)).toBeCloseTo(5, 6);
    expect(Math.hypot(u[0] as number, u[1] as number)).toBeLessThanOrEqual(1);
  });

  it('adds noise of std z*clip/m to the mean', () => {
    const m = 4;
    const n = 100_000;
    const updates = Array.from({ length: m }, () => new Float32Array(n));
    const out = noisyMean(updates, 0.5, 2, seededRandom(3));
    let sq = 0;
    for (const v of out) sq += v * v;
    expect(Math.sqrt(sq / n)).toBeCloseTo((2 * 0.5) / m, 2);
  });
});
