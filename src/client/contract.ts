/**
 * The seam between the page-side Hearth object (tracker, consent, public API) and the engine,
 * which lives in a Web Worker. The page owns events and consent; the engine owns models.
 *
 * Internal: not exported from `src/index.ts`. The public methods of the Hearth object forward
 * to this, after validating their arguments.
 */
import type { StoredEvent } from '../protocol/event-types.js';
import type { ConsentState, HearthStore } from '../store/types.js';
import type { Logger } from '../shared/logger.js';
import type { FederatedOptions } from '../protocol/federated.js';
import type { FederatedRoundResult, UploadRecord } from '../protocol/federated.js';
import type { EngineOptions } from '../protocol/engine-options.js';
import type { EngineInfo, IntentScore, Recommendation, RecommendOptions, TrainingProgress } from '../protocol/engine-types.js';
import type { ExperimentReportResult } from '../protocol/experiments.js';

export interface EngineClientConfig {
  /** The IndexedDB database name the tracker writes to; the worker opens the same one. */
  dbName: string;
  engine: EngineOptions;
  federated?: FederatedOptions;
  /** Read at call time: training and federated rounds happen only under the right scope. */
  consent: () => ConsentState;
  logger: Logger;
  /**
   * URL of the script that loaded Hearth (script-tag builds), used to find `hearth.worker.js`
   * next to it when `engine.workerUrl` is not set.
   */
  scriptUrl?: string;
  /**
   * The page's store, when it has one: the page-side fallbacks (no worker) read the catalog and
   * the stored events from it. Optional; without it the fallbacks use `recent` alone.
   */
  store?: Pick<HearthStore, 'getCatalog' | 'readEvents'>;
  /** Debug output from the worker goes to its console (pass `init({ debug })`). */
  debug?: boolean;
  /** Creates the worker (tests); default `new Worker(url, { type: 'module' })`. */
  createWorker?: (url: URL | string) => Worker;
}

/**
 * What the page can ask of the engine. Every method is safe to call at any time: the worker is
 * started lazily on the first call (or at browser idle time), never during page load; when it
 * cannot start, answers come from non-model fallbacks and `info()` says why.
 *
 * `recent` is the page's view of the newest events (those tracked but perhaps not yet flushed to
 * IndexedDB, or all of them when storage fell back to memory), so that a `recommend()` right after a
 * `track()` takes that event into account. The engine merges it with what it reads from the store.
 */
export interface EngineClient {
  recommend(options: RecommendOptions, recent: readonly StoredEvent[]): Promise<Recommendation[]>;
  similarItems(itemId: string, k: number): Promise<Recommendation[]>;
  trending(k: number, recent: readonly StoredEvent[]): Promise<Recommendation[]>;
  intent(recent: readonly StoredEvent[]): Promise<IntentScore>;
  info(): Promise<EngineInfo>;
  /** Trains now (also runs by itself at idle time when `engine.autoTrain` is on). */
  train(options?: { signal?: AbortSignal }): Promise<{ recommenderLoss: number | null; intentLoss: number | null }>;
  /** Subscribes to training progress; returns the unsubscribe function. */
  onProgress(listener: (progress: TrainingProgress) => void): () => void;
  /** Runs one federated round now, if configured and every gate is open. */
  federatedRound(options?: { signal?: AbortSignal }): Promise<FederatedRoundResult>;
  /** Exactly what the last federated upload sent, or null. */
  lastUpload(): Promise<UploadRecord | null>;
  /** Sends this device's private experiment reports that are ready, now. */
  reportExperiments(): Promise<ExperimentReportResult>;
  /** The catalog changed (setCatalog or feed refresh): rebuild item tables on the next call. */
  catalogChanged(): void;
  /**
   * Stops the worker and drops every model in memory, closing its database connection, so that
   * `forget()` can delete the database. The next call starts afresh.
   */
  reset(): Promise<void>;
  dispose(): void;
}
