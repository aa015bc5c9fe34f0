/**
 * Taking part in federated learning: one round at a time per device (a call while a round runs
 * joins it; the shop's other tabs wait their turn on a Web Lock), with the live recommender, after
 * any training in progress. Where to change when and how a device contributes.
 */
import type { ConsentState } from '../store/types.js';
import type { SequenceRecommender } from '../model/contract.js';
import { LAST_UPLOAD_META, runFederatedRound, type FederatedRoundResult, type UploadRecord } from '../federated/client.js';
import { detectCapabilities } from '../shared/env.js';
import { denied, type EngineModels } from './engine-models.js';
import type { Training } from './training.js';
import { historySteps } from './ranking.js';

/** Web Lock held while a federated round runs, so that the shop's tabs take part one after another. */
const FEDERATED_ROUND_LOCK = 'hearth-federated-round';

export class Participation {
  private inFlight: Promise<FederatedRoundResult> | null = null;
  private abort: AbortController | null = null;

  constructor(
    private readonly models: EngineModels,
    private readonly training: Training,
  ) {}

  /**
   * Runs one federated round with the live recommender. A call while a round runs joins it; other
   * tabs of the shop wait their turn (Web Locks, where present) and then see this tab's upload, so
   * that one device contributes to a round once.
   */
  round(consent: ConsentState | undefined): Promise<FederatedRoundResult> {
    this.inFlight ??= this.oneTabAtATime(() => this.run(consent)).finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /** Aborts the round in progress; it rejects with 'aborted'. */
  cancel(): void {
    this.abort?.abort();
  }

  async lastUpload(): Promise<UploadRecord | null> {
    return ((await this.models.store.getMeta<UploadRecord>(LAST_UPLOAD_META).catch(() => undefined)) ?? null) as UploadRecord | null;
  }

  private async oneTabAtATime(run: () => Promise<FederatedRoundResult>): Promise<FederatedRoundResult> {
    const locks = (globalThis.navigator as (Navigator & { locks?: LockManager }) | undefined)?.locks;
    if (!locks?.request) return run();
    return (await locks.request(FEDERATED_ROUND_LOCK, run)) as FederatedRoundResult;
  }

  private async run(consent: ConsentState | undefined): Promise<FederatedRoundResult> {
    const m = this.models;
    const fed = m.deps.federated;
    if (!fed) return { status: 'skipped', reason: 'not_configured' };
    await m.start();
    await m.loadCatalog();
    await this.training.inFlight?.catch(() => undefined);
    const abort = new AbortController();
    this.abort = abort;
    try {
      const events = denied(consent) && consent?.contribute !== true ? [] : await m.store.readEvents({ limit: m.options.maxTrainEvents ?? 5_000 });
      if (!m.recommender && !m.ensureRecommender(events)) return { status: 'skipped', reason: 'no_model' };
      const model = m.recommender as SequenceRecommender;
      const sequence = historySteps(events);
      const last = await this.lastUpload();
      const base = fed.serverUrl.replace(/\/+$/, '');
      const result = await runFederatedRound({
        contributedRoundId: last && last.url.startsWith(`${base}/`) ? last.header.roundId : null,
        serverUrl: fed.serverUrl,
        siteKey: fed.siteKey,
        model,
        sequences: sequence.length >= 2 ? [sequence] : [],
        store: m.store,
        consent: { contribute: consent?.contribute ?? null },
        capabilities: detectCapabilities(),
        signal: abort.signal,
        ...(fed.retry ? { retry: fed.retry } : {}),
        ...(fed.minSequences !== undefined ? { minSequences: fed.minSequences } : {}),
        ...(m.deps.fetch ? { fetch: m.deps.fetch } : {}),
        trainOptions: { yieldEvery: 1 },
        onGlobalModel: ({ version }) => {
          // The round sets the global weights into the live model and trains from them: a warm start.
          m.state.globalModelVersion = version;
          m.recommenderReady = true;
        },
      });
      if (result.status !== 'skipped') {
        m.state.lastRoundAt = m.now();
        if (result.status === 'uploaded') {
          if (result.modelVersion) m.state.globalModelVersion = result.modelVersion;
          m.recommenderReady = true;
          await m.save(model.toCheckpoint());
        }
        await m.saveState();
      }
      return result;
    } finally {
      if (this.abort === abort) this.abort = null;
    }
  }
}
