/**
 * The federated client: one round of federated learning on the device. It runs inside the
 * engine's worker (no DOM), on the model contract alone.
 *
 * What leaves the device is the clipped (optionally noised) difference between the locally
 * trained weights and the global model, quantized and compressed, plus the round and model
 * identifiers and a random update id. No event, item id, timestamp, user or session id is sent,
 * and the update is dense: it never lists which embedding rows the shopper touched. Requests omit
 * credentials and the referrer (the page URL could name a product).
 */
import type { HistoryStep, NamedWeight, TrainOptions } from '../model/contract.js';
import type { ConsentState, HearthStore } from '../store/types.js';
import type { ModelCheckpoint } from '../protocol/checkpoint.js';
import type { Capabilities } from '../shared/env.js';
import { HearthError } from '../protocol/errors.js';
import { secureRandom, type RandomSource } from '../shared/random.js';
import { backoffDelay } from '../shared/backoff.js';
import { addGaussianNoise, clipToNorm, layoutMismatch, subtractWeights, type ClipReport } from './update-math.js';
import { encodeUpdate } from './wire.js';
import { parseModelJson, weightsFromBuffer, type ModelJson } from '../protocol/model-file.js';
import type { RoundInfo } from '../protocol/aggregation-http.js';
import type { FederatedRoundResult, FederatedRoundStatus, UploadRecord } from '../protocol/federated.js';

export type { FederatedRoundResult, FederatedRoundStatus, UploadRecord };
import { MODEL_VERSION_HEADER, SITE_KEY_HEADER } from '../protocol/aggregation-headers.js';
import type { SecureRoundInfo } from '../protocol/secure-aggregation-http.js';
import { runSecureSession } from './secure/session.js';
import { errorCode } from './http-error.js';

/** The part of a model the client needs (the recommender implements it). */
export interface FederatedModel {
  getWeights(): NamedWeight[];
  setWeights(weights: readonly NamedWeight[]): void;
  train(sequences: readonly (readonly HistoryStep[])[], options: TrainOptions): Promise<{ loss: number }>;
}

/**
 * What `GET /v1/round` answers: the schema the server declares, taken as a type only (no TypeBox
 * in the worker bundle). The answer is still checked here, by hand, since the server may be old.
 */
export type RoundConfig = RoundInfo;

export interface RetryOptions {
  /** Upload attempts in all (default 4). */
  attempts?: number;
  /** First back-off (default 1 s); doubles each attempt, with full jitter. */
  baseDelayMs?: number;
  /** Longest back-off (default 30 s). */
  maxDelayMs?: number;
}

export interface FederatedRoundDeps {
  /** Base URL of the aggregation server, e.g. `https://fl.example.com`. */
  serverUrl: string;
  siteKey: string;
  model: FederatedModel;
  /** The shopper's training sequences (local only; never sent). */
  sequences: readonly (readonly HistoryStep[])[] | (() => Promise<readonly (readonly HistoryStep[])[]>);
  /** Where the global model and its ETag are cached, and the last upload recorded. */
  store?: Pick<HearthStore, 'getCheckpoint' | 'putCheckpoint' | 'setMeta'>;
  consent: Pick<ConsentState, 'contribute'>;
  capabilities: Pick<Capabilities, 'globalPrivacyControl' | 'saveData'>;
  /** The caller decides when the browser is idle; the round runs only when this is true (default true). */
  idle?: boolean;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  retry?: RetryOptions;
  /** Uniforms for stochastic rounding, noise and back-off jitter (default: CSPRNG). */
  random?: RandomSource;
  /** Waits between upload attempts (tests pass a fake clock). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Fewer sequences than this and the device sits the round out (default 1). */
  minSequences?: number;
  /** Passed to `train` (batch size, progress, yielding). */
  trainOptions?: Omit<TrainOptions, 'epochs' | 'signal'>;
  /**
   * The round this device last uploaded to on this server, if any. A device contributes to a round
   * at most once: the privacy accounting counts each client once per round, and the server cannot
   * tell anonymous devices apart, so the device keeps count.
   */
  contributedRoundId?: number | null;
  /** Called with a newly downloaded global model (e.g. so that the engine can warm-start from it). */
  onGlobalModel?: (model: { version: string; modelJson: ModelJson; weights: NamedWeight[] }) => void;
  now?: () => number;
}

/** Exactly what one upload sent, for the privacy centre. */
/** Checkpoint name of the cached global model. */
export const GLOBAL_MODEL_CHECKPOINT = 'federated-global';
/** Meta key of the last upload record. */
export const LAST_UPLOAD_META = 'federated.lastUpload';

interface CachedGlobal {
  version: string;
  etag: string | null;
  modelJson: ModelJson;
}

/**
 * Why the device would not take part now, or `undefined` when every gate is open. Checked again
 * by `runFederatedRound`, so callers may use it to avoid waking the engine for nothing.
 *
 * @example
 * ```ts
 * if (participationBlocker({ consent, capabilities: detectCapabilities() }) === undefined) scheduleRound();
 * ```
 */
export function participationBlocker(deps: Pick<FederatedRoundDeps, 'consent' | 'capabilities' | 'idle'>): string | undefined {
  if (deps.consent.contribute !== true) return 'no_consent';
  if (deps.capabilities.globalPrivacyControl) return 'global_privacy_control';
  if (deps.capabilities.saveData) return 'save_data';
  if (deps.idle === false) return 'not_idle';
  return undefined;
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new HearthError('aborted', 'federated round cancelled'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new HearthError('aborted', 'federated round cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function isSecureInfo(value: unknown): value is SecureRoundInfo {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return (
    typeof s.cohortSize === 'number' &&
    Number.isSafeInteger(s.cohortSize) &&
    s.cohortSize >= 2 &&
    s.cohortSize <= 255 &&
    typeof s.minClients === 'number' &&
    Number.isSafeInteger(s.minClients) &&
    s.minClients >= 2 &&
    typeof s.noiseMultiplier === 'number' &&
    Number.isFinite(s.noiseMultiplier) &&
    s.noiseMultiplier >= 0 &&
    s.modulusBits === 32 &&
    typeof s.phaseTimeoutMs === 'number' &&
    s.phaseTimeoutMs > 0
  );
}

function isRoundConfig(value: unknown): value is RoundConfig {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  if (r.secure !== undefined && !isSecureInfo(r.secure)) return false;
  return (
    typeof r.roundId === 'number' &&
    Number.isSafeInteger(r.roundId) &&
    typeof r.modelVersion === 'string' &&
    (r.status === 'open' || r.status === 'budget_exhausted') &&
    typeof r.epochs === 'number' &&
    Number.isSafeInteger(r.epochs) &&
    r.epochs >= 1 &&
    r.epochs <= 100 &&
    typeof r.clipBound === 'number' &&
    r.clipBound > 0 &&
    Number.isFinite(r.clipBound) &&
    typeof r.noiseSigma === 'number' &&
    r.noiseSigma >= 0 &&
    Number.isFinite(r.noiseSigma) &&
    (r.bits === 8 || r.bits === 16)
  );
}

/** What every step of a round shares: the dependencies with their defaults filled in. */
interface RoundContext {
  deps: FederatedRoundDeps;
  base: string;
  doFetch: typeof fetch;
  random: RandomSource;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  now: () => number;
  checkAbort: () => void;
  init: (extra?: RequestInit) => RequestInit;
  /** A GET that answers `undefined` when offline (unless the caller aborted). */
  get: (url: string, headers?: Record<string, string>) => Promise<Response | undefined>;
}

type Step<T> = { ok: true; value: T } | { ok: false; result: FederatedRoundResult };
const ok = <T>(value: T): Step<T> => ({ ok: true, value });
const stop = <T>(result: FederatedRoundResult): Step<T> => ({ ok: false, result });

function roundContext(deps: FederatedRoundDeps): RoundContext {
  const doFetch = deps.fetch ?? globalThis.fetch.bind(globalThis);
  const checkAbort = (): void => {
    if (deps.signal?.aborted) throw new HearthError('aborted', 'federated round cancelled');
  };
  // No cookies, no referrer, no caches in between: the request says nothing about the page.
  const init = (extra: RequestInit = {}): RequestInit => ({ credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store', ...(deps.signal ? { signal: deps.signal } : {}), ...extra });
  return {
    deps,
    base: deps.serverUrl.replace(/\/+$/, ''),
    doFetch,
    random: deps.random ?? secureRandom(),
    sleep: deps.sleep ?? defaultSleep,
    now: deps.now ?? Date.now,
    checkAbort,
    init,
    get: async (url, headers = {}) => {
      try {
        return await doFetch(url, init({ headers }));
      } catch {
        // Offline or refused: the round is missed, not failed (unless the caller aborted).
        checkAbort();
        return undefined;
      }
    },
  };
}

/** Step 1: the round the server has open, if this device should join it. */
async function fetchRound(c: RoundContext): Promise<Step<RoundConfig>> {
  const response = await c.get(`${c.base}/v1/round`);
  if (!response) return stop({ status: 'missed', reason: 'network' });
  if (!response.ok) return stop({ status: 'missed', reason: await errorCode(response) });
  let round: unknown;
  try {
    round = await response.json();
  } catch {
    return stop({ status: 'missed', reason: 'bad_round_config' });
  }
  if (!isRoundConfig(round)) return stop({ status: 'missed', reason: 'bad_round_config' });
  if (round.status !== 'open') return stop({ status: 'skipped', reason: 'round_closed', roundId: round.roundId });
  if (c.deps.contributedRoundId === round.roundId) return stop({ status: 'skipped', reason: 'already_contributed', roundId: round.roundId });
  return ok(round);
}

/** Step 2: the global model of the round, from the cache when it is the round's version. */
async function fetchGlobalModel(c: RoundContext, round: RoundConfig): Promise<Step<{ modelJson: ModelJson; weights: NamedWeight[] }>> {
  const { deps } = c;
  const cached = await deps.store?.getCheckpoint(GLOBAL_MODEL_CHECKPOINT).catch(() => undefined);
  const cachedMeta = cached?.config as CachedGlobal | undefined;
  if (cached && cachedMeta?.version === round.modelVersion) return ok({ modelJson: cachedMeta.modelJson, weights: cached.weights.map((w) => ({ ...w, shape: [...w.shape] })) });
  const modelUrl = `${c.base}/v1/model`;
  const headers: Record<string, string> = {};
  if (cached && cachedMeta?.etag) headers['if-none-match'] = cachedMeta.etag;
  const response = await c.get(modelUrl, headers);
  if (!response) return stop({ status: 'missed', reason: 'network', roundId: round.roundId });
  if (response.status === 304 && cached && cachedMeta) return ok({ modelJson: cachedMeta.modelJson, weights: cached.weights });
  if (!response.ok) return stop({ status: 'missed', reason: await errorCode(response), roundId: round.roundId });
  const version = response.headers.get(MODEL_VERSION_HEADER);
  if (version !== round.modelVersion) return stop({ status: 'missed', reason: 'model_changed', roundId: round.roundId });
  let global: { modelJson: ModelJson; weights: NamedWeight[] };
  try {
    const modelJson = parseModelJson(await response.json());
    const parts: Uint8Array[] = [];
    for (const group of modelJson.weightsManifest) {
      for (const path of group.paths) {
        const part = await c.get(new URL(path, modelUrl).toString());
        if (!part?.ok) return stop({ status: 'missed', reason: part ? await errorCode(part) : 'network', roundId: round.roundId });
        parts.push(new Uint8Array(await part.arrayBuffer()));
      }
    }
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      bytes.set(p, offset);
      offset += p.length;
    }
    global = { modelJson, weights: weightsFromBuffer(modelJson, bytes) };
  } catch (error) {
    c.checkAbort();
    return stop({ status: 'missed', reason: error instanceof HearthError ? error.code : 'bad_model', roundId: round.roundId });
  }
  const checkpoint: ModelCheckpoint = {
    name: GLOBAL_MODEL_CHECKPOINT,
    formatVersion: 1,
    config: { version, etag: response.headers.get('etag'), modelJson: global.modelJson } satisfies CachedGlobal,
    weights: global.weights,
    savedAt: c.now(),
  };
  // Caching is an optimisation: a full or blocked store must not cost the round.
  await deps.store?.putCheckpoint(checkpoint).catch(() => undefined);
  deps.onGlobalModel?.({ version, modelJson: global.modelJson, weights: global.weights });
  return ok(global);
}

/** Step 3: local training from the global weights. */
async function trainLocally(c: RoundContext, round: RoundConfig, global: NamedWeight[], sequences: readonly (readonly HistoryStep[])[]): Promise<Step<number>> {
  const { deps } = c;
  const mismatch = layoutMismatch(deps.model.getWeights(), global);
  if (mismatch !== undefined) return stop({ status: 'skipped', reason: 'incompatible_model', roundId: round.roundId, modelVersion: round.modelVersion });
  deps.model.setWeights(global);
  try {
    const { loss } = await deps.model.train(sequences, { ...deps.trainOptions, epochs: round.epochs, ...(deps.signal ? { signal: deps.signal } : {}) });
    c.checkAbort();
    return ok(loss);
  } catch (error) {
    c.checkAbort();
    throw error;
  }
}

/** Step 4: the update, local − global, clipped to the round's bound. */
function clippedUpdate(c: RoundContext, round: RoundConfig, global: NamedWeight[]): { update: NamedWeight[]; clip: ClipReport } {
  const update = subtractWeights(c.deps.model.getWeights(), global);
  return { update, clip: clipToNorm(update, round.clipBound) };
}

/** Step 5a (plain rounds): on-device noise, quantization, gzip, one upload with bounded retries. */
async function uploadPlain(c: RoundContext, round: RoundConfig, update: NamedWeight[], clip: ClipReport, loss: number): Promise<FederatedRoundResult> {
  const { deps } = c;
  addGaussianNoise(update, round.noiseSigma, c.random);
  const encoded = await encodeUpdate(update, { modelVersion: round.modelVersion, roundId: round.roundId, bits: round.bits, random: c.random });
  const url = `${c.base}/v1/rounds/${round.roundId}/updates`;
  const attempts = Math.max(1, deps.retry?.attempts ?? 4);
  const baseDelay = deps.retry?.baseDelayMs ?? 1000;
  const maxDelay = deps.retry?.maxDelayMs ?? 30_000;
  let lastReason = 'network';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let response: Response | undefined;
    try {
      response = await c.doFetch(
        url,
        c.init({
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', [SITE_KEY_HEADER]: deps.siteKey },
          body: encoded.body as Uint8Array<ArrayBuffer>,
        }),
      );
    } catch {
      c.checkAbort();
      response = undefined;
    }
    if (response && response.status >= 200 && response.status < 300) {
      const record: UploadRecord = {
        at: c.now(),
        url,
        bytes: encoded.body.length,
        rawBytes: encoded.rawBytes,
        header: encoded.header,
        tensors: encoded.header.tensors.map((t) => ({ name: t.name, shape: [...t.shape] })),
        normBeforeClip: clip.normBefore,
        normAfterClip: clip.normAfter,
        clipBound: round.clipBound,
        noiseSigma: round.noiseSigma,
        attempts: attempt,
        httpStatus: response.status,
      };
      await deps.store?.setMeta(LAST_UPLOAD_META, record).catch(() => undefined);
      return { status: 'uploaded', roundId: round.roundId, modelVersion: round.modelVersion, loss, upload: record };
    }
    if (response) {
      lastReason = await errorCode(response);
      // A replay means an earlier attempt did arrive (its answer was lost): the upload is in.
      if (lastReason === 'replay') return { status: 'uploaded', reason: 'replay', roundId: round.roundId, modelVersion: round.modelVersion, loss };
      const retriable = response.status >= 500 || response.status === 429 || response.status === 408;
      if (!retriable) {
        const moved = lastReason === 'wrong_round' || lastReason === 'wrong_model_version' || lastReason === 'budget_exhausted';
        return { status: moved ? 'missed' : 'rejected', reason: lastReason, roundId: round.roundId, modelVersion: round.modelVersion, loss };
      }
    }
    if (attempt < attempts) await c.sleep(backoffDelay(attempt, baseDelay, maxDelay, c.random), deps.signal);
  }
  return { status: 'missed', reason: lastReason, roundId: round.roundId, modelVersion: round.modelVersion, loss };
}

/**
 * Step 5b (secure rounds): the update goes through secure aggregation: grid-encoded with this
 * client's share of the distributed noise, masked, and unmasked by the server only as part of the
 * round's sum. No on-device Gaussian noise, no gzip: every body has one size.
 */
async function uploadSecure(c: RoundContext, round: RoundConfig, secure: SecureRoundInfo, update: NamedWeight[], clip: ClipReport, loss: number): Promise<FederatedRoundResult> {
  const { deps } = c;
  const outcome = await runSecureSession(update, {
    base: c.base,
    siteKey: deps.siteKey,
    roundId: round.roundId,
    modelVersion: round.modelVersion,
    clip: round.clipBound,
    secure,
    doFetch: c.doFetch,
    init: c.init,
    sleep: c.sleep,
    ...(deps.signal ? { signal: deps.signal } : {}),
    random: c.random,
    now: c.now,
    ...(deps.retry?.attempts !== undefined ? { attempts: deps.retry.attempts } : {}),
  });
  if (outcome.status !== 'uploaded') return { status: outcome.status, reason: outcome.reason, roundId: round.roundId, modelVersion: round.modelVersion, loss };
  const { record: secureRecord } = outcome;
  const sent = secureRecord.bytes.join + secureRecord.bytes.shares + secureRecord.bytes.masked + secureRecord.bytes.unmask;
  const record: UploadRecord = {
    at: c.now(),
    url: `${c.base}/v1/rounds/${round.roundId}/secagg`,
    bytes: sent,
    rawBytes: sent,
    header: secureRecord,
    tensors: secureRecord.tensors,
    normBeforeClip: clip.normBefore,
    normAfterClip: clip.normAfter,
    clipBound: round.clipBound,
    noiseSigma: 0,
    attempts: 1,
    httpStatus: 202,
  };
  await deps.store?.setMeta(LAST_UPLOAD_META, record).catch(() => undefined);
  return { status: 'uploaded', roundId: round.roundId, modelVersion: round.modelVersion, loss, upload: record };
}

/**
 * Runs one federated round: fetch the round and the global model (cached, conditional GET), train
 * locally from the global weights, clip; then either noise, quantize, compress and upload with
 * bounded retries (a plain round), or take part in secure aggregation (a secure round: the server
 * learns only the round's sum). Never throws for runtime trouble: a gate that is closed, a network
 * failure or a round that moved on comes back as a status. Throws `HearthError('aborted')` when
 * `signal` aborts.
 *
 * @example
 * ```ts
 * const result = await runFederatedRound({ serverUrl, siteKey, model, sequences, store, consent, capabilities: detectCapabilities() });
 * if (result.status === 'uploaded') console.log(result.upload?.bytes);
 * ```
 */
export async function runFederatedRound(deps: FederatedRoundDeps): Promise<FederatedRoundResult> {
  const blocker = participationBlocker(deps);
  if (blocker !== undefined) return { status: 'skipped', reason: blocker };
  const c = roundContext(deps);
  const sequences = typeof deps.sequences === 'function' ? await deps.sequences() : deps.sequences;
  if (sequences.length < (deps.minSequences ?? 1)) return { status: 'skipped', reason: 'no_data' };

  const round = await fetchRound(c);
  if (!round.ok) return round.result;
  const global = await fetchGlobalModel(c, round.value);
  if (!global.ok) return global.result;
  c.checkAbort();
  const loss = await trainLocally(c, round.value, global.value.weights, sequences);
  if (!loss.ok) return loss.result;
  const { update, clip } = clippedUpdate(c, round.value, global.value.weights);
  const secure = round.value.secure;
  if (secure) return uploadSecure(c, round.value, secure, update, clip, loss.value);
  return uploadPlain(c, round.value, update, clip, loss.value);
}
