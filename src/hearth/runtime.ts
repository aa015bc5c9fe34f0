/**
 * The seam between the two halves of the page-side SDK.
 *
 * The core (options, consent, validation, sessions, batching, the pre-init queue) is small and
 * runs at once. The runtime (the IndexedDB store, the engine client, autocapture, the dataLayer
 * bridge, the query API) is the heavy half: the npm entry links it statically, the script tag
 * loads it with `import()` from `hearth.runtime.js` next to itself, so the tag stays within its
 * 8 KB budget. Events tracked before the runtime arrives wait in memory.
 */
import type { ResolvedOptions } from './config.js';
import type { Consent } from '../consent/consent.js';
import type { Logger } from '../shared/logger.js';
import type { Tracker } from '../tracker/tracker.js';
import type { TrackEvent } from '../protocol/event-types.js';
import type { ExportedData } from '../store/types.js';
import type { EngineInfo, IntentScore, Recommendation, TrainingProgress } from '../protocol/engine-types.js';
import type { FederatedRoundResult, UploadRecord } from '../protocol/federated.js';
import type { ExperimentAssignment, ExperimentRecordView, ExperimentReportResult, OptimiseChoice } from '../protocol/experiments.js';
import type { TrainResult } from './types.js';

/** What the core hands the runtime. */
export interface HearthContext {
  options: ResolvedOptions;
  logger: Logger;
  win: (Window & typeof globalThis) | undefined;
  now: () => number;
  consent: Consent;
  tracker: Tracker;
  /** `track()` as the page calls it (validation included); `eventId` fixes the id (see dataLayer stashing). */
  track(event: TrackEvent, eventId?: string): void;
  /**
   * Id of the dataLayer entry at `index` as the tag stashes it before the bridge runs; the bridge
   * tracks entries already in the layer under the same ids, so a stashed entry is never doubled.
   */
  layerEventId(index: number): string;
  /** The bridge has started: the tag stops stashing raw dataLayer entries. */
  layerBridged(): void;
  /** True after `forget()` here or in another tab, until `personalise` is granted again. */
  writesBlocked(): boolean;
  /** This page's page-exit stash key (the core keeps it); other pages' stashes are drained at start. */
  stashKey?: string;
  /** Copies the consent decisions to their synchronous mirror (see consent.ts). */
  mirrorConsent?: () => void;
  /** Another tab deleted the database. */
  deletedElsewhere(): void;
  destroyed(): boolean;
  /** Fans training progress out to `engine.onProgress` listeners. */
  progress(progress: TrainingProgress): void;
  scriptUrl?: string;
  fetch?: typeof fetch;
  scheduleIdle?: (fn: () => void) => () => void;
}

/** The heavy half of the Hearth object, once started. Arguments are checked here. */
export interface RuntimeSession {
  /** After this page's `forget()`, reopens the database for a new `personalise` grant. */
  resume(): Promise<void>;
  saveConsent(): Promise<void>;
  setCatalog(items: unknown): Promise<void>;
  recommend(options: unknown): Promise<Recommendation[]>;
  similarItems(itemId: unknown, k: unknown): Promise<Recommendation[]>;
  trending(k: unknown): Promise<Recommendation[]>;
  recentlyViewed(k: unknown): Promise<Recommendation[]>;
  intent(): Promise<IntentScore>;
  info(): Promise<EngineInfo>;
  train(options?: { signal?: AbortSignal }): Promise<TrainResult>;
  federatedRound(options?: { signal?: AbortSignal }): Promise<FederatedRoundResult>;
  lastUpload(): Promise<UploadRecord | null>;
  experiment(name: unknown, options: unknown): Promise<ExperimentAssignment>;
  optimise(name: unknown, options: unknown): Promise<OptimiseChoice>;
  listExperiments(): Promise<ExperimentRecordView[]>;
  reportExperiments(): Promise<ExperimentReportResult>;
  exportData(): Promise<ExportedData>;
  /** Resets the engine, then deletes the database; resolves when it is gone. */
  forget(): Promise<void>;
  /** Stops autocapture, listeners and timers; closes the store after the last flush. */
  stop(): void;
}

export interface Runtime {
  /** Opens the store, loads consent and session, starts autocapture and the engine. Never rejects for runtime trouble. */
  start(context: HearthContext): Promise<RuntimeSession>;
}
