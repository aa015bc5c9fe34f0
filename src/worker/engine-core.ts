/**
 * The engine as the worker runs it, one object per worker: the models and their state
 * (engine-models.ts), answers (serving.ts), on-device training (training.ts) and federated rounds
 * (participation.ts), plus the idle-time policy that decides when to train and take part. Takes a
 * store and a tfjs runtime that is already set up, so that Node tests run it with fake-indexeddb
 * and tfjs cpu/wasm.
 */
import { errorCodeOf } from '../protocol/errors.js';
import type { ConsentState } from '../store/types.js';
import type { StoredEvent } from '../protocol/event-types.js';
import type { EngineInfo, IntentScore, Recommendation, RecommendOptions } from '../protocol/engine-types.js';
import type { TrainOutcome } from '../protocol/worker-api.js';
import { participationBlocker, type FederatedRoundResult, type UploadRecord } from '../federated/client.js';
import { detectCapabilities } from '../shared/env.js';
import { EngineModels, denied, type BackendReport, type EngineCoreDeps } from './engine-models.js';
import { Serving } from './serving.js';
import { Training } from './training.js';
import { Participation } from './participation.js';
import { ExperimentReporting } from './experiment-reporting.js';
import type { ExperimentReportResult } from '../protocol/experiments.js';
import { wasmThreads } from './backend.js';

export { ENGINE_STATE_META, type BackendReport, type EngineCoreDeps } from './engine-models.js';
export { heuristicIntent } from './serving.js';

/** Between two automatic federated rounds. */
const ROUND_INTERVAL_MS = 6 * 3600 * 1000;
/** Between two automatic experiment reports (a device with nothing ready makes no request). */
const REPORT_INTERVAL_MS = 15 * 60 * 1000;

/**
 * @example
 * ```ts
 * const core = new EngineCore({ store, options: { trainEpochs: 2 } });
 * await core.start();
 * const items = await core.recommend({ k: 5 }, recent, consent);
 * ```
 */
export class EngineCore {
  private readonly models: EngineModels;
  private readonly serving: Serving;
  private readonly training: Training;
  private readonly participation: Participation;
  private readonly reporting: ExperimentReporting;
  private readonly backend: BackendReport;

  constructor(deps: EngineCoreDeps) {
    this.models = new EngineModels(deps);
    this.serving = new Serving(this.models);
    this.training = new Training(this.models, deps.onProgress);
    this.participation = new Participation(this.models, this.training);
    this.reporting = new ExperimentReporting(this.models);
    this.backend = deps.backend ?? { backend: null, reason: 'not chosen', adapter: null };
  }

  /** Restores state and models. Idempotent; never rejects for a bad checkpoint or an unreachable model URL. */
  start(): Promise<void> {
    return this.models.start();
  }

  /** The catalog changed: reread it (and grow the vocabulary) on the next call. */
  catalogChanged(): void {
    this.models.catalogChanged();
  }

  recommend(options: RecommendOptions, recent: readonly StoredEvent[], consent: ConsentState | undefined): Promise<Recommendation[]> {
    return this.serving.recommend(options, recent, consent);
  }

  trending(k: number, recent: readonly StoredEvent[], consent: ConsentState | undefined): Promise<Recommendation[]> {
    return this.serving.trending(k, recent, consent);
  }

  similarItems(itemId: string, k: number): Promise<Recommendation[]> {
    return this.serving.similarItems(itemId, k);
  }

  intent(recent: readonly StoredEvent[], consent: ConsentState | undefined): Promise<IntentScore> {
    return this.serving.intent(recent, consent);
  }

  /** Trains both models on the store's events. Concurrent calls share one run. */
  train(consent: ConsentState | undefined): Promise<TrainOutcome> {
    return this.training.train(consent);
  }

  /** Aborts a running training or federated round; it rejects with 'aborted'. */
  cancelTraining(): void {
    this.training.cancel();
    this.participation.cancel();
    this.reporting.cancel();
  }

  federatedRound(consent: ConsentState | undefined): Promise<FederatedRoundResult> {
    return this.participation.round(consent);
  }

  lastUpload(): Promise<UploadRecord | null> {
    return this.participation.lastUpload();
  }

  /** Sends this device's private experiment reports that are ready (needs `contribute` and `personalise`). */
  reportExperiments(consent: ConsentState | undefined): Promise<ExperimentReportResult> {
    return this.reporting.report(consent);
  }

  /** Idle time: train when enough new events arrived, then a federated round when due. */
  async idle(consent: ConsentState | undefined): Promise<void> {
    const m = this.models;
    await m.start();
    if (m.options.autoTrain !== false && !denied(consent) && !this.training.inFlight) {
      const count = await m.store.countEvents().catch(() => 0);
      const threshold = m.options.trainAfterEvents ?? 20;
      if (count - m.state.trainedEventCount >= threshold || (m.state.lastTrainedAt === null && count >= Math.min(threshold, 10))) {
        await this.train(consent).catch((error: unknown) => {
          if (errorCodeOf(error) !== 'aborted') m.logger.warnOnce('auto-train', 'Automatic training failed.', error);
        });
      }
    }
    const fed = m.deps.federated;
    if (fed && fed.autoParticipate !== false && consent?.contribute === true) {
      const blocked = participationBlocker({ consent: { contribute: true }, capabilities: detectCapabilities(), idle: true });
      const due = m.state.lastRoundAt === null || m.now() - m.state.lastRoundAt > ROUND_INTERVAL_MS;
      if (!blocked && due) {
        const result = await this.federatedRound(consent).catch((error: unknown) => {
          m.logger.warnOnce('auto-round', 'Automatic federated round failed.', error);
          return null;
        });
        if (result) m.logger.debug(`Federated round: ${result.status}${result.reason ? ` (${result.reason})` : ''}`);
      }
      const last = this.reporting.lastRunAt;
      if (!blocked && consent.personalise === true && (last === null || m.now() - last > REPORT_INTERVAL_MS)) {
        const report = await this.reportExperiments(consent).catch((error: unknown) => {
          m.logger.warnOnce('auto-report', 'Automatic experiment report failed.', error);
          return null;
        });
        if (report && report.status !== 'skipped') m.logger.debug(`Experiment report: ${report.status}${report.reason ? ` (${report.reason})` : ''}`);
      }
    }
  }

  info(status?: EngineInfo['status']): EngineInfo {
    const m = this.models;
    return {
      status: status ?? (this.training.inFlight ? 'training' : m.isStarted ? 'ready' : 'starting'),
      backend: this.backend.backend,
      backendReason: this.backend.reason,
      wasmThreads: this.backend.backend === 'wasm' ? wasmThreads() : null,
      adapter: this.backend.adapter,
      parameters: { recommender: m.recommender?.parameterCount() ?? 0, intent: m.intentModel?.parameterCount() ?? 0 },
      lastTrainedAt: m.state.lastTrainedAt,
      lastLoss: m.state.lastLoss,
      globalModelVersion: m.state.globalModelVersion,
      fallbackReason: null,
    };
  }

  /** Drops the models and closes the store. */
  async close(): Promise<void> {
    this.cancelTraining();
    await this.training.inFlight?.catch(() => undefined);
    this.models.close();
  }
}
