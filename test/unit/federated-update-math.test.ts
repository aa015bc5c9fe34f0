import { describe, expect, it } from 'vitest';
import { addGaussianNoise, clipToNorm, l2Norm, subtractWeights } from '../../src/federated/update-math.js';
import { gaussianSampler, secureRandom, seededRandom } from '../../src/shared/random.js';

describe('update arithmetic', () => {
  it('subtracts the global model from the local one', () => {
    const local = [{ name: 'a', shape: [3], values: Float32Array.from([1, 2, 3]) }];
    const global = [{ name: 'a', shape: [3], values: Float32Array.from([0.5, 2, 4]) }];
    expect(Array.from((subtractWeights(local, global)[0] as { values: Float32Array }).values)).toEqual([0.5, 0, -1]);
    expect(() => subtractWeights(local, [{ name: 'b', shape: [3], values: new Float32Array(3) }])).toThrow(/expected "b"/);
  });

  it('clips the whole update to the L2 bound and leaves small updates alone', () => {
    const update = [{ values: Float32Array.from([3, 0]) }, { values: Float32Array.from([0, 4]) }];
    const report = clipToNorm(update, 1);
    expect(report.normBefore).toBeCloseTo(5, 6);
    expect(report.normAfter).toBeLessThanOrEqual(1);
    expect(report.normAfter).toBeGreaterThan(0.999);
    expect(l2Norm(update)).toBeLessThanOrEqual(1);
    const small = [{ values: Float32Array.from([0.1, 0.1]) }];
    expect(clipToNorm(small, 1).factor).toBe(1);
    expect(Array.from(small[0]!.values)).toEqual([Math.fround(0.1), Math.fround(0.1)]);
  });

  it('adds Gaussian noise with the requested standard deviation and zero mean', () => {
    const n = 200_000;
    const update = [{ values: new Float32Array(n) }];
    addGaussianNoise(update, 0.5, seededRandom(9));
    let sum = 0;
    let squares = 0;
    for (const v of update[0]!.values) {
      sum += v;
      squares += v * v;
    }
    const mean = sum / n;
    const std = Math.sqrt(squares / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(std - 0.5)).toBeLessThan(0.005);
  });

  it('draws uniforms in [0, 1) from the CSPRNG with a normal-looking spread', () => {
    const random = secureRandom();
    const normal = gaussianSampler(random);
    let within = 0;
    for (let i = 0; i < 20_000; i++) {
      const u = random();
      expect(u >= 0 && u < 1).toBe(true);
      if (Math.abs(normal()) < 1) within++;
    }
    // P(|Z| < 1) = 0.6827.
    expect(Math.abs(within / 20_000 - 0.6827)).toBeLessThan(0.02);
  });
});
