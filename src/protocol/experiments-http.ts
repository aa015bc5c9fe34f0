/**
 * The experiments part of the aggregation server's HTTP contract, as TypeBox schemas (the server
 * validates with them; the device takes the static types with `import type`, so no schema code
 * reaches the worker bundle).
 *
 * - `GET /v1/experiments`: the open report round, the layout of the report vector (the registry
 *   with each experiment's noise and fallback), the channel, and the bandits' shop-wide priors.
 * - `POST /v1/experiments/rounds/:id/reports`: one device's vector (central rounds): a string of
 *   `0`/`1` of the layout's length, so every body has one size.
 * - `POST /v1/experiments/rr`: one randomized-response report of one experiment (the fallback).
 *
 * Nothing here carries an event, an item, a time or an id of the shopper; report ids are random per
 * report, for idempotent retries.
 */
import { Type, type Static } from 'typebox';

const NAME = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$';
/** A random report id: 16 bytes in base64url. */
export const REPORT_ID_PATTERN = '^[A-Za-z0-9_-]{22}$';
const REPORT_ID_PATTERN_SOURCE = REPORT_ID_PATTERN;
/** An uncompressed P-256 public key (65 bytes) in base64url. */
export const PUBLIC_KEY_PATTERN = '^[A-Za-z0-9_-]{87}$';

const Metric = Type.Union([Type.Literal('select_item'), Type.Literal('add_to_cart'), Type.Literal('begin_checkout'), Type.Literal('purchase'), Type.Literal('revenue')]);

export const LayoutExperimentSchema = Type.Object({
  name: Type.String({ pattern: NAME }),
  kind: Type.Union([Type.Literal('experiment'), Type.Literal('bandit')]),
  variants: Type.Array(Type.String({ pattern: NAME }), { minItems: 2, maxItems: 8 }),
  metrics: Type.Array(Metric, { minItems: 1, maxItems: 5 }),
  windowHours: Type.Number({ exclusiveMinimum: 0 }),
  revenueCap: Type.Number({ exclusiveMinimum: 0 }),
  epsilon: Type.Number({ exclusiveMinimum: 0 }),
  delta: Type.Number({ exclusiveMinimum: 0 }),
  offset: Type.Integer({ minimum: 0 }),
  rowCells: Type.Integer({ minimum: 2 }),
  sigma: Type.Number({ minimum: 0 }),
  secureMu: Type.Number({ minimum: 0 }),
  rr: Type.Object({ mechanism: Type.Union([Type.Literal('krr'), Type.Literal('oue')]), epsilon: Type.Number({ exclusiveMinimum: 0 }), categories: Type.Integer({ minimum: 2 }) }),
});

/** `GET /v1/experiments`. */
export const ExperimentsInfo = Type.Object({
  /** The open report round (central rounds; secure rounds announce theirs in `secure`). */
  roundId: Type.Integer({ minimum: 1 }),
  /** How vectors travel: `central` (the server sums them and adds the noise), `secure` (secure aggregation with distributed noise), `local` (randomized response only). */
  channel: Type.Union([Type.Literal('central'), Type.Literal('secure'), Type.Literal('local')]),
  /** A hash of the registry: reports name it, so a report made for another registry is refused. */
  layoutId: Type.String({ pattern: '^[a-f0-9]{16}$' }),
  layout: Type.Object({ length: Type.Integer({ minimum: 0 }), experiments: Type.Array(LayoutExperimentSchema) }),
  minClients: Type.Integer({ minimum: 1 }),
  /** Failed attempts at a round after which a device reports by randomized response instead. */
  fallbackAfter: Type.Integer({ minimum: 0 }),
  /** Bandits' shop-wide Beta priors: `{ [bandit]: { [arm]: [alpha, beta] } }`. */
  priors: Type.Record(Type.String(), Type.Record(Type.String(), Type.Tuple([Type.Number(), Type.Number()]))),
  /** Secure rounds: the round's cohort (`enrol`: devices post public keys; `submit`: the cohort is fixed and its keys listed). */
  secure: Type.Optional(
    Type.Object({
      phase: Type.Union([Type.Literal('enrol'), Type.Literal('submit')]),
      cohortSize: Type.Integer({ minimum: 2 }),
      keys: Type.Array(Type.Object({ keyId: Type.String({ pattern: REPORT_ID_PATTERN_SOURCE }), publicKey: Type.String({ pattern: PUBLIC_KEY_PATTERN }) })),
    }),
  ),
});
export type ExperimentsInfo = Static<typeof ExperimentsInfo>;

/** `POST /v1/experiments/rounds/:id/reports`. */
export const VectorReport = Type.Object(
  {
    reportId: Type.String({ pattern: REPORT_ID_PATTERN }),
    layoutId: Type.String({ pattern: '^[a-f0-9]{16}$' }),
    cells: Type.String({ pattern: '^[01]*$', maxLength: 65536 }),
  },
  { additionalProperties: false },
);
export type VectorReport = Static<typeof VectorReport>;

/** `POST /v1/experiments/rr`: a k-ary RR category (`value`) or optimised unary encoding bits (`bits`). */
export const RrReportBody = Type.Object(
  {
    reportId: Type.String({ pattern: REPORT_ID_PATTERN }),
    layoutId: Type.String({ pattern: '^[a-f0-9]{16}$' }),
    experiment: Type.String({ pattern: NAME }),
    mechanism: Type.Union([Type.Literal('krr'), Type.Literal('oue')]),
    value: Type.Optional(Type.Integer({ minimum: 0 })),
    bits: Type.Optional(Type.String({ pattern: '^[01]*$', maxLength: 4096 })),
  },
  { additionalProperties: false },
);
export type RrReportBody = Static<typeof RrReportBody>;

/** `POST /v1/experiments/rounds/:id/keys` (secure rounds): a device's one-round ECDH public key, to join the cohort. */
export const CohortKey = Type.Object(
  { keyId: Type.String({ pattern: REPORT_ID_PATTERN }), publicKey: Type.String({ pattern: PUBLIC_KEY_PATTERN }), layoutId: Type.String({ pattern: '^[a-f0-9]{16}$' }) },
  { additionalProperties: false },
);
export type CohortKey = Static<typeof CohortKey>;

/**
 * `POST /v1/experiments/rounds/:id/masked` (secure rounds): a cohort member's vector plus its
 * Skellam noise share plus its pairwise masks, as little-endian uint32 words in base64url. Alone it
 * is uniformly random to the server; the masks cancel only in the sum of the whole cohort.
 */
export const MaskedReport = Type.Object(
  { keyId: Type.String({ pattern: REPORT_ID_PATTERN }), layoutId: Type.String({ pattern: '^[a-f0-9]{16}$' }), masked: Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength: 350_000 }) },
  { additionalProperties: false },
);
export type MaskedReport = Static<typeof MaskedReport>;

export const ReportAccepted = Type.Object({ accepted: Type.Literal(true), roundId: Type.Integer(), reports: Type.Integer() });
export type ReportAccepted = Static<typeof ReportAccepted>;

/** `GET /v1/experiments/:name/results` path parameters. */
export const ExperimentParams = Type.Object({ name: Type.String({ pattern: NAME }) }, { additionalProperties: false });

/** Header of the key that may read results (`--report-keys`). */
export const REPORT_KEY_HEADER = 'x-hearth-report-key';
