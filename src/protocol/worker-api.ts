/**
 * The engine worker's API: the one interface the worker exposes with comlink and the page-side
 * client wraps. Calls are coarse (one `recommend()` per request). Consent crosses with every call
 * that learns or personalises, so the worker never acts on a stale decision. Errors cross as
 * `{ name, message, stack }`; the name carries the Hearth error code (see `reviveError`).
 */
import type { StoredEvent } from './event-types.js';
import type { ConsentState } from './consent.js';
import type { FederatedOptions } from './federated.js';
import type { FederatedRoundResult, UploadRecord } from './federated.js';
import type { EngineOptions } from './engine-options.js';
import type { EngineInfo, IntentScore, Recommendation, RecommendOptions, TrainingProgress } from './engine-types.js';
import type { ExperimentReportResult } from './experiments.js';

/** What the page hands the worker when it starts it. Structured-clonable. */
export interface EngineWorkerInit {
  dbName: string;
  /** Engine options, with `workerUrl` dropped (a URL object does not clone) and `wasmPath` resolved. */
  engine: Omit<EngineOptions, 'workerUrl'>;
  federated?: FederatedOptions;
  consent: ConsentState;
  /** Debug output from the worker goes to its console. */
  debug?: boolean;
}

export interface TrainOutcome {
  recommenderLoss: number | null;
  intentLoss: number | null;
}

/**
 * @example
 * ```ts
 * const api = wrap<EngineWorkerApi>(new Worker(url, { type: 'module' }));
 * await api.start(init, proxy((p) => console.log(p.loss)));
 * const items = await api.recommend({ k: 5 }, recent, consent);
 * ```
 */
export interface EngineWorkerApi {
  /** Opens the store, chooses a backend, restores or warm-starts the models. Idempotent. */
  start(init: EngineWorkerInit, onProgress?: (progress: TrainingProgress) => void): Promise<EngineInfo>;
  recommend(options: RecommendOptions, recent: readonly StoredEvent[], consent: ConsentState): Promise<Recommendation[]>;
  similarItems(itemId: string, k: number): Promise<Recommendation[]>;
  trending(k: number, recent: readonly StoredEvent[], consent: ConsentState): Promise<Recommendation[]>;
  intent(recent: readonly StoredEvent[], consent: ConsentState): Promise<IntentScore>;
  info(): Promise<EngineInfo>;
  /** Trains both models on the store's events now (needs `personalise`). */
  train(consent: ConsentState): Promise<TrainOutcome>;
  /** Aborts a running training or federated round; it rejects with 'aborted'. */
  cancelTraining(): void;
  /** Runs one federated round now, if configured and every gate is open. */
  federatedRound(consent: ConsentState): Promise<FederatedRoundResult>;
  lastUpload(): Promise<UploadRecord | null>;
  /** Sends this device's private experiment reports that are ready (needs `contribute` and `personalise`). */
  reportExperiments(consent: ConsentState): Promise<ExperimentReportResult>;
  /** The catalog changed: the item tables are rebuilt on the next call. */
  catalogChanged(): void;
  /** The page is idle: train and take part in a federated round when due (autoTrain, autoParticipate). */
  idle(consent: ConsentState): Promise<void>;
  /** Drops the models and closes the database connection (so that `forget()` can delete it). */
  close(): Promise<void>;
}
