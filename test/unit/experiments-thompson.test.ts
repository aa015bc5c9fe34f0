import { describe, expect, it } from 'vitest';
import { chooseArm, priorFromCounts, sampleBeta, MAX_PRIOR_STRENGTH } from '../../src/experiments/thompson.js';
import { seededRandom } from '../../src/shared/random.js';

describe('Thompson sampling', () => {
  it('samples Beta distributions with the right mean and variance', () => {
    const random = seededRandom(4);
    for (const [a, b] of [
      [2, 5],
      [0.5, 0.5],
      [30, 70],
    ] as const) {
      const n = 40_000;
      let sum = 0;
      let sq = 0;
      for (let i = 0; i < n; i++) {
        const x = sampleBeta(a, b, random);
        sum += x;
        sq += x * x;
      }
      const mean = sum / n;
      const variance = sq / n - mean * mean;
      expect(mean).toBeCloseTo(a / (a + b), 2);
      expect(variance).toBeCloseTo((a * b) / ((a + b) ** 2 * (a + b + 1)), 3);
    }
  });

  it('shows the arm that looks better more often, and explores the other', () => {
    const random = seededRandom(8);
    let better = 0;
    for (let i = 0; i < 2000; i++)
      if (
        chooseArm(
          [
            [3, 30],
            [6, 27],
          ],
          random,
        ) === 1
      )
        better++;
    expect(better / 2000).toBeGreaterThan(0.7);
    expect(better / 2000).toBeLessThan(0.99);
  });

  it('turns noisy aggregate counts into a weak prior with the same mean', () => {
    const [a, b] = priorFromCounts(10_000, 500);
    expect(a + b).toBeCloseTo(MAX_PRIOR_STRENGTH, 10);
    expect(a / (a + b)).toBeCloseTo(501 / 10_002, 3);
    expect(priorFromCounts(-40, 12)).toEqual([1, 1]);
    expect(priorFromCounts(3, 1)).toEqual([2, 3]);
  });
});
