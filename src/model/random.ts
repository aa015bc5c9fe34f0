/**
 * The models' random helpers (initialisation, shuffling, hashed buckets) over the shared
 * generators of src/shared/random.ts.
 */
import { gaussianSampler, type RandomSource } from '../shared/random.js';

export { seededRandom } from '../shared/random.js';

/** A uniform generator in [0, 1). */
export type Random = RandomSource;

/** `n` normal samples with standard deviation `std`. */
export function normalValues(random: Random, n: number, std: number): Float32Array {
  const normal = gaussianSampler(random);
  return Float32Array.from({ length: n }, () => normal() * std);
}

/** Glorot-uniform values for a `[fanIn, fanOut]` matrix. */
export function glorotValues(random: Random, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const out = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < out.length; i++) out[i] = (random() * 2 - 1) * limit;
  return out;
}

/** Shuffles `items` in place (Fisher–Yates). */
export function shuffleInPlace<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = items[i] as T;
    items[i] = items[j] as T;
    items[j] = tmp;
  }
  return items;
}

/** FNV-1a 32-bit hash of a string: stable across devices and versions (it decides bucket rows). */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
