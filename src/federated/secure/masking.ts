/**
 * Arithmetic of masked updates: vectors of integers modulo 2^32, kept in `Uint32Array`s so that
 * wrap-around is the hardware's. A masked input is `x + PRG(b_u) + Σ_{v>u} PRG(s_uv) − Σ_{v<u}
 * PRG(s_uv) (mod 2^32)` (Bonawitz et al., CCS 2017, §4): the pairwise streams cancel in the sum of
 * any set of clients that includes both ends of every pair, the self mask hides the rest.
 */
import { HearthError } from '../../protocol/errors.js';

/** log2 of the modulus of the masked arithmetic. */
export const MODULUS_BITS = 32;

let littleEndian: boolean | undefined;

/**
 * Masks are added as little-endian words on every platform (they travel as such). Every platform
 * that runs JavaScript today is little-endian; a big-endian one fails loudly rather than silently
 * computing masks that would not cancel.
 */
export function assertLittleEndian(): void {
  littleEndian ??= new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  if (!littleEndian) throw new HearthError('invalid_options', 'secure aggregation needs a little-endian platform');
}

/** `into += mask (mod 2^32)`, in place. */
export function addInto(into: Uint32Array, mask: Uint32Array): void {
  if (into.length !== mask.length) throw new RangeError(`mask of ${mask.length} words for a vector of ${into.length}`);
  for (let i = 0; i < into.length; i++) into[i] = ((into[i] as number) + (mask[i] as number)) >>> 0;
}

/** `into −= mask (mod 2^32)`, in place. */
export function subtractInto(into: Uint32Array, mask: Uint32Array): void {
  if (into.length !== mask.length) throw new RangeError(`mask of ${mask.length} words for a vector of ${into.length}`);
  for (let i = 0; i < into.length; i++) into[i] = ((into[i] as number) - (mask[i] as number)) >>> 0;
}

/**
 * The sign with which client `u` applies the pairwise mask it shares with `v`: the lower index
 * adds, the higher subtracts, so the pair's two contributions cancel.
 */
export function pairSign(u: number, v: number): 1 | -1 {
  if (u === v) throw new RangeError('a client has no pairwise mask with itself');
  return u < v ? 1 : -1;
}

/** Reads a modular sum as signed 32-bit integers (two's complement), the centred representative. */
export function centred(sum: Uint32Array): Int32Array {
  return new Int32Array(sum.buffer, sum.byteOffset, sum.length);
}
