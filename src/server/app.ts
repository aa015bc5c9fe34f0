/**
 * The aggregation server's HTTP face: a fastify app over the `Coordinator`.
 *
 * Endpoints: `GET /v1/model` (model.json; ETag, 304), `GET /v1/model/weights.bin`,
 * `GET /v1/round`, `POST /v1/rounds/:id/updates`, `GET /health`, `GET /metrics`. Every route's
 * input and output is declared with the TypeBox schemas of `src/protocol/aggregation-http.ts`
 * (shared with the client). Every error is `{ error: { code, message } }` with a 4xx status for
 * anything the client did wrong.
 *
 * Order of defences on every request: the rate limiter (also for unknown paths), then — on uploads
 * — the site key (before the body is read), then the body limit and the request timeouts, then
 * the schemas, then the wire format's own checks.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import { Coordinator, UploadRejection } from './coordinator.js';
import { createDiskStore } from './store.js';
import { loadModelDir } from './model-dir.js';
import { resolveServerOptions, type AggregationServerOptions, type ResolvedServerOptions } from './options.js';
import { createServerMetrics } from './metrics.js';
import { registerSecureRoutes } from './secure-routes.js';
import { SecureRejection } from './secure-round.js';
import { SECAGG_TOKEN_HEADER } from '../protocol/secure-aggregation-http.js';
import { join } from 'node:path';
import { ExperimentRounds } from './experiments/experiment-rounds.js';
import { REPORT_KEY_HEADER } from '../protocol/experiments-http.js';
import { registerExperimentRoutes } from './experiments/experiment-routes.js';
import { createExperimentDiskStore, createExperimentMemoryStore } from './experiments/experiment-store.js';
import { loadRegistry, parseRegistry } from './experiments/registry.js';
import { ErrorReply, Health, ModelHeaders, MODEL_VERSION_HEADER, NoQuery, RoundInfo, RoundParams, SITE_KEY_HEADER, UploadAccepted, UploadHeaders, WeightsQuery } from '../protocol/aggregation-http.js';

export { MODEL_VERSION_HEADER, SITE_KEY_HEADER };

export interface AggregationServer {
  readonly app: FastifyInstance;
  readonly coordinator: Coordinator;
  readonly options: ResolvedServerOptions;
  /** Private experiment reports, when the server was given a registry. */
  readonly experiments: ExperimentRounds | undefined;
  /** Starts listening (default 127.0.0.1 on a free port); resolves to the base URL. */
  listen(options?: { port?: number; host?: string }): Promise<string>;
  /** Resolves when no aggregation is queued or running. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_BODY: 'empty_body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_content_length',
  FST_ERR_VALIDATION: 'bad_request',
};

/** Schema failures with a more telling code than `bad_request`, by where they failed. */
const VALIDATION_CODES: Record<string, string> = { params: 'bad_round_id', querystring: 'bad_query', headers: 'bad_headers' };

/**
 * Builds the aggregation server: opens (or initialises) its store, restores the open round, and
 * returns a fastify app ready to `listen`.
 *
 * @example
 * ```ts
 * const server = await createAggregationServer({ dataDir: './fl-data', modelDir: './model', siteKeys: ['shop-key-123'], minClients: 10 });
 * const url = await server.listen({ port: 8787 });
 * ```
 */
export async function createAggregationServer(options: AggregationServerOptions): Promise<AggregationServer> {
  const resolved = resolveServerOptions(options);
  const store = options.store ?? (options.dataDir !== undefined ? await createDiskStore(options.dataDir) : undefined);
  if (!store) throw new TypeError('hearth server: pass dataDir (or a store)');
  const initialModel = options.initialModel ?? (options.modelDir !== undefined ? await loadModelDir(options.modelDir) : undefined);
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: resolved.bodyLimit,
    // A slow or half-sent request is answered 408 and dropped once its time is up; a silent
    // connection sooner. Node checks pending requests every `connectionsCheckingInterval`, so that
    // is kept well below the timeout for the bound to hold.
    requestTimeout: resolved.requestTimeoutMs,
    connectionTimeout: resolved.idleTimeoutMs,
    http: {
      headersTimeout: Math.min(resolved.requestTimeoutMs, 60_000),
      connectionsCheckingInterval: Math.max(25, Math.min(30_000, Math.round(resolved.requestTimeoutMs / 4))),
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  const coordinator = await Coordinator.open({
    store,
    ...(initialModel ? { initialModel } : {}),
    minClients: resolved.minClients,
    aggregator: resolved.aggregator,
    serverLearningRate: resolved.serverLr,
    clip: resolved.clip,
    noiseMultiplier: resolved.noiseMultiplier,
    clientNoise: resolved.clientNoise,
    ...(resolved.epsilonBudget !== undefined ? { epsilonBudget: resolved.epsilonBudget } : {}),
    delta: resolved.delta,
    ...(resolved.population !== undefined ? { population: resolved.population } : {}),
    robust: resolved.robust,
    trim: resolved.trim,
    epochs: resolved.epochs,
    bits: resolved.bits,
    roundDurationMs: resolved.roundDurationMs,
    ...(options.random ? { random: options.random } : {}),
    ...(resolved.secure ? { secure: resolved.secure } : {}),
    log: (message, detail) => app.log.info(detail ?? {}, message),
  });
  let experiments: ExperimentRounds | undefined;
  if (resolved.experiments && options.experiments !== undefined) {
    const registry = typeof options.experiments === 'string' ? await loadRegistry(options.experiments) : parseRegistry(options.experiments);
    const experimentStore =
      options.experimentStore ?? (options.dataDir !== undefined && !options.store ? await createExperimentDiskStore(join(options.dataDir, 'experiments')) : createExperimentMemoryStore());
    experiments = await ExperimentRounds.open({
      store: experimentStore,
      registry,
      channel: resolved.experiments.channel,
      minClients: resolved.experiments.minClients,
      roundDurationMs: resolved.experiments.roundDurationMs,
      ...(options.random ? { random: options.random } : {}),
      log: (message, detail) => app.log.info(detail ?? {}, message),
    });
  }
  const keyHashes = resolved.siteKeys.map(sha256);
  const validKey = (given: unknown): boolean => {
    if (typeof given !== 'string' || given.length === 0 || given.length > 512) return false;
    const hash = sha256(given);
    // Compare every key in constant time; no early exit that would leak which prefix matched.
    let ok = false;
    for (const k of keyHashes) ok = timingSafeEqual(k, hash) || ok;
    return ok;
  };

  await app.register(cors, {
    origin: resolved.origins.length > 0 ? resolved.origins : false,
    methods: ['GET', 'POST'],
    // The report key: a shop's dashboard on an allowed origin may read experiment results.
    allowedHeaders: ['content-type', SITE_KEY_HEADER, SECAGG_TOKEN_HEADER, 'if-none-match', ...(resolved.experiments?.reportKeys.length ? [REPORT_KEY_HEADER] : [])],
    exposedHeaders: ['etag', MODEL_VERSION_HEADER],
    maxAge: 600,
  });
  await app.register(rateLimit, { max: resolved.rateLimit, timeWindow: 60_000, hook: 'onRequest' });
  const metrics = createServerMetrics(coordinator, resolved);
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the raw URL: unknown paths must not grow the series without bound.
    metrics.observeRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });

  // Bodies are opaque bytes (the wire format checks itself); nothing is parsed as JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: FastifyError | UploadRejection | SecureRejection, request, reply) => {
    let status: number;
    let code: string;
    if (error instanceof UploadRejection || error instanceof SecureRejection) {
      status = error.status;
      code = error.code;
    } else {
      status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
      const validation = error.code === 'FST_ERR_VALIDATION' ? VALIDATION_CODES[error.validationContext ?? ''] : undefined;
      code = validation ?? FASTIFY_CODES[error.code] ?? (status === 429 ? 'rate_limited' : status === 408 ? 'request_timeout' : status < 500 ? 'bad_request' : 'internal');
      if (request.routeOptions.url === '/v1/rounds/:id/updates') coordinator.countRejection(code);
    }
    if (error instanceof SecureRejection) coordinator.countRejection(code);
    if (status >= 500) request.log.error(error);
    const message = status >= 500 ? 'internal error' : error.message;
    return reply.status(status).type('application/json').send({ error: { code, message } });
  });
  // Unknown paths count against the same limit: a scanner must not get unlimited requests.
  app.setNotFoundHandler({ preHandler: app.rateLimit() }, (request, reply) =>
    reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}` } }),
  );

  const errors = { 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 404: ErrorReply, 408: ErrorReply, 409: ErrorReply, 413: ErrorReply, 422: ErrorReply, 429: ErrorReply };

  app.get('/health', { schema: { querystring: NoQuery, response: { 200: Health } } }, async () => {
    const s = coordinator.status();
    return {
      status: 'ok' as const,
      roundId: s.roundId,
      modelVersion: s.modelVersion,
      roundStatus: s.status,
      updates: s.updates,
      minClients: resolved.minClients,
      roundsPublished: s.roundsPublished,
      // Cumulative (ε, δ) of DP-FedAvg so far; null when the server adds no noise.
      epsilon: s.epsilon,
      delta: resolved.delta,
      epsilonBudget: resolved.epsilonBudget ?? null,
      roundsAbandoned: s.roundsAbandoned,
    };
  });

  app.get('/metrics', { schema: { querystring: NoQuery } }, async (_request, reply) => {
    const { contentType, body } = await metrics.render();
    return reply.type(contentType).send(body);
  });

  app.get('/v1/round', { schema: { querystring: NoQuery, response: { 200: RoundInfo } } }, async (_request, reply) => reply.header('cache-control', 'no-store').send(coordinator.roundInfo()));

  app.get('/v1/model', { schema: { querystring: NoQuery, headers: ModelHeaders } }, async (request, reply) => {
    const model = coordinator.current();
    void reply.header('etag', model.etag).header(MODEL_VERSION_HEADER, model.version).header('cache-control', 'no-cache');
    const ifNoneMatch = request.headers['if-none-match'];
    if (typeof ifNoneMatch === 'string' && ifNoneMatch.split(',').some((tag) => tag.trim() === model.etag)) return reply.status(304).send();
    return reply.type('application/json').send(model.modelJson);
  });

  app.get('/v1/model/weights.bin', { schema: { querystring: WeightsQuery } }, async (request, reply) => {
    const current = coordinator.current();
    const version = request.query.v ?? current.version;
    const weights = await coordinator.weightsOf(version);
    if (!weights) throw new UploadRejection(404, 'unknown_model_version', `model version "${version.slice(0, 40)}" is not available; fetch /v1/model again`);
    return reply
      .header(MODEL_VERSION_HEADER, version)
      .header('cache-control', version === current.version ? 'no-cache' : 'public, max-age=86400, immutable')
      .type('application/octet-stream')
      .send(Buffer.from(weights.buffer, weights.byteOffset, weights.byteLength));
  });

  app.post(
    '/v1/rounds/:id/updates',
    {
      schema: { params: RoundParams, headers: UploadHeaders, response: { 202: UploadAccepted, ...errors } },
      // After the rate limiter (onRequest) and before the body is read (preParsing): an unknown
      // key costs neither a body read nor a decode, and cannot dodge the limiter.
      preParsing: async (request) => {
        if (!validKey(request.headers[SITE_KEY_HEADER])) {
          coordinator.countRejection('bad_site_key');
          throw new UploadRejection(401, 'bad_site_key', `missing or unknown ${SITE_KEY_HEADER}`);
        }
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (!Buffer.isBuffer(body) || body.length === 0) {
        coordinator.countRejection('empty_body');
        throw new UploadRejection(400, 'empty_body', 'the update body is empty');
      }
      const result = await coordinator.submit(Number(request.params.id), new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
      return reply.status(202).send({ accepted: true, roundId: result.roundId, updates: result.updates, minClients: resolved.minClients });
    },
  );

  if (coordinator.secure) {
    const secure = coordinator.secure;
    registerSecureRoutes(app, { round: () => secure, validKey });
  }
  if (experiments) registerExperimentRoutes(app, { rounds: experiments, validKey, reportKeys: resolved.experiments?.reportKeys ?? [] });

  return {
    app,
    coordinator,
    experiments,
    options: resolved,
    async listen(listenOptions = {}) {
      return app.listen({ port: listenOptions.port ?? 0, host: listenOptions.host ?? '127.0.0.1' });
    },
    settled: () => coordinator.settled(),
    async close() {
      coordinator.stop();
      experiments?.stop();
      await app.close();
      await coordinator.settled();
      await experiments?.settled();
    },
  };
}
