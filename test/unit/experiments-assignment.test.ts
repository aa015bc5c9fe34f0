import { describe, expect, it } from 'vitest';
import { checkExperimentOptions, checkOptimiseOptions, drawIndex } from '../../src/experiments/options.js';
import { buildLayout, categoryCount, categoryOf, outcomeOfCategory, sensitivity, vectorProblem, writeOutcome } from '../../src/experiments/layout.js';
import { hasErrorCode } from '../../src/protocol/errors.js';
import { secureRandom } from '../../src/shared/random.js';
import type { RegistryExperiment } from '../../src/protocol/experiments.js';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('did not throw');
}

describe('experiment options and assignment', () => {
  it('fills in equal weights and the default metrics', () => {
    expect(checkExperimentOptions('home-recs', { variants: ['model', 'bestsellers'] })).toEqual({
      name: 'home-recs',
      variants: ['model', 'bestsellers'],
      weights: [1, 1],
      metrics: ['add_to_cart', 'purchase', 'revenue'],
    });
  });

  it('refuses bad options with invalid_argument naming what is valid', () => {
    const cases: [unknown, unknown, RegExp][] = [
      ['', { variants: ['a', 'b'] }, /name/],
      ['x', { variants: ['a'] }, /2–8 names/],
      ['x', { variants: ['a', 'a'] }, /distinct/],
      ['x', { variants: ['a', 'b'], weights: [1, 0] }, /> 0/],
      ['x', { variants: ['a', 'b'], weights: [1] }, /one per variant/],
      ['x', { variants: ['a', 'b'], metrics: ['add2cart'] }, /expected one of: select_item, add_to_cart/],
      ['x', { variants: ['a', 'b'], colour: 'red' }, /valid options: variants, weights, metrics/],
      ['x', null, /must be an object/],
    ];
    for (const [name, options, message] of cases) {
      const error = caught(() => checkExperimentOptions(name, options));
      expect(hasErrorCode(error, 'invalid_argument')).toBe(true);
      expect(String((error as Error).message)).toMatch(message);
    }
    const hostile = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('boom');
        },
      },
    );
    expect(
      hasErrorCode(
        caught(() => checkExperimentOptions('x', hostile)),
        'invalid_argument',
      ),
    ).toBe(true);
    expect(
      hasErrorCode(
        caught(() => checkOptimiseOptions('w', { arms: ['a', 'b'], reward: 'revenue' })),
        'invalid_argument',
      ),
    ).toBe(true);
    expect(checkOptimiseOptions('w', { arms: ['a', 'b'], reward: 'select_item' }).windowMs).toBe(1_800_000);
  });

  it('draws variants in proportion to their weights from uniform numbers', () => {
    const random = secureRandom();
    const counts = [0, 0, 0];
    const n = 60_000;
    for (let i = 0; i < n; i++) counts[drawIndex([1, 2, 1], random())]!++;
    // Binomial standard deviations are ≈ 106 and 122: allow 5 of them.
    expect(Math.abs(counts[0]! - n / 4)).toBeLessThan(5 * Math.sqrt((n * 3) / 16));
    expect(Math.abs(counts[1]! - n / 2)).toBeLessThan(5 * Math.sqrt(n / 4));
    expect(drawIndex([1, 1], 0)).toBe(0);
    expect(drawIndex([1, 1], 0.9999999)).toBe(1);
  });
});

describe('report layout', () => {
  const registry: RegistryExperiment[] = [
    { name: 'a', kind: 'experiment', variants: ['c', 't'], metrics: ['add_to_cart', 'purchase', 'revenue'], windowHours: 168, revenueCap: 100, epsilon: 1, delta: 1e-6 },
    { name: 'b', kind: 'bandit', variants: ['x', 'y', 'z'], metrics: ['select_item'], windowHours: 0.5, revenueCap: 100, epsilon: 1, delta: 1e-6 },
  ];
  const layout = buildLayout(registry, () => ({ sigma: 1, secureMu: 1, rr: { mechanism: 'krr', epsilon: 1, categories: 2 } }));

  it('places every experiment after the previous one, one row of 1 + m cells per variant', () => {
    expect(layout.length).toBe(2 * 4 + 3 * 2);
    expect(layout.experiments.map((e) => [e.offset, e.rowCells])).toEqual([
      [0, 4],
      [8, 2],
    ]);
    expect(sensitivity(registry[0]!)).toEqual({ l1: 4, l2: 2 });
    expect(categoryCount(registry[0]!)).toBe(16);
  });

  it('maps outcomes to categories and back', () => {
    for (let c = 0; c < 16; c++) expect(categoryOf(3, outcomeOfCategory(3, c))).toBe(c);
    expect(outcomeOfCategory(3, 13)).toEqual({ variant: 1, bits: [true, false, true] });
  });

  it('accepts an honest report and refuses one that could move the sums more than one shopper can', () => {
    const vector = new Uint8Array(layout.length);
    writeOutcome(vector, layout.experiments[0]!, { variant: 1, bits: [true, false, true] });
    writeOutcome(vector, layout.experiments[1]!, { variant: 2, bits: [true] });
    expect(vectorProblem(layout, vector)).toBeUndefined();
    expect(
      vectorProblem(
        layout,
        [...vector].map((x, i) => (i === 0 ? 1 : x)),
      ),
    ).toMatch(/more than one variant/);
    expect(
      vectorProblem(
        layout,
        [...vector].map((x, i) => (i === 5 ? 2 : x)),
      ),
    ).toMatch(/not 0 or 1/);
    const orphan = new Uint8Array(layout.length);
    orphan[2] = 1;
    expect(vectorProblem(layout, orphan)).toMatch(/metric without an exposure/);
    expect(vectorProblem(layout, new Uint8Array(3))).toMatch(/14 cells/);
  });
});
