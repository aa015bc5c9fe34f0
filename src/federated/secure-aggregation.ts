/**
 * Secure aggregation of experiment reports, the device's side: pairwise masks that cancel in the
 * sum of a whole cohort (Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving
 * Machine Learning", CCS 2017, its pairwise-masking core) and a Skellam share of the DP noise
 * (Agarwal, Kairouz & Liu, NeurIPS 2021), so that the server learns only the cohort's noisy sum.
 *
 * Each member of a round's cohort has a one-round ECDH P-256 key pair (WebCrypto; the private key
 * is non-extractable and never leaves the device's store). For every other member j, members i and
 * j derive the same secret by ECDH, expand it with HKDF-SHA-256 (salted with the round and the
 * layout) into an AES-256-CTR key, and take its keystream over zeros as uint32 words m_ij. Member i
 * sends y_i = x_i + s_i + Σ_{j: id_i < id_j} m_ij − Σ_{j: id_j < id_i} m_ij (mod 2³²), where x_i is
 * its 0/1 report vector and s_i its noise share. Without all of the other members' secrets, y_i is
 * uniformly distributed: the server cannot read one report on its own. Summed over the cohort, the
 * masks cancel and Σ y_i = Σ x_i + Σ s_i (mod 2³²).
 *
 * What this assumes (said plainly): an honest-but-curious server. It does not authenticate cohort
 * keys (a server that invents members could unmask a device), recovers no dropped member (a cohort
 * that does not complete is abandoned, and its devices report in a later round or by randomized
 * response), and cannot check a masked vector's range (a malicious device could skew the sums).
 */
import type { RandomSource } from '../shared/random.js';

const ECDH = { name: 'ECDH', namedCurve: 'P-256' } as const;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Bytes as unpadded base64url. */
export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = i + 2 < bytes.length ? 4 : i + 1 < bytes.length ? 3 : 2;
    for (let c = 0; c < chars; c++) out += B64URL[(n >> (18 - 6 * c)) & 63];
  }
  return out;
}

/** Unpadded base64url as bytes; throws on a character outside the alphabet. */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (const char of text) {
    const v = B64URL.indexOf(char);
    if (v < 0) throw new TypeError('not base64url');
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 255;
    }
  }
  return out.slice(0, o);
}

/** WebCrypto, where this runtime has it (browsers in a secure context, workers, Node 20). */
export function subtleCrypto(): SubtleCrypto | undefined {
  return globalThis.crypto?.subtle;
}

/** A cohort member's one-round key pair: the private key stays on the device (non-extractable). */
export interface CohortKeyPair {
  privateKey: CryptoKey;
  /** The raw uncompressed public key, base64url (87 characters). */
  publicKey: string;
}

/**
 * @example
 * ```ts
 * const pair = await generateCohortKey(crypto.subtle);
 * ```
 */
export async function generateCohortKey(subtle: SubtleCrypto): Promise<CohortKeyPair> {
  const pair = (await subtle.generateKey(ECDH, false, ['deriveBits'])) as CryptoKeyPair;
  const raw = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey: toBase64Url(raw) };
}

/** The pairwise mask of this member and `peer`: `length` uint32 words, the same on both sides. */
export async function pairwiseMask(subtle: SubtleCrypto, privateKey: CryptoKey, peerPublicKey: string, salt: string, length: number): Promise<Uint32Array> {
  const peer = await subtle.importKey('raw', fromBase64Url(peerPublicKey), ECDH, false, []);
  const secret = await subtle.deriveBits({ name: 'ECDH', public: peer }, privateKey, 256);
  const hkdf = await subtle.importKey('raw', secret, 'HKDF', false, ['deriveKey']);
  const aes = await subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new TextEncoder().encode(salt), info: new TextEncoder().encode('hearth experiments mask v1') },
    hkdf,
    { name: 'AES-CTR', length: 256 },
    false,
    ['encrypt'],
  );
  const stream = await subtle.encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 64 }, aes, new Uint8Array(length * 4));
  return new Uint32Array(stream.slice(0, length * 4));
}

/** One Poisson(μ) variate (Knuth's product of uniforms for small μ, a normal approximation above 30 in pieces). */
export function samplePoisson(mu: number, random: RandomSource): number {
  let total = 0;
  let left = mu;
  // Poisson(a + b) = Poisson(a) + Poisson(b): pieces of at most 30 keep Knuth's loop short and exact.
  while (left > 0) {
    const piece = Math.min(left, 30);
    left -= piece;
    const limit = Math.exp(-piece);
    let k = 0;
    let p = 1;
    for (;;) {
      p *= random();
      if (p <= limit) break;
      k++;
    }
    total += k;
  }
  return total;
}

/** One Skellam(μ) variate: Poisson(μ) − Poisson(μ), variance 2μ. */
export function sampleSkellam(mu: number, random: RandomSource): number {
  return samplePoisson(mu, random) - samplePoisson(mu, random);
}

/**
 * The masked report of one cohort member: its vector, plus a Skellam share (μ per cell from
 * `noiseMu(cell)`), plus its masks with every other member, mod 2³².
 *
 * @example
 * ```ts
 * const words = await maskReport({ subtle, vector, self, keyId, cohort, salt, noiseMu: () => 0.5, random });
 * ```
 */
export async function maskReport(options: {
  subtle: SubtleCrypto;
  vector: ArrayLike<number>;
  keyId: string;
  privateKey: CryptoKey;
  cohort: readonly { keyId: string; publicKey: string }[];
  salt: string;
  noiseMu: (cell: number) => number;
  random: RandomSource;
}): Promise<Uint32Array> {
  const n = options.vector.length;
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = ((options.vector[i] as number) + sampleSkellam(options.noiseMu(i), options.random)) >>> 0;
  for (const peer of options.cohort) {
    if (peer.keyId === options.keyId) continue;
    const mask = await pairwiseMask(options.subtle, options.privateKey, peer.publicKey, options.salt, n);
    const add = options.keyId < peer.keyId;
    for (let i = 0; i < n; i++) out[i] = (add ? (out[i] as number) + (mask[i] as number) : (out[i] as number) - (mask[i] as number)) >>> 0;
  }
  return out;
}

/** uint32 words as little-endian bytes, base64url. */
export function encodeWords(words: Uint32Array): string {
  const bytes = new Uint8Array(words.length * 4);
  const view = new DataView(bytes.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w, true));
  return toBase64Url(bytes);
}

/** The inverse of {@link encodeWords}; undefined when `text` is not `length` words. */
export function decodeWords(text: string, length: number): Uint32Array | undefined {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64Url(text);
  } catch {
    return undefined;
  }
  if (bytes.length !== length * 4) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Uint32Array.from({ length }, (_, i) => view.getUint32(i * 4, true));
}

/** The salt of a round's masks: masks of one round are useless in any other. */
export function maskSalt(roundId: number, layoutId: string): string {
  return `hearth-experiments:${roundId}:${layoutId}`;
}
