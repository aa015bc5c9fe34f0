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
import { addGaussianNoise, clipToNorm, layoutMismatch, subtractWeights } from './update-math.js';
import { encodeUpdate } from './wire.js';
import { parseModelJson, weightsFromBuffer, type ModelJson } from '../protocol/model-file.js';
import type { RoundInfo } from '../protocol/aggregation-http.js';
import type { FederatedRoundResult, FederatedRoundStatus, UploadRecord } from '../protocol/federated.js';

export type { FederatedRoundResult, FederatedRoundStatus, UploadRecord };
import { MODEL_VERSION_HEADER, SITE_KEY_HEADER } from '../protocol/aggregation-headers.js';

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

function isRoundConfig(value: unknown): value is RoundConfig {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
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

/** Reads the JSON error code of a refused request, if it has one. */
async function errorCode(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: { code?: unknown } };
    return typeof body.error?.code === 'string' ? body.error.code : `http_${response.status}`;
  } catch {
    return `http_${response.status}`;
  }
}

/**
 * Runs one federated round: fetch the round and the global model (cached, conditional GET), train
 * locally from the global weights, clip, noise, quantize, compress, upload with bounded retries.
 * Never throws for runtime trouble: a gate that is closed, a network failure or a round that
 * moved on comes back as a status. Throws `HearthError('aborted')` when `signal` aborts.
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
  const doFetch = deps.fetch ?? globalThis.fetch.bind(globalThis);
  const random = deps.random ?? secureRandom();
  const sleep = deps.sleep ?? defaultSleep;
  const now = deps.now ?? Date.now;
  const base = deps.serverUrl.replace(/\/+$/, '');
  const checkAbort = (): void => {
    if (deps.signal?.aborted) throw new HearthError('aborted', 'federated round cancelled');
  };
  // No cookies, no referrer, no caches in between: the request says nothing about the page.
  const init = (extra: RequestInit = {}): RequestInit => ({ credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store', ...(deps.signal ? { signal: deps.signal } : {}), ...extra });
  const get = async (url: string, headers: Record<string, string> = {}): Promise<Response | undefined> => {
    try {
      return await doFetch(url, init({ headers }));
    } catch {
      // Offline or refused: the round is missed, not failed (unless the caller aborted).
      checkAbort();
      return undefined;
    }
  };

  const sequences = typeof deps.sequences === 'function' ? await deps.sequences() : deps.sequences;
  if (sequences.length < (deps.minSequences ?? 1)) return { status: 'skipped', reason: 'no_data' };

  // 1. The round.
  const roundResponse = await get(`${base}/v1/round`);
  if (!roundResponse) return { status: 'missed', reason: 'network' };
  if (!roundResponse.ok) return { status: 'missed', reason: await errorCode(roundResponse) };
  let round: unknown;
  try {
    round = await roundResponse.json();
  } catch {
    return { status: 'missed', reason: 'bad_round_config' };
  }
  if (!isRoundConfig(round)) return { status: 'missed', reason: 'bad_round_config' };
  if (round.status !== 'open') return { status: 'skipped', reason: 'round_closed', roundId: round.roundId };
  if (deps.contributedRoundId === round.roundId) return { status: 'skipped', reason: 'already_contributed', roundId: round.roundId };

  // 2. The global model, from the cache when it is the round's version.
  let global: { modelJson: ModelJson; weights: NamedWeight[] } | undefined;
  const cached = await deps.store?.getCheckpoint(GLOBAL_MODEL_CHECKPOINT).catch(() => undefined);
  const cachedMeta = cached?.config as CachedGlobal | undefined;
  if (cached && cachedMeta?.version === round.modelVersion) global = { modelJson: cachedMeta.modelJson, weights: cached.weights.map((w) => ({ ...w, shape: [...w.shape] })) };
  if (!global) {
    const modelUrl = `${base}/v1/model`;
    const headers: Record<string, string> = {};
    if (cached && cachedMeta?.etag) headers['if-none-match'] = cachedMeta.etag;
    const response = await get(modelUrl, headers);
    if (!response) return { status: 'missed', reason: 'network', roundId: round.roundId };
    if (response.status === 304 && cached && cachedMeta) {
      global = { modelJson: cachedMeta.modelJson, weights: cached.weights };
    } else if (response.ok) {
      const version = response.headers.get(MODEL_VERSION_HEADER);
      if (version !== round.modelVersion) return { status: 'missed', reason: 'model_changed', roundId: round.roundId };
      try {
        const modelJson = parseModelJson(await response.json());
        const parts: Uint8Array[] = [];
        for (const group of modelJson.weightsManifest) {
          for (const path of group.paths) {
            const part = await get(new URL(path, modelUrl).toString());
            if (!part?.ok) return { status: 'missed', reason: part ? await errorCode(part) : 'network', roundId: round.roundId };
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
        checkAbort();
        return { status: 'missed', reason: error instanceof HearthError ? error.code : 'bad_model', roundId: round.roundId };
      }
      const checkpoint: ModelCheckpoint = {
        name: GLOBAL_MODEL_CHECKPOINT,
        formatVersion: 1,
        config: { version, etag: response.headers.get('etag'), modelJson: global.modelJson } satisfies CachedGlobal,
        weights: global.weights,
        savedAt: now(),
      };
      // Caching is an optimisation: a full or blocked store must not cost the round.
      await deps.store?.putCheckpoint(checkpoint).catch(() => undefined);
      deps.onGlobalModel?.({ version, modelJson: global.modelJson, weights: global.weights });
    } else {
      return { status: 'missed', reason: await errorCode(response), roundId: round.roundId };
    }
  }
  checkAbort();

  // 3. Train locally from the global weights.
  const local = deps.model.getWeights();
  const mismatch = layoutMismatch(local, global.weights);
  if (mismatch !== undefined) return { status: 'skipped', reason: 'incompatible_model', roundId: round.roundId, modelVersion: round.modelVersion };
  deps.model.setWeights(global.weights);
  let loss: number;
  try {
    ({ loss } = await deps.model.train(sequences, { ...deps.trainOptions, epochs: round.epochs, ...(deps.signal ? { signal: deps.signal } : {}) }));
  } catch (error) {
    checkAbort();
    throw error;
  }
  checkAbort();

  // 4. The update: local − global, clipped, noised on the device, quantized, compressed.
  const update = subtractWeights(deps.model.getWeights(), global.weights);
  const clip = clipToNorm(update, round.clipBound);
  addGaussianNoise(update, round.noiseSigma, random);
  const encoded = await encodeUpdate(update, { modelVersion: round.modelVersion, roundId: round.roundId, bits: round.bits, random });

  // 5. Upload once, with bounded retries and exponential back-off with full jitter.
  const url = `${base}/v1/rounds/${round.roundId}/updates`;
  const attempts = Math.max(1, deps.retry?.attempts ?? 4);
  const baseDelay = deps.retry?.baseDelayMs ?? 1000;
  const maxDelay = deps.retry?.maxDelayMs ?? 30_000;
  let lastReason = 'network';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let response: Response | undefined;
    try {
      response = await doFetch(
        url,
        init({
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', [SITE_KEY_HEADER]: deps.siteKey },
          body: encoded.body as Uint8Array<ArrayBuffer>,
        }),
      );
    } catch {
      checkAbort();
      response = undefined;
    }
    if (response && response.status >= 200 && response.status < 300) {
      const record: UploadRecord = {
        at: now(),
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
    if (attempt < attempts) await sleep(backoffDelay(attempt, baseDelay, maxDelay, random), deps.signal);
  }
  return { status: 'missed', reason: lastReason, roundId: round.roundId, modelVersion: round.modelVersion, loss };
}
