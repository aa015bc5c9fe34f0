/**
 * The two kinds of mask stream: the self mask, from a client's seed, and the pairwise mask of two
 * clients, from their ECDH agreement. Client and server derive them the same way, here.
 */
import { agree, expandMask, importPublicKey, label, maskKey } from './crypto.js';
import { roundSalt, type RoundContext } from './shares.js';

const PROTOCOL = 'hearth-secagg-v1';

/**
 * `words` words of the self mask of client `index`.
 *
 * @example
 * ```ts
 * const mask = await selfMask(ctx, seed, 3, dim);
 * ```
 */
export async function selfMask(ctx: RoundContext, seed: Uint8Array, index: number, words: number): Promise<Uint32Array> {
  return expandMask(await maskKey(seed, roundSalt(ctx), label(PROTOCOL, 'self', index)), words);
}

/**
 * `words` words of the mask that clients `a` and `b` share, seen from the holder of `privateKey`
 * (one of the two) with the other's masking public key.
 *
 * @example
 * ```ts
 * const mask = await pairMask(ctx, myMaskingKey, theirPublicKey, me, them, dim);
 * ```
 */
export async function pairMask(ctx: RoundContext, privateKey: CryptoKey, theirPublicKey: Uint8Array, a: number, b: number, words: number): Promise<Uint32Array> {
  const secret = await agree(privateKey, await importPublicKey(theirPublicKey));
  return expandMask(await maskKey(secret, roundSalt(ctx), label(PROTOCOL, 'pair', Math.min(a, b), Math.max(a, b))), words);
}
