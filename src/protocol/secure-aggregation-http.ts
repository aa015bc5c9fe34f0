/**
 * The secure-aggregation part of the aggregation server's HTTP contract, as TypeBox schemas (the
 * server validates with them; the client takes the static types with `import type`, so no schema
 * code reaches the worker bundle).
 *
 * A secure round runs four phases through the server (Bonawitz et al., CCS 2017):
 *
 * 1. `advertise` — each client that has its update ready joins with two P-256 public keys (one to
 *    encrypt shares, one to agree masks) and gets an index and a bearer token.
 * 2. `share` — the roster is fixed; each client Shamir-shares its self-mask seed and its masking
 *    key among all of the roster (threshold t) and uploads one AES-GCM box per holder, plus a
 *    commitment to every share and to both secrets.
 * 3. `collect` — the clients that shared are fixed; each fetches the boxes addressed to it and
 *    uploads its masked input (the grid-encoded, noised update plus the masks), one fixed size.
 * 4. `unmask` — the clients whose masked inputs arrived are fixed; each survivor reveals, for every
 *    client that shared, the self-mask share if that client's input arrived, else the key share.
 *
 * Every body is the same size for a given model, round and cohort: nothing in a message's length
 * depends on the shopper.
 */
import { Type, type Static } from 'typebox';

/** Header carrying the token a client got when it joined. */
export const SECAGG_TOKEN_HEADER = 'x-hearth-secagg-token';

/** base64url without padding. */
const B64 = '^[A-Za-z0-9_-]*$';
/** A raw uncompressed P-256 public key (65 bytes) in base64url. */
const PublicKey = Type.String({ pattern: B64, minLength: 87, maxLength: 87 });
/** A SHA-256 digest in base64url. */
const Digest = Type.String({ pattern: B64, minLength: 43, maxLength: 43 });

export const SecurePhase = Type.Union([Type.Literal('advertise'), Type.Literal('share'), Type.Literal('collect'), Type.Literal('unmask')]);
export type SecurePhase = Static<typeof SecurePhase>;

/** What `GET /v1/round` adds when the server runs secure aggregation. */
export const SecureRoundInfo = Type.Object({
  /** Most clients one round admits (the roster closes when it is full or its time is up). */
  cohortSize: Type.Integer({ minimum: 2, maximum: 255 }),
  /** Fewest inputs a published sum may have (the server's minClients). */
  minClients: Type.Integer({ minimum: 2 }),
  /** Noise multiplier z of the distributed Skellam noise: the sum carries σ = z · clip. 0: none. */
  noiseMultiplier: Type.Number({ minimum: 0 }),
  /** Modulus of the masked arithmetic, as log2. */
  modulusBits: Type.Literal(32),
  phase: SecurePhase,
  /** How long each phase waits at most before moving on with whoever answered (ms). */
  phaseTimeoutMs: Type.Integer({ minimum: 1 }),
});
export type SecureRoundInfo = Static<typeof SecureRoundInfo>;

/** `POST /v1/rounds/:id/secagg/join`. */
export const JoinRequest = Type.Object({ encryptionKey: PublicKey, maskingKey: PublicKey }, { additionalProperties: false });
export type JoinRequest = Static<typeof JoinRequest>;

export const JoinAccepted = Type.Object({ index: Type.Integer({ minimum: 1 }), token: Type.String() });
export type JoinAccepted = Static<typeof JoinAccepted>;

/** One member of the roster. */
export const RosterEntry = Type.Object({ index: Type.Integer({ minimum: 1 }), encryptionKey: PublicKey, maskingKey: PublicKey });
export type RosterEntry = Static<typeof RosterEntry>;

/**
 * `GET /v1/rounds/:id/secagg/state` (with the token): the phase and what this client needs in it.
 * `roster` and `threshold` from `share` on; `sharers` and `inbox` (boxes addressed to this client,
 * one per sharer, in the order of `sharers`) from `collect` on; `survivors` in `unmask`.
 */
export const SecureState = Type.Object({
  roundId: Type.Integer(),
  phase: SecurePhase,
  /** Suggested wait before asking again (ms). */
  pollMs: Type.Integer({ minimum: 0 }),
  roster: Type.Optional(Type.Array(RosterEntry)),
  threshold: Type.Optional(Type.Integer({ minimum: 2 })),
  sharers: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
  inbox: Type.Optional(Type.Array(Type.String({ pattern: B64 }))),
  survivors: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
  /** Whether the server already holds this client's message of the current phase. */
  done: Type.Boolean(),
});
export type SecureState = Static<typeof SecureState>;

/**
 * `POST /v1/rounds/:id/secagg/shares`: for every roster member in roster order (this client
 * included), a sealed box with its two shares and a commitment to each; plus commitments to the
 * self-mask seed and to the masking key's private scalar, against which the server checks what it
 * reconstructs.
 */
export const SharesUpload = Type.Object(
  {
    boxes: Type.Array(Type.String({ pattern: B64, maxLength: 1024 }), { maxItems: 255 }),
    seedCommitments: Type.Array(Digest, { maxItems: 255 }),
    keyCommitments: Type.Array(Digest, { maxItems: 255 }),
    seedCommitment: Digest,
    keyCommitment: Digest,
  },
  { additionalProperties: false },
);
export type SharesUpload = Static<typeof SharesUpload>;

/**
 * `POST /v1/rounds/:id/secagg/unmask`: for every sharer in `sharers` order, the revealed share and
 * its commitment nonce (base64url of share ‖ nonce): the seed share for a survivor, the key share
 * for a client whose input did not arrive.
 */
export const UnmaskUpload = Type.Object({ reveals: Type.Array(Type.String({ pattern: B64, maxLength: 256 }), { maxItems: 255 }) }, { additionalProperties: false });
export type UnmaskUpload = Static<typeof UnmaskUpload>;

export const SecureAccepted = Type.Object({ accepted: Type.Literal(true), roundId: Type.Integer(), phase: SecurePhase });
export type SecureAccepted = Static<typeof SecureAccepted>;
