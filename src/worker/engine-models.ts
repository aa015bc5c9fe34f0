/**
 * What the worker's engine holds: the models (restored from checkpoints, warm-started from a URL,
 * or created from the catalog and grown with it), the catalog, the engine's persisted state and
 * the serving cache of recent events. Serving, training and participation read and update it.
 */
import type { Logger } from '../shared/logger.js';
import { silentLogger } from '../shared/logger.js';
import type { ConsentState, HearthStore } from '../store/types.js';
import type { CatalogItem } from '../protocol/catalog.js';
import type { ModelCheckpoint } from '../protocol/checkpoint.js';
import type { StoredEvent } from '../protocol/event-types.js';
import type { EngineOptions } from '../protocol/engine-options.js';
import type { EngineInfo, TrainingProgress } from '../protocol/engine-types.js';
import type { FetchLike } from '../protocol/model-file.js';
import type { IntentModel, ItemAttributes, SequenceRecommender } from '../model/contract.js';
import { createRecommender, recommenderFromCheckpoint, RECOMMENDER_CHECKPOINT_NAME, type RecommenderCheckpointConfig } from '../model/sasrec-recommender.js';
import { chooseLoss } from '../model/defaults.js';
import { createIntentModel, intentModelFromCheckpoint, INTENT_CHECKPOINT_NAME } from '../model/intent-model.js';
import { loadModelFromUrl } from '../model/model-artifacts.js';
import type { FederatedOptions } from '../protocol/federated.js';
import { mergeEvents, vocabularyItems } from './ranking.js';
import { extendRecommender, missingItems } from './vocabulary-sync.js';

/** Store meta key of the engine's own state. */
export const ENGINE_STATE_META = 'engine.state';

/** What the engine remembers across page loads. */
export interface EngineState {
  lastTrainedAt: number | null;
  lastLoss: number | null;
  /** Events in the store when training last ran (automatic training waits for enough new ones). */
  trainedEventCount: number;
  globalModelVersion: string | null;
  lastRoundAt: number | null;
}

const EMPTY_STATE: EngineState = { lastTrainedAt: null, lastLoss: null, trainedEventCount: 0, globalModelVersion: null, lastRoundAt: null };

/** Events read for serving (the model reads at most its `maxLen` newest steps). */
export const SERVING_EVENTS = 300;
/** A full re-read of the serving events at least this often (see `servingEvents`). */
const SERVING_REFRESH_MS = 30_000;

export interface BackendReport {
  backend: EngineInfo['backend'];
  reason: string;
  adapter: EngineInfo['adapter'];
}

export interface EngineCoreDeps {
  store: HearthStore;
  options?: Omit<EngineOptions, 'workerUrl'>;
  federated?: FederatedOptions;
  logger?: Logger;
  now?: () => number;
  fetch?: FetchLike & typeof fetch;
  onProgress?: (progress: TrainingProgress) => void;
  backend?: BackendReport;
  seed?: number;
}

function isState(value: unknown): value is EngineState {
  return typeof value === 'object' && value !== null && 'trainedEventCount' in value;
}

/** Without the `personalise` scope the engine reads no history and trains nothing. */
export const denied = (consent: ConsentState | undefined): boolean => consent?.personalise !== true;

export class EngineModels {
  readonly store: HearthStore;
  readonly options: Omit<EngineOptions, 'workerUrl'>;
  readonly logger: Logger;
  readonly now: () => number;
  state: EngineState = { ...EMPTY_STATE };
  recommender: SequenceRecommender | null = null;
  /** Loaded, warm-started or trained: its scores mean something. */
  recommenderReady = false;
  /** Item id → index into the recommender's `itemIds`. */
  recommenderRows = new Map<string, number>();
  /** Shop-wide interest shares that came with a starting model (`hearth-train`); empty without one. */
  globalPopularity = new Map<string, number>();
  intentModel: IntentModel | null = null;
  intentReady = false;
  catalog: CatalogItem[] = [];
  byId = new Map<string, CatalogItem>();
  /** The vocabulary's attributes, in row order (to grow it). */
  private recommenderItems: ItemAttributes[] = [];
  private catalogDirty = true;
  private servingCache: { events: StoredEvent[]; newest: number | null; at: number } | null = null;
  private started: Promise<void> | null = null;
  private closed = false;

  constructor(readonly deps: EngineCoreDeps) {
    this.store = deps.store;
    this.options = deps.options ?? {};
    this.logger = deps.logger ?? silentLogger;
    this.now = deps.now ?? Date.now;
  }

  get isStarted(): boolean {
    return this.started !== null;
  }

  /** Restores state and models. Idempotent; never rejects for a bad checkpoint or an unreachable model URL. */
  start(): Promise<void> {
    this.started ??= this.doStart();
    return this.started;
  }

  private async doStart(): Promise<void> {
    const saved = await this.store.getMeta<unknown>(ENGINE_STATE_META).catch(() => undefined);
    if (isState(saved)) this.state = { ...EMPTY_STATE, ...saved };
    await this.loadCatalog();
    await this.restore();
    if (!this.recommender && this.options.modelUrl) await this.warmStart(this.options.modelUrl, 'modelUrl');
    if (!this.intentModel && this.options.intentModelUrl) await this.warmStart(this.options.intentModelUrl, 'intentModelUrl');
  }

  private async restore(): Promise<void> {
    const recommender = await this.readCheckpoint(RECOMMENDER_CHECKPOINT_NAME);
    if (recommender) {
      try {
        this.setRecommender(recommenderFromCheckpoint(recommender), (recommender.config as RecommenderCheckpointConfig).items, true);
      } catch (error) {
        await this.discard(RECOMMENDER_CHECKPOINT_NAME, error);
      }
    }
    const intent = await this.readCheckpoint(INTENT_CHECKPOINT_NAME);
    if (intent) {
      try {
        this.intentModel = intentModelFromCheckpoint(intent);
        this.intentReady = true;
      } catch (error) {
        await this.discard(INTENT_CHECKPOINT_NAME, error);
      }
    }
  }

  private async readCheckpoint(name: string): Promise<ModelCheckpoint | undefined> {
    try {
      return await this.store.getCheckpoint(name);
    } catch (error) {
      await this.discard(name, error);
      return undefined;
    }
  }

  private async discard(name: string, error: unknown): Promise<void> {
    this.logger.warnOnce(`checkpoint-${name}`, `The saved ${name} model is corrupt or from an incompatible version; it was discarded.`, error);
    await this.store.deleteCheckpoint(name).catch(() => undefined);
  }

  /**
   * Loads a starting model (tfjs format) as the recommender or the intent model, as `option` says.
   * Never throws: without it the engine starts from scratch (or from heuristics) and says why once.
   */
  private async warmStart(url: string, option: 'modelUrl' | 'intentModelUrl'): Promise<void> {
    const wanted = option === 'modelUrl' ? 'recommender' : 'intent';
    try {
      // No cookies, no referrer: the page's URL could name the product the shopper is looking at.
      const privateFetch: FetchLike = (u) => globalThis.fetch(u, { credentials: 'omit', referrerPolicy: 'no-referrer' });
      const loaded = await loadModelFromUrl(url, this.deps.fetch ?? privateFetch);
      if (loaded.kind === 'recommender' && wanted === 'recommender') {
        this.setRecommender(loaded.model, (loaded.checkpoint.config as RecommenderCheckpointConfig).items, true);
        this.state.globalModelVersion ??= `url:${url}`;
      } else if (loaded.kind === 'intent' && wanted === 'intent') {
        this.intentModel?.dispose();
        this.intentModel = loaded.model;
        this.intentReady = true;
      } else {
        loaded.model.dispose();
        this.logger.warnOnce(`warm-start-${wanted}`, `engine.${option} ${url} holds a ${loaded.kind} model, not a${wanted === 'intent' ? 'n' : ''} ${wanted} model.`);
        return;
      }
      this.logger.debug(`Warm start of the ${wanted} model from ${url}.`);
    } catch (error) {
      this.logger.warnOnce(`warm-start-${wanted}`, `Could not load the starting ${wanted} model from ${url}; it starts from scratch.`, error);
    }
  }

  private setRecommender(model: SequenceRecommender, items: readonly ItemAttributes[], ready: boolean): void {
    if (this.recommender && this.recommender !== model) this.recommender.dispose();
    this.recommender = model;
    this.recommenderItems = items.map((i) => ({ ...i }));
    this.globalPopularity = new Map(items.flatMap((i) => (typeof i.popularity === 'number' && i.popularity > 0 ? [[i.id, i.popularity] as const] : [])));
    this.recommenderRows = new Map(model.itemIds.map((id, i) => [id, i]));
    this.recommenderReady = ready;
  }

  async loadCatalog(): Promise<void> {
    if (!this.catalogDirty) return;
    this.catalogDirty = false;
    try {
      this.catalog = await this.store.getCatalog();
    } catch (error) {
      this.logger.warnOnce('catalog-read', 'Could not read the catalog.', error);
      this.catalog = [];
    }
    this.byId = new Map(this.catalog.map((item) => [item.id, item]));
  }

  /** The catalog changed: reread it (and grow the vocabulary) on the next call. */
  catalogChanged(): void {
    this.catalogDirty = true;
  }

  /**
   * Makes sure a recommender exists whose vocabulary covers the catalog and the items of `events`;
   * grows a trained one (known rows copied, new rows from attributes). False when there are no items.
   */
  ensureRecommender(events: readonly StoredEvent[]): boolean {
    const wanted = vocabularyItems(this.catalog, events);
    if (!this.recommender) {
      if (wanted.length === 0) return false;
      // Small catalogues train with the exact full softmax, large ones with the sampled one.
      const config = { loss: chooseLoss(wanted.length), ...this.options.recommender };
      this.setRecommender(createRecommender({ items: wanted, config, seed: this.deps.seed ?? 1 }), wanted, false);
      return true;
    }
    const added = missingItems(this.recommender, wanted);
    if (added.length > 0) {
      const grown = extendRecommender(this.recommender, this.recommenderItems, added, this.deps.seed ?? 1);
      this.setRecommender(grown, [...this.recommenderItems, ...added], this.recommenderReady);
      this.logger.debug(`Vocabulary grown by ${added.length} items.`);
    }
    return true;
  }

  ensureIntent(): IntentModel {
    this.intentModel ??= createIntentModel({ items: vocabularyItems(this.catalog, []), config: this.options.intent ?? {}, seed: this.deps.seed ?? 1 });
    return this.intentModel;
  }

  /** The shopper's events: the stored ones (none without consent) merged with the page's recent ones. */
  async history(recent: readonly StoredEvent[], consent: ConsentState | undefined, limit = SERVING_EVENTS): Promise<StoredEvent[]> {
    if (denied(consent)) return [];
    const stored = await (limit === SERVING_EVENTS ? this.servingEvents() : this.store.readEvents({ limit })).catch((error: unknown) => {
      this.logger.warnOnce('events-read', 'Could not read events; answering from the page’s recent ones.', error);
      return [] as StoredEvent[];
    });
    return mergeEvents(stored, Array.isArray(recent) ? recent : []);
  }

  /**
   * The newest stored events for serving. After one full read, each call asks IndexedDB only for
   * events at or after the newest time it has (one request instead of a cursor walk: ~2–3 ms less
   * per recommend() in Chromium); a full read every 30 s picks up anything written with an older
   * timestamp (recovered events, explicit past timestamps) and drops what retention removed.
   */
  private async servingEvents(): Promise<StoredEvent[]> {
    const cache = this.servingCache;
    if (!cache || cache.newest === null || Date.now() - cache.at > SERVING_REFRESH_MS) {
      const events = await this.store.readEvents({ limit: SERVING_EVENTS });
      this.servingCache = { events, newest: events.length ? (events[events.length - 1] as StoredEvent).time : null, at: Date.now() };
      return events;
    }
    const fresh = await this.store.readEvents({ since: cache.newest });
    if (fresh.length > 0) {
      // Reads overlap at the boundary time: merged by eventId, the one rule used everywhere.
      const merged = mergeEvents(cache.events, fresh);
      if (merged.length > cache.events.length) {
        cache.events = merged.slice(-SERVING_EVENTS);
        cache.newest = (cache.events[cache.events.length - 1] as StoredEvent).time;
      }
    }
    return cache.events;
  }

  async save(checkpoint: ModelCheckpoint): Promise<void> {
    if (this.closed) return;
    try {
      await this.store.putCheckpoint(checkpoint);
    } catch (error) {
      this.logger.warnOnce(`checkpoint-save-${checkpoint.name}`, `Could not save the ${checkpoint.name} model; it is kept for this page only.`, error);
    }
  }

  async saveState(): Promise<void> {
    if (this.closed) return;
    await this.store.setMeta(ENGINE_STATE_META, this.state).catch(() => undefined);
  }

  /** Drops the models and closes the store; later saves are skipped. */
  close(): void {
    this.closed = true;
    this.recommender?.dispose();
    this.recommender = null;
    this.intentModel?.dispose();
    this.intentModel = null;
    this.store.close();
  }
}
