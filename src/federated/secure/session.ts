/**
 * A client's whole secure round over HTTP, through the aggregation server only (no connection
 * between browsers): join, deal shares, upload the masked input, answer the unmasking, polling the
 * round's state in between. Runs in the engine's worker, like the rest of the federated client.
 */
import type { NamedWeight } from '../../model/contract.js';
import { HearthError } from '../../protocol/errors.js';
import type { RandomSource } from '../../shared/random.js';
import { backoffDelay } from '../../shared/backoff.js';
import type { SecureUploadRecord } from '../../protocol/federated.js';
import type { SecureRoundInfo, SecureState, JoinAccepted, SharesUpload } from '../../protocol/secure-aggregation-http.js';
import { SECAGG_TOKEN_HEADER } from '../../protocol/secure-aggregation-http.js';
import { SITE_KEY_HEADER } from '../../protocol/aggregation-headers.js';
import { fromBase64Url, toBase64Url } from './crypto.js';
import { gridParams, localVariance } from './params.js';
import { SecureAggregationError, SecureParticipant } from './participant.js';
import { encodeToGrid } from './skellam.js';
import { errorCode } from '../http-error.js';

export type { SecureUploadRecord };

export interface SecureSessionDeps {
  base: string;
  siteKey: string;
  roundId: number;
  modelVersion: string;
  clip: number;
  secure: SecureRoundInfo;
  doFetch: typeof fetch;
  init: (extra?: RequestInit) => RequestInit;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  random: RandomSource;
  /** Stop waiting for the other clients after this long (default: four phase timeouts and a minute). */
  maxWaitMs?: number;
  /** Attempts per upload on network errors and 5xx/429 (default 4). */
  attempts?: number;
  now: () => number;
}

export type SecureOutcome = { status: 'uploaded'; record: SecureUploadRecord } | { status: 'missed' | 'rejected'; reason: string };

class Stop extends Error {
  constructor(
    readonly status: 'missed' | 'rejected',
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Codes that mean the round went on without this client. */
const MOVED_ON = new Set(['wrong_round', 'wrong_phase', 'cohort_full', 'not_in_roster', 'not_a_sharer', 'not_a_survivor', 'budget_exhausted', 'bad_token']);

/**
 * Runs the secure protocol for one clipped update. Never throws for runtime trouble (network,
 * a round that moved on, a server that breaks the protocol or sends what cannot be parsed): the
 * outcome says what happened.
 * Throws `HearthError('aborted')` when `signal` aborts.
 *
 * @example
 * ```ts
 * const outcome = await runSecureSession(clippedUpdate, deps);
 * ```
 */
export async function runSecureSession(update: readonly NamedWeight[], deps: SecureSessionDeps): Promise<SecureOutcome> {
  try {
    return { status: 'uploaded', record: await session(update, deps) };
  } catch (error) {
    if (deps.signal?.aborted) throw new HearthError('aborted', 'federated round cancelled');
    if (error instanceof Stop) return { status: error.status, reason: error.reason };
    if (error instanceof SecureAggregationError) return { status: 'missed', reason: `secagg_${error.reason}` };
    // Anything else (a state that is not JSON, a box that is not base64url, a key WebCrypto
    // refuses) comes from a server answer this client cannot use: the round is missed, and the
    // page never sees an exception.
    return { status: 'missed', reason: 'secagg_bad_message' };
  }
}

async function session(update: readonly NamedWeight[], deps: SecureSessionDeps): Promise<SecureUploadRecord> {
  const { secure } = deps;
  const started = deps.now();
  const deadline = started + (deps.maxWaitMs ?? 4 * secure.phaseTimeoutMs + 60_000);
  const url = (path: string): string => `${deps.base}/v1/rounds/${deps.roundId}/secagg/${path}`;
  let cpuMs = 0;
  const timed = async <T>(work: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      cpuMs += performance.now() - t0;
    }
  };
  let token = '';

  const send = async (path: string, body: Uint8Array, type: string): Promise<Response> => {
    const attempts = Math.max(1, deps.attempts ?? 4);
    let reason = 'network';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let response: Response | undefined;
      try {
        const headers: Record<string, string> = { 'content-type': type, [SITE_KEY_HEADER]: deps.siteKey };
        if (token) headers[SECAGG_TOKEN_HEADER] = token;
        response = await deps.doFetch(url(path), deps.init({ method: 'POST', headers, body: body as Uint8Array<ArrayBuffer> }));
      } catch {
        if (deps.signal?.aborted) throw new HearthError('aborted', 'federated round cancelled');
      }
      if (response?.ok) return response;
      if (response) {
        reason = await errorCode(response);
        // A lost answer to an accepted message: the server has it. (A join whose answer was lost
        // cannot be resumed: its token is gone; the server counts it as a dropout.)
        if (reason === 'replay') {
          if (path !== 'join') return response;
          throw new Stop('missed', 'join_answer_lost');
        }
        if (MOVED_ON.has(reason)) throw new Stop('missed', reason);
        if (!(response.status >= 500 || response.status === 429 || response.status === 408)) throw new Stop('rejected', reason);
      }
      if (attempt < attempts) await deps.sleep(backoffDelay(attempt, 500, 30_000, deps.random), deps.signal);
    }
    throw new Stop('missed', reason);
  };

  const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

  /** Polls the state until `ready` says so. */
  const waitFor = async (ready: (state: SecureState) => boolean): Promise<SecureState> => {
    for (;;) {
      if (deps.now() > deadline) throw new Stop('missed', 'secagg_timeout');
      let response: Response | undefined;
      try {
        response = await deps.doFetch(url('state'), deps.init({ headers: { [SECAGG_TOKEN_HEADER]: token } }));
      } catch {
        if (deps.signal?.aborted) throw new HearthError('aborted', 'federated round cancelled');
      }
      let pollMs = 1000;
      if (response?.ok) {
        const state = (await response.json()) as SecureState;
        if (ready(state)) return state;
        pollMs = state.pollMs;
      } else if (response) {
        const code = await errorCode(response);
        if (MOVED_ON.has(code)) throw new Stop('missed', code);
        if (response.status < 500 && response.status !== 429) throw new Stop('rejected', code);
      }
      await deps.sleep(Math.max(20, pollMs), deps.signal);
    }
  };

  // The update, flattened in weight order, and the grid both sides derive.
  const dim = update.reduce((n, t) => n + t.values.length, 0);
  const flat = new Float32Array(dim);
  let offset = 0;
  for (const t of update) {
    flat.set(t.values, offset);
    offset += t.values.length;
  }
  const grid = gridParams({ dim, clip: deps.clip, noiseMultiplier: secure.noiseMultiplier, maxClients: secure.cohortSize });
  const ctx = { roundId: deps.roundId, modelVersion: deps.modelVersion };
  const me = await timed(() => SecureParticipant.create(ctx));
  const bytes = { join: 0, shares: 0, masked: 0, unmask: 0 };

  // 1. Join with the two public keys.
  const joinBody = json({ encryptionKey: toBase64Url(me.publicKeys.encryptionKey), maskingKey: toBase64Url(me.publicKeys.maskingKey) });
  bytes.join = joinBody.length;
  const joined = (await (await send('join', joinBody, 'application/json')).json()) as JoinAccepted;
  token = joined.token;
  const index = joined.index;

  // 2. The roster: deal the shares.
  const rostered = await waitFor((s) => s.phase !== 'advertise');
  if (rostered.phase !== 'share' || !rostered.roster || rostered.threshold === undefined) throw new Stop('missed', 'secagg_late');
  const roster = rostered.roster.map((m) => ({ index: m.index, encryptionKey: fromBase64Url(m.encryptionKey), maskingKey: fromBase64Url(m.maskingKey) }));
  const dealt = await timed(() => me.deal(index, roster, rostered.threshold as number, secure.minClients));
  const sharesBody = json({
    boxes: dealt.boxes.map(toBase64Url),
    seedCommitments: dealt.seedCommitments.map(toBase64Url),
    keyCommitments: dealt.keyCommitments.map(toBase64Url),
    seedCommitment: toBase64Url(dealt.seedCommitment),
    keyCommitment: toBase64Url(dealt.keyCommitment),
  } satisfies SharesUpload);
  bytes.shares = sharesBody.length;
  await send('shares', sharesBody, 'application/json');

  // 3. The sharers and this client's inbox: encode, noise, mask, upload.
  const collecting = await waitFor((s) => s.phase !== 'share');
  if (collecting.phase !== 'collect' || !collecting.sharers || !collecting.inbox) throw new Stop('missed', 'secagg_late');
  const sharers = collecting.sharers;
  const inbox = collecting.inbox.map(fromBase64Url);
  // The noise is planned for every sharer; the server accounts for those whose inputs arrive.
  const noiseVariance = secure.noiseMultiplier > 0 ? localVariance(grid, sharers.length) : 0;
  const masked = await timed(async () => me.mask(encodeToGrid(flat, grid.scale, noiseVariance, deps.random), sharers, inbox));
  const maskedBody = new Uint8Array(masked.buffer, masked.byteOffset, masked.byteLength);
  bytes.masked = maskedBody.length;
  await send('masked', maskedBody, 'application/octet-stream');

  // 4. The survivors: reveal one share per sharer.
  const unmasking = await waitFor((s) => s.phase !== 'collect');
  if (unmasking.phase !== 'unmask' || !unmasking.survivors) throw new Stop('missed', 'secagg_late');
  const survivors = unmasking.survivors;
  const reveals = await timed(() => me.unmask(survivors));
  const unmaskBody = json({ reveals: reveals.map(toBase64Url) });
  bytes.unmask = unmaskBody.length;
  await send('unmask', unmaskBody, 'application/json');

  return {
    format: 'secagg',
    modelVersion: deps.modelVersion,
    roundId: deps.roundId,
    index,
    cohort: roster.length,
    threshold: rostered.threshold,
    sharers: sharers.length,
    survivors: survivors.length,
    modulusBits: 32,
    noiseVariance,
    bytes,
    cpuMs,
    tensors: update.map((t) => ({ name: t.name, shape: [...t.shape] })),
  };
}
