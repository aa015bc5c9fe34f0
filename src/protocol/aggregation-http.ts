/**
 * The aggregation server's HTTP contract as TypeBox schemas: the server hands them to fastify
 * (validation of every route's input, serialisation of its output), and the client takes the
 * static types from them with `import type`, which leaves nothing of TypeBox in the page or worker
 * bundles. Only the server imports this module's values.
 */
import { Type, type Static } from 'typebox';
import { MODEL_VERSION_HEADER, SITE_KEY_HEADER } from './aggregation-headers.js';
import { SecureRoundInfo } from './secure-aggregation-http.js';

/** Digits only, at most 15 of them: a round id that is a safe integer. */
export const ROUND_ID_PATTERN = '^[0-9]{1,15}$';
/** What a model version may look like (the same rule as the update header's `modelVersion`). */
export const MODEL_VERSION_PATTERN = '^[A-Za-z0-9._-]{1,64}$';

/** `POST /v1/rounds/:id/updates` path parameters. */
export const RoundParams = Type.Object({ id: Type.String({ pattern: ROUND_ID_PATTERN }) }, { additionalProperties: false });
export type RoundParams = Static<typeof RoundParams>;

/** `POST /v1/rounds/:id/updates` headers (others pass). The key's value is compared in constant time separately. */
export const UploadHeaders = Type.Object({ [SITE_KEY_HEADER]: Type.String({ minLength: 1, maxLength: 512 }) });
export type UploadHeaders = Static<typeof UploadHeaders>;

/** `GET /v1/model` headers: an optional conditional-request ETag list. */
export const ModelHeaders = Type.Object({ 'if-none-match': Type.Optional(Type.String({ maxLength: 1024 })) });
export type ModelHeaders = Static<typeof ModelHeaders>;

/** `GET /v1/model/weights.bin` query: the version to fetch (default: the current one). */
export const WeightsQuery = Type.Object({ v: Type.Optional(Type.String({ pattern: MODEL_VERSION_PATTERN })) }, { additionalProperties: false });
export type WeightsQuery = Static<typeof WeightsQuery>;

/** A request without input (no query string fields). */
export const NoQuery = Type.Object({}, { additionalProperties: false });

/** `GET /v1/round`. */
export const RoundInfo = Type.Object({
  roundId: Type.Integer({ minimum: 0 }),
  modelVersion: Type.String(),
  status: Type.Union([Type.Literal('open'), Type.Literal('budget_exhausted')]),
  epochs: Type.Integer({ minimum: 1 }),
  /** L2 bound the client clips its update to. */
  clipBound: Type.Number({ exclusiveMinimum: 0 }),
  /** σ of the Gaussian noise the client adds on the device (0: none). */
  noiseSigma: Type.Number({ minimum: 0 }),
  bits: Type.Union([Type.Literal(8), Type.Literal(16)]),
  minClients: Type.Integer({ minimum: 1 }),
  /** ISO time after which the client should fetch the round again. */
  deadline: Type.String(),
  /** Present when the server runs secure aggregation: updates then go through its four phases. */
  secure: Type.Optional(SecureRoundInfo),
});
export type RoundInfo = Static<typeof RoundInfo>;

/** `202` answer to an accepted upload. */
export const UploadAccepted = Type.Object({
  accepted: Type.Literal(true),
  roundId: Type.Integer(),
  updates: Type.Integer(),
  minClients: Type.Integer(),
});
export type UploadAccepted = Static<typeof UploadAccepted>;

/** `GET /health`. */
export const Health = Type.Object({
  status: Type.Literal('ok'),
  roundId: Type.Integer(),
  modelVersion: Type.String(),
  roundStatus: Type.String(),
  updates: Type.Integer(),
  minClients: Type.Integer(),
  roundsPublished: Type.Integer(),
  /** Cumulative ε of DP-FedAvg so far; null when the server adds no noise. */
  epsilon: Type.Union([Type.Number(), Type.Null()]),
  delta: Type.Number(),
  epsilonBudget: Type.Union([Type.Number(), Type.Null()]),
  /** Rounds given up (a secure round whose cohort fell below its threshold). */
  roundsAbandoned: Type.Optional(Type.Integer()),
});
export type Health = Static<typeof Health>;

/** Every refusal: a stable code to branch on and a message for people. */
export const ErrorReply = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
export type ErrorReply = Static<typeof ErrorReply>;

export { MODEL_VERSION_HEADER, SITE_KEY_HEADER };
