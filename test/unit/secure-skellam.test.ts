import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/shared/random.js';
import { decodeFromGrid, encodeToGrid, poisson, skellam } from '../../src/federated/secure/skellam.js';
import { gridParams, localVariance } from '../../src/federated/secure/params.js';
import { addInto, centred } from '../../src/federated/secure/masking.js';

function moments(samples: number[]): { mean: number; variance: number } {
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return { mean, variance: samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (samples.length - 1) };
}

describe('Skellam noise and the integer grid', () => {
  it('draws Poisson variates with the right mean and variance on both sides of the algorithm switch', () => {
    const random = seededRandom(3);
    for (const lambda of [0.7, 6, 12, 3_000, 4e8]) {
      const { mean, variance } = moments(Array.from({ length: 20_000 }, () => poisson(lambda, random)));
      // 20,000 draws: the mean is within 5 standard errors, the variance within 5 %.
      expect(Math.abs(mean - lambda)).toBeLessThan(5 * Math.sqrt(lambda / 20_000));
      expect(variance / lambda).toBeGreaterThan(0.95);
      expect(variance / lambda).toBeLessThan(1.05);
    }
  });

  it('draws symmetric Skellam noise whose sum over clients has the summed variance', () => {
    const random = seededRandom(4);
    const perClient = 1e6 / 30;
    const sums = Array.from({ length: 4000 }, () => {
      let s = 0;
      for (let c = 0; c < 30; c++) s += skellam(perClient, random);
      return s;
    });
    const { mean, variance } = moments(sums);
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(1e6 / 4000));
    expect(variance / 1e6).toBeGreaterThan(0.93);
    expect(variance / 1e6).toBeLessThan(1.07);
  });

  it('round-trips a sum of clipped updates through the grid with errors below a grid step per client', () => {
    const dim = 1000;
    const grid = gridParams({ dim, clip: 0.5, noiseMultiplier: 0, maxClients: 20 });
    const random = seededRandom(5);
    const updates = Array.from({ length: 20 }, () => Float32Array.from({ length: dim }, () => (random() - 0.5) * 0.02));
    const sum = new Uint32Array(dim);
    for (const u of updates) addInto(sum, encodeToGrid(u, grid.scale, 0, random));
    const decoded = decodeFromGrid(centred(sum), grid.scale);
    for (let i = 0; i < dim; i++) {
      const exact = updates.reduce((a, u) => a + (u[i] as number), 0);
      expect(Math.abs((decoded[i] as number) - exact)).toBeLessThan(20 / grid.scale);
    }
  });

  it('refuses a grid whose honest sums could wrap around 32 bits, and spreads the noise over the planned clients', () => {
    expect(() => gridParams({ dim: 2 ** 26, clip: 1, noiseMultiplier: 50, maxClients: 255 })).toThrow(/32 bits/);
    const grid = gridParams({ dim: 10_000, clip: 1, noiseMultiplier: 1, maxClients: 50 });
    expect(grid.l2Sensitivity).toBeCloseTo(128 * 100 + 100, 9);
    expect(localVariance(grid, 50) * 50).toBeCloseTo(grid.targetVariance, 6);
  });
});
