/**
 * The HTTP routes of secure aggregation (`/v1/rounds/:id/secagg/*`), over `SecureRound`. Uploads
 * pass the same defences as plain ones (rate limit, site key before the body is read, body limit,
 * timeouts); the phase messages are then checked by the round itself. Every refusal is
 * `{ error: { code, message } }`.
 */
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { RoundParams, SITE_KEY_HEADER, UploadHeaders, ErrorReply } from '../protocol/aggregation-http.js';
import { JoinAccepted, SecureAccepted, SecureState, SECAGG_TOKEN_HEADER } from '../protocol/secure-aggregation-http.js';
import type { SecureRound } from './secure-round.js';
import { SecureRejection } from './secure-round.js';

export interface SecureRouteDeps {
  round: () => SecureRound;
  validKey: (given: unknown) => boolean;
}

const errors = { 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 404: ErrorReply, 408: ErrorReply, 409: ErrorReply, 413: ErrorReply, 422: ErrorReply, 429: ErrorReply };

function bytesOf(body: unknown): Uint8Array {
  if (!Buffer.isBuffer(body) || body.length === 0) throw new SecureRejection(400, 'empty_body', 'the body is empty');
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * Registers the four phase routes and the state route.
 *
 * @example
 * ```ts
 * registerSecureRoutes(app, { round: () => coordinator.secure!, validKey });
 * ```
 */
export function registerSecureRoutes(app: FastifyInstance, deps: SecureRouteDeps): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const checkKey = async (request: { headers: Record<string, unknown> }): Promise<void> => {
    // Counted once, with every other refusal, by the app's error handler.
    if (!deps.validKey(request.headers[SITE_KEY_HEADER])) throw new SecureRejection(401, 'bad_site_key', `missing or unknown ${SITE_KEY_HEADER}`);
  };
  const post = { params: RoundParams, headers: UploadHeaders };

  typed.post('/v1/rounds/:id/secagg/join', { schema: { ...post, response: { 202: JoinAccepted, ...errors } }, preParsing: checkKey }, async (request, reply) => {
    const joined = await deps.round().join(Number(request.params.id), bytesOf(request.body));
    return reply.status(202).header('cache-control', 'no-store').send(joined);
  });

  typed.get('/v1/rounds/:id/secagg/state', { schema: { params: RoundParams, response: { 200: SecureState, ...errors } } }, async (request, reply) =>
    reply.header('cache-control', 'no-store').send(deps.round().view(Number(request.params.id), request.headers[SECAGG_TOKEN_HEADER])),
  );

  const phaseRoute = (path: string, handle: (round: SecureRound, roundId: number, token: unknown, body: Uint8Array) => Promise<void>): void => {
    typed.post(path, { schema: { ...post, response: { 202: SecureAccepted, ...errors } }, preParsing: checkKey }, async (request, reply) => {
      const round = deps.round();
      const roundId = Number(request.params.id);
      await handle(round, roundId, request.headers[SECAGG_TOKEN_HEADER], bytesOf(request.body));
      return reply.status(202).send({ accepted: true as const, roundId, phase: round.info().phase });
    });
  };
  phaseRoute('/v1/rounds/:id/secagg/shares', (round, id, token, body) => round.submitShares(id, token, body));
  phaseRoute('/v1/rounds/:id/secagg/masked', (round, id, token, body) => round.submitMasked(id, token, body));
  phaseRoute('/v1/rounds/:id/secagg/unmask', (round, id, token, body) => round.submitUnmask(id, token, body));
}
