/**
 * Randomness for federated updates. Noise that protects privacy must come from a cryptographic
 * source (`crypto.getRandomValues`), never `Math.random`; tests inject a seeded source instead.
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
 * A small deterministic generator (sfc32) for tests and simulations. Not for privacy noise.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const step = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / TWO_POW_32;
  };
  for (let i = 0; i < 12; i++) step();
  return step;
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
