/**
 * On-device training: both models on the store's newest events, one run at a time, saved as
 * checkpoints when they learned something. Where to change what the device trains on and how often.
 */
import { HearthError } from '../protocol/errors.js';
import type { ConsentState } from '../store/types.js';
import type { TrainingProgress } from '../protocol/engine-types.js';
import type { TrainOutcome } from '../protocol/worker-api.js';
import { denied, type EngineModels } from './engine-models.js';
import { historySteps, sessionSteps } from './ranking.js';

export class Training {
  private running: Promise<TrainOutcome> | null = null;
  private abort: AbortController | null = null;

  constructor(
    private readonly models: EngineModels,
    private readonly onProgress?: (progress: TrainingProgress) => void,
  ) {}

  /** The run in progress, if any. */
  get inFlight(): Promise<TrainOutcome> | null {
    return this.running;
  }

  /** Trains both models on the store's events. Concurrent calls share one run. */
  train(consent: ConsentState | undefined): Promise<TrainOutcome> {
    if (denied(consent)) return Promise.reject(new HearthError('consent_required', 'Training needs the "personalise" consent scope'));
    this.running ??= this.run().finally(() => {
      this.running = null;
      this.abort = null;
    });
    return this.running;
  }

  /** Aborts the run in progress; it rejects with 'aborted'. */
  cancel(): void {
    this.abort?.abort();
  }

  private async run(): Promise<TrainOutcome> {
    const m = this.models;
    await m.start();
    await m.loadCatalog();
    const abort = new AbortController();
    this.abort = abort;
    const events = await m.store.readEvents({ limit: m.options.maxTrainEvents ?? 5_000 });
    const count = await m.store.countEvents().catch(() => events.length);
    const epochs = m.options.trainEpochs ?? 2;
    const emit = (model: TrainingProgress['model'], offset: number, share: number) => (p: { epoch: number; epochs: number; loss: number; fraction: number }) =>
      this.onProgress?.({ model, epoch: p.epoch, epochs: p.epochs, loss: p.loss, fraction: offset + p.fraction * share });
    let recommenderLoss: number | null = null;
    let intentLoss: number | null = null;
    const sequence = historySteps(events);
    m.logger.debug(`Training on ${events.length} events (${sequence.length} steps), ${epochs} epochs, catalog ${m.catalog.length} items.`);
    if (sequence.length >= 2 && m.ensureRecommender(events) && m.recommender) {
      const { loss } = await m.recommender.train([sequence], { epochs, signal: abort.signal, yieldEvery: 1, onProgress: emit('recommender', 0, 0.7) });
      if (Number.isFinite(loss)) {
        recommenderLoss = loss;
        m.recommenderReady = true;
        await m.save(m.recommender.toCheckpoint());
      }
    }
    const sessions = sessionSteps(events);
    if (sessions.length > 0 && sessions.some((s) => s.some((step) => step.type === 'add_to_cart' || step.type === 'purchase'))) {
      const intent = m.ensureIntent();
      const { loss } = await intent.train(sessions, { epochs, signal: abort.signal, yieldEvery: 1, onProgress: emit('intent', 0.7, 0.3) });
      if (Number.isFinite(loss)) {
        intentLoss = loss;
        m.intentReady = true;
        await m.save(intent.toCheckpoint());
      }
    }
    if (recommenderLoss !== null || intentLoss !== null) {
      m.state.lastTrainedAt = m.now();
      m.state.lastLoss = recommenderLoss ?? intentLoss;
    }
    m.state.trainedEventCount = count;
    await m.saveState();
    return { recommenderLoss, intentLoss };
  }
}
