/**
 * The HTTP routes of private experiment reports, over `ExperimentRounds`. Reports pass the same
 * defences as model updates (rate limit, site key before the body is read, body limit, timeouts),
 * then their schema, then the round's own checks. Results are read with a report key.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Value } from 'typebox/value';
import { ErrorReply, RoundParams, SITE_KEY_HEADER, UploadHeaders } from '../../protocol/aggregation-http.js';
import { CohortKey, ExperimentParams, ExperimentsInfo, MaskedReport, REPORT_KEY_HEADER, ReportAccepted, RrReportBody, VectorReport } from '../../protocol/experiments-http.js';
import { ExperimentRejection, type ExperimentRounds } from './experiment-rounds.js';

export interface ExperimentRouteDeps {
  rounds: ExperimentRounds;
  validKey: (given: unknown) => boolean;
  /** Keys that may read results over HTTP; none: results only through the CLI. */
  reportKeys: readonly string[];
}

const errors = { 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 404: ErrorReply, 408: ErrorReply, 409: ErrorReply, 413: ErrorReply, 422: ErrorReply, 429: ErrorReply };

function json(body: unknown): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0) throw new ExperimentRejection(400, 'empty_body', 'the body is empty');
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new ExperimentRejection(400, 'malformed', 'the body is not UTF-8 JSON');
  }
}

/**
 * @example
 * ```ts
 * registerExperimentRoutes(app, { rounds, validKey, reportKeys: ['reader-key-1'] });
 * ```
 */
export function registerExperimentRoutes(app: FastifyInstance, deps: ExperimentRouteDeps): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const { rounds } = deps;
  const checkKey = async (request: { headers: Record<string, unknown> }): Promise<void> => {
    if (!deps.validKey(request.headers[SITE_KEY_HEADER])) {
      rounds.countRejection('bad_site_key');
      throw new ExperimentRejection(401, 'bad_site_key', `missing or unknown ${SITE_KEY_HEADER}`);
    }
  };
  const readerHashes = deps.reportKeys.map((k) => createHash('sha256').update(k).digest());
  const validReader = (given: unknown): boolean => {
    if (typeof given !== 'string' || given.length === 0 || given.length > 512) return false;
    const hash = createHash('sha256').update(given).digest();
    let ok = false;
    for (const k of readerHashes) ok = timingSafeEqual(k, hash) || ok;
    return ok;
  };

  typed.get('/v1/experiments', { schema: { response: { 200: ExperimentsInfo } } }, async (_request, reply) => reply.header('cache-control', 'no-store').send(rounds.info()));

  typed.post(
    '/v1/experiments/rounds/:id/reports',
    { schema: { params: RoundParams, headers: UploadHeaders, response: { 202: ReportAccepted, ...errors } }, preParsing: checkKey },
    async (request, reply) => {
      const body = json(request.body);
      if (!Value.Check(VectorReport, body)) throw new ExperimentRejection(400, 'malformed', 'a report is { reportId, layoutId, cells }');
      const result = await rounds.submitVector(Number(request.params.id), body);
      return reply.status(202).send({ accepted: true as const, ...result });
    },
  );

  typed.post(
    '/v1/experiments/rounds/:id/keys',
    { schema: { params: RoundParams, headers: UploadHeaders, response: { 202: ReportAccepted, ...errors } }, preParsing: checkKey },
    async (request, reply) => {
      const body = json(request.body);
      if (!Value.Check(CohortKey, body)) throw new ExperimentRejection(400, 'malformed', 'a cohort key is { keyId, publicKey, layoutId }');
      const result = await rounds.submitKey(Number(request.params.id), body);
      return reply.status(202).send({ accepted: true as const, ...result });
    },
  );

  typed.post(
    '/v1/experiments/rounds/:id/masked',
    { schema: { params: RoundParams, headers: UploadHeaders, response: { 202: ReportAccepted, ...errors } }, preParsing: checkKey },
    async (request, reply) => {
      const body = json(request.body);
      if (!Value.Check(MaskedReport, body)) throw new ExperimentRejection(400, 'malformed', 'a masked report is { keyId, layoutId, masked }');
      const result = await rounds.submitMasked(Number(request.params.id), body);
      return reply.status(202).send({ accepted: true as const, ...result });
    },
  );

  typed.post('/v1/experiments/rr', { schema: { headers: UploadHeaders, response: { 202: ReportAccepted, ...errors } }, preParsing: checkKey }, async (request, reply) => {
    const body = json(request.body);
    if (!Value.Check(RrReportBody, body)) throw new ExperimentRejection(400, 'malformed', 'a randomized-response report is { reportId, layoutId, experiment, mechanism, value | bits }');
    const result = await rounds.submitRr(body);
    return reply.status(202).send({ accepted: true as const, ...result });
  });

  typed.get('/v1/experiments/:name/results', { schema: { params: ExperimentParams } }, async (request, reply) => {
    if (readerHashes.length === 0) throw new ExperimentRejection(403, 'results_disabled', 'results are read with `hearth-server report`, or over HTTP with a --report-keys key');
    if (!validReader(request.headers[REPORT_KEY_HEADER])) throw new ExperimentRejection(401, 'bad_report_key', `missing or unknown ${REPORT_KEY_HEADER}`);
    const results = rounds.results(request.params.name);
    if (!results) throw new ExperimentRejection(404, 'unknown_experiment', `no experiment "${request.params.name}"`);
    return reply.header('cache-control', 'no-store').type('application/json').send(JSON.stringify(results));
  });
}
