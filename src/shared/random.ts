/**
 * The random numbers Hearth uses, one of each kind: a cryptographic source for everything that
 * protects privacy (federated noise, stochastic rounding, ids), a small seeded generator for what
 * must be reproducible (model initialisation, sampling, tests, simulations), and one normal
 * sampler over either.
 */

/** A source of uniform numbers in [0, 1). */
export type RandomSource = () => number;

const BUFFER_WORDS = 2048;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/**
 * Uniform numbers in [0, 1) with 53 random bits each, from the platform's CSPRNG (browsers,
 * workers and Node ≥ 20 all have `globalThis.crypto`). Words are drawn in blocks because each
 * `getRandomValues` call has a fixed cost.
 *
 * @example
 * ```ts
 * const random = secureRandom();
 * const u = random(); // 0 <= u < 1
 * ```
 */
export function secureRandom(): RandomSource {
  const words = new Uint32Array(BUFFER_WORDS);
  let next = BUFFER_WORDS;
  const word = (): number => {
    if (next >= BUFFER_WORDS) {
      globalThis.crypto.getRandomValues(words);
      next = 0;
    }
    return words[next++] as number;
  };
  return () => ((word() >>> 5) * 67108864 + (word() >>> 6)) / TWO_POW_53;
}

/**
 * A small deterministic generator (mulberry32) for what must be reproducible: a model created with
 * the same seed starts from the same weights on every device and in every test. Not for privacy
 * noise.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * random(); // 0.6011...
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / TWO_POW_32;
  };
}

/**
 * A standard normal sampler over `random` (Box–Muller; the second value of each pair is kept).
 *
 * @example
 * ```ts
 * const normal = gaussianSampler(secureRandom());
 * const z = normal();
 * ```
 */
export function gaussianSampler(random: RandomSource): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    // 1 - u is in (0, 1], so the log never sees zero.
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}
