/**
 * t-of-n Shamir sharing of a client's two mask secrets (its self-mask seed and its masking key's
 * private scalar), on the audited `shamir-secret-sharing` library (Cure53 and Zellic audits; GF(2^8),
 * one share = secret length + 1 byte). Each holder's pair of shares travels in an AES-GCM box only
 * that holder can open; each share is also committed to (SHA-256 over a fresh nonce), so that a
 * holder who later reveals a share cannot change it: the server checks every revealed share
 * against the dealer's commitment before using it, and checks what it reconstructs against the
 * dealer's commitment to the secret.
 */
import { combine, split } from 'shamir-secret-sharing';
import { agree, importPublicKey, label, open, randomBytes, seal, sha256, shareKey } from './crypto.js';

/** Secrets are 32 bytes; a share adds its x coordinate. */
export const SECRET_BYTES = 32;
export const SHARE_BYTES = SECRET_BYTES + 1;
export const NONCE_BYTES = 16;
/** One revealed share: share ‖ nonce. */
export const REVEAL_BYTES = SHARE_BYTES + NONCE_BYTES;
const PLAINTEXT_BYTES = 4 + 2 * REVEAL_BYTES;

export type SecretKind = 'seed' | 'key';

/** What binds every derived key, box and commitment to one round of one server's model. */
export interface RoundContext {
  roundId: number;
  modelVersion: string;
}

const PROTOCOL = 'hearth-secagg-v1';

/** HKDF salt of the round. */
export function roundSalt(ctx: RoundContext): Uint8Array {
  return label(PROTOCOL, 'salt', ctx.roundId, ctx.modelVersion);
}

/** Commitment to the share of `dealer`'s secret `kind` held by `holder`. */
export function shareCommitment(ctx: RoundContext, kind: SecretKind, dealer: number, holder: number, share: Uint8Array, nonce: Uint8Array): Promise<Uint8Array> {
  return sha256(label(PROTOCOL, 'share', ctx.roundId, ctx.modelVersion, kind, dealer, holder), share, nonce);
}

/** Commitment to `dealer`'s secret itself. */
export function secretCommitment(ctx: RoundContext, kind: SecretKind, dealer: number, secret: Uint8Array): Promise<Uint8Array> {
  return sha256(label(PROTOCOL, 'secret', ctx.roundId, ctx.modelVersion, kind, dealer), secret);
}

async function boxKey(ctx: RoundContext, privateKey: CryptoKey, theirPublicKey: Uint8Array, a: number, b: number): Promise<CryptoKey> {
  const secret = await agree(privateKey, await importPublicKey(theirPublicKey));
  return shareKey(secret, roundSalt(ctx), label(PROTOCOL, 'box', Math.min(a, b), Math.max(a, b)));
}

const boxLabel = (ctx: RoundContext, from: number, to: number): Uint8Array => label(PROTOCOL, 'box', ctx.roundId, ctx.modelVersion, from, to);

/** The dealt shares of one client, ready to upload (raw bytes; the transport encodes them). */
export interface DealtShares {
  /** One sealed box per holder, in roster order. */
  boxes: Uint8Array[];
  seedCommitments: Uint8Array[];
  keyCommitments: Uint8Array[];
  seedCommitment: Uint8Array;
  keyCommitment: Uint8Array;
}

/**
 * Splits `seed` and `keyScalar` among `holders` (each with its encryption public key) with
 * threshold `threshold`, sealing each holder's pair of shares to it.
 */
export async function dealShares(options: {
  ctx: RoundContext;
  dealer: number;
  encryptionKey: CryptoKey;
  holders: readonly { index: number; encryptionKey: Uint8Array }[];
  threshold: number;
  seed: Uint8Array;
  keyScalar: Uint8Array;
}): Promise<DealtShares> {
  const { ctx, dealer, holders, threshold } = options;
  const seedShares = await split(options.seed, holders.length, threshold);
  const keyShares = await split(options.keyScalar, holders.length, threshold);
  const out: DealtShares = {
    boxes: [],
    seedCommitments: [],
    keyCommitments: [],
    seedCommitment: await secretCommitment(ctx, 'seed', dealer, options.seed),
    keyCommitment: await secretCommitment(ctx, 'key', dealer, options.keyScalar),
  };
  for (let i = 0; i < holders.length; i++) {
    const holder = holders[i] as { index: number; encryptionKey: Uint8Array };
    const seedShare = seedShares[i] as Uint8Array;
    const keyShare = keyShares[i] as Uint8Array;
    const seedNonce = randomBytes(NONCE_BYTES);
    const keyNonce = randomBytes(NONCE_BYTES);
    const plaintext = new Uint8Array(PLAINTEXT_BYTES);
    const header = new DataView(plaintext.buffer);
    header.setUint16(0, dealer);
    header.setUint16(2, holder.index);
    plaintext.set(seedShare, 4);
    plaintext.set(seedNonce, 4 + SHARE_BYTES);
    plaintext.set(keyShare, 4 + REVEAL_BYTES);
    plaintext.set(keyNonce, 4 + REVEAL_BYTES + SHARE_BYTES);
    const key = await boxKey(ctx, options.encryptionKey, holder.encryptionKey, dealer, holder.index);
    out.boxes.push(await seal(key, plaintext, boxLabel(ctx, dealer, holder.index)));
    out.seedCommitments.push(await shareCommitment(ctx, 'seed', dealer, holder.index, seedShare, seedNonce));
    out.keyCommitments.push(await shareCommitment(ctx, 'key', dealer, holder.index, keyShare, keyNonce));
  }
  return out;
}

/** The two reveals (share ‖ nonce) a holder received from one dealer. */
export interface ReceivedShares {
  seed: Uint8Array;
  key: Uint8Array;
}

/**
 * Opens the box `dealer` sealed to `holder`. `undefined` when it does not open or names another
 * pair of clients (a tampered or misdirected box): the holder then has nothing to reveal for it.
 */
export async function openShares(options: {
  ctx: RoundContext;
  holder: number;
  encryptionKey: CryptoKey;
  dealer: number;
  dealerEncryptionKey: Uint8Array;
  box: Uint8Array;
}): Promise<ReceivedShares | undefined> {
  const { ctx, holder, dealer } = options;
  let key: CryptoKey;
  try {
    key = await boxKey(ctx, options.encryptionKey, options.dealerEncryptionKey, dealer, holder);
  } catch {
    return undefined;
  }
  const plaintext = await open(key, options.box, boxLabel(ctx, dealer, holder));
  if (!plaintext || plaintext.length !== PLAINTEXT_BYTES) return undefined;
  const header = new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  if (header.getUint16(0) !== dealer || header.getUint16(2) !== holder) return undefined;
  return { seed: plaintext.slice(4, 4 + REVEAL_BYTES), key: plaintext.slice(4 + REVEAL_BYTES) };
}

/**
 * Reconstructs a secret from revealed shares, using only those that match the dealer's
 * commitments, and returns it only if it matches the dealer's commitment to the secret.
 * `undefined` when fewer than `threshold` valid shares came back, or they do not agree.
 */
export async function recoverSecret(options: {
  ctx: RoundContext;
  kind: SecretKind;
  dealer: number;
  threshold: number;
  /** (holder, reveal) pairs as the holders sent them. */
  reveals: readonly { holder: number; reveal: Uint8Array }[];
  /** The dealer's commitment to each holder's share, by holder index. */
  commitments: ReadonlyMap<number, Uint8Array>;
  secretCommitment: Uint8Array;
}): Promise<{ secret: Uint8Array; validShares: number; rejectedShares: number } | undefined> {
  const { ctx, kind, dealer } = options;
  const valid: Uint8Array[] = [];
  let rejected = 0;
  for (const { holder, reveal } of options.reveals) {
    const expected = options.commitments.get(holder);
    if (!expected || reveal.length !== REVEAL_BYTES) {
      rejected++;
      continue;
    }
    const share = reveal.subarray(0, SHARE_BYTES);
    const nonce = reveal.subarray(SHARE_BYTES);
    const actual = await shareCommitment(ctx, kind, dealer, holder, share, nonce);
    if (equalBytes(actual, expected)) valid.push(share.slice());
    else rejected++;
  }
  if (valid.length < options.threshold) return undefined;
  let secret: Uint8Array;
  try {
    secret = await combine(valid);
  } catch {
    return undefined;
  }
  const check = await secretCommitment(ctx, kind, dealer, secret);
  if (!equalBytes(check, options.secretCommitment)) return undefined;
  return { secret, validShares: valid.length, rejectedShares: rejected };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}
