/**
 * The cryptographic operations of secure aggregation, each a thin use of WebCrypto (browsers,
 * workers and Node ≥ 20 all have `globalThis.crypto.subtle`). Nothing here implements a
 * primitive: key agreement is ECDH on P-256, keys are derived with HKDF-SHA256, the mask
 * generator is AES-256-CTR over zeros, shares travel under AES-256-GCM, commitments are SHA-256.
 * Shamir sharing (which WebCrypto lacks) lives in `shares.ts`, on an audited library.
 */
import { HearthError } from '../../protocol/errors.js';

const subtle = (): SubtleCrypto => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new HearthError('invalid_options', 'secure aggregation needs WebCrypto (crypto.subtle): a secure context (https) or Node ≥ 20');
  return s;
};

/** WebCrypto wants ArrayBuffer-backed views; copies when `bytes` views a shared or offset buffer. */
export function view(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

const CURVE = { name: 'ECDH', namedCurve: 'P-256' } as const;
/** An uncompressed P-256 point: 0x04 ‖ x ‖ y. */
export const PUBLIC_KEY_BYTES = 65;
/** A P-256 private scalar. */
export const PRIVATE_KEY_BYTES = 32;

/** One ECDH key pair; the private half is extractable only when it must be secret-shared. */
export interface AgreementKeys {
  privateKey: CryptoKey;
  /** Raw uncompressed public key. */
  publicKey: Uint8Array;
}

/**
 * A fresh P-256 key pair.
 *
 * @example
 * ```ts
 * const { publicKey } = await generateAgreementKeys(false);
 * ```
 */
export async function generateAgreementKeys(extractable: boolean): Promise<AgreementKeys> {
  const pair = (await subtle().generateKey(CURVE, extractable, ['deriveBits'])) as CryptoKeyPair;
  const publicKey = new Uint8Array(await subtle().exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey };
}

function b64url(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromB64url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** The private scalar of an extractable key (what is Shamir-shared for dropout recovery). */
export async function exportPrivateScalar(key: CryptoKey): Promise<Uint8Array> {
  const jwk = await subtle().exportKey('jwk', key);
  if (typeof jwk.d !== 'string') throw new HearthError('invalid_update', 'the masking key has no private scalar');
  const d = fromB64url(jwk.d);
  if (d.length !== PRIVATE_KEY_BYTES) throw new HearthError('invalid_update', 'unexpected private scalar length');
  return d;
}

/**
 * Rebuilds a private key from its scalar and the public key it must match. WebCrypto refuses a
 * scalar that does not belong to the public key, so a reconstruction from wrong shares fails here.
 */
export async function importPrivateScalar(scalar: Uint8Array, publicKey: Uint8Array): Promise<CryptoKey> {
  if (scalar.length !== PRIVATE_KEY_BYTES || publicKey.length !== PUBLIC_KEY_BYTES || publicKey[0] !== 4) {
    throw new HearthError('invalid_update', 'bad key material for P-256');
  }
  const jwk: JsonWebKey = { kty: 'EC', crv: 'P-256', x: b64url(publicKey.subarray(1, 33)), y: b64url(publicKey.subarray(33, 65)), d: b64url(scalar), ext: false };
  return subtle().importKey('jwk', jwk, CURVE, false, ['deriveBits']);
}

/** Checks that `publicKey` is a valid P-256 point (WebCrypto validates it on import). */
export async function importPublicKey(publicKey: Uint8Array): Promise<CryptoKey> {
  if (publicKey.length !== PUBLIC_KEY_BYTES || publicKey[0] !== 4) throw new HearthError('invalid_update', 'a public key must be an uncompressed P-256 point (65 bytes)');
  try {
    return await subtle().importKey('raw', view(publicKey), CURVE, false, []);
  } catch {
    throw new HearthError('invalid_update', 'a public key is not a point on P-256');
  }
}

/** The ECDH shared secret (x coordinate) of our private key and their public key. */
export async function agree(privateKey: CryptoKey, theirPublicKey: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await subtle().deriveBits({ name: 'ECDH', public: theirPublicKey }, privateKey, 256));
}

const encoder = new TextEncoder();

/** Bytes of a label, for HKDF's info and for commitments. */
export function label(...parts: (string | number)[]): Uint8Array {
  return encoder.encode(parts.join('|'));
}

async function hkdfKey(secret: Uint8Array, salt: Uint8Array, info: Uint8Array, algorithm: 'AES-CTR' | 'AES-GCM', usages: KeyUsage[]): Promise<CryptoKey> {
  const base = await subtle().importKey('raw', view(secret), 'HKDF', false, ['deriveKey']);
  return subtle().deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: view(salt), info: view(info) }, base, { name: algorithm, length: 256 }, false, usages);
}

/** An AES-256-CTR key for a mask stream, from a shared secret (pairwise) or a seed (self mask). */
export function maskKey(secret: Uint8Array, salt: Uint8Array, info: Uint8Array): Promise<CryptoKey> {
  return hkdfKey(secret, salt, info, 'AES-CTR', ['encrypt']);
}

/** An AES-256-GCM key for the shares one client sends another. */
export function shareKey(secret: Uint8Array, salt: Uint8Array, info: Uint8Array): Promise<CryptoKey> {
  return hkdfKey(secret, salt, info, 'AES-GCM', ['encrypt', 'decrypt']);
}

const zeroCache = new Map<number, Uint8Array<ArrayBuffer>>();
function zeros(bytes: number): Uint8Array<ArrayBuffer> {
  let z = zeroCache.get(bytes);
  if (!z) {
    // One buffer of zeros per size is kept (a model has one size); older sizes are dropped.
    zeroCache.clear();
    z = new Uint8Array(bytes);
    zeroCache.set(bytes, z);
  }
  return z;
}

/**
 * `words` 32-bit words of the AES-CTR keystream of `key` (counter from zero; each key is used for
 * one stream only), as little-endian unsigned integers.
 */
export async function expandMask(key: CryptoKey, words: number): Promise<Uint32Array> {
  const stream = await subtle().encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 64 }, key, zeros(4 * words));
  return new Uint32Array(stream);
}

/** AES-256-GCM with a random 96-bit IV; the output is IV ‖ ciphertext ‖ tag. */
export async function seal(key: CryptoKey, plaintext: Uint8Array, associated: Uint8Array): Promise<Uint8Array> {
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv, additionalData: view(associated) }, key, view(plaintext)));
  const out = new Uint8Array(12 + sealed.length);
  out.set(iv, 0);
  out.set(sealed, 12);
  return out;
}

/** Opens what `seal` made; `undefined` when the tag (or the associated data) does not match. */
export async function open(key: CryptoKey, box: Uint8Array, associated: Uint8Array): Promise<Uint8Array | undefined> {
  if (box.length < 28) return undefined;
  try {
    return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: view(box.slice(0, 12)), additionalData: view(associated) }, key, view(box.slice(12))));
  } catch {
    return undefined;
  }
}

/** SHA-256 of the concatenation of `parts`. */
export async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    joined.set(p, offset);
    offset += p.length;
  }
  return new Uint8Array(await subtle().digest('SHA-256', joined));
}

/** Fresh random bytes from the platform CSPRNG. */
export function randomBytes(length: number): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

/** Constant-time comparison of two byte strings of public length. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

export { b64url as toBase64Url, fromB64url as fromBase64Url };
