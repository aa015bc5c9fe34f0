/**
 * The engine's logic, as the worker runs it: models restored from checkpoints (or warm-started
 * from a URL, or created from the catalog), training on the store's events, and serving
 * (recommend, similar items, trending, intent). Takes a store and a tfjs runtime that is already
 * set up, so that Node tests run it with fake-indexeddb and tfjs cpu/wasm.
 */
import { HearthError, errorCodeOf } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { CatalogItem, ConsentState, HearthStore, ModelCheckpoint } from '../store/types.js';
import type { EventType, StoredEvent } from '../tracker/event-types.js';
import type { HistoryStep, IntentModel, ItemAttributes, SequenceRecommender } from '../model/contract.js';
import { contributions } from '../model/contributions.js';
import { createRecommender, recommenderFromCheckpoint, RECOMMENDER_CHECKPOINT_NAME, type RecommenderCheckpointConfig } from '../model/sasrec-recommender.js';
import { chooseLoss } from '../model/defaults.js';
import { createIntentModel, intentModelFromCheckpoint, INTENT_CHECKPOINT_NAME } from '../model/intent-model.js';
import { loadModelFromUrl, type FetchLike } from '../model/model-artifacts.js';
import type { FederatedOptions } from '../federated/options.js';
import { LAST_UPLOAD_META, participationBlocker, runFederatedRound, type FederatedRoundResult, type UploadRecord } from '../federated/client.js';
import { detectCapabilities } from '../env.js';
import type { EngineOptions } from './options.js';
import type { EngineInfo, Explanation, IntentScore, Recommendation, RecommendOptions, TrainingProgress } from './types.js';
import type { TrainOutcome } from './worker-api.js';
import {
  HISTORY_TYPES,
  TopK,
  boostFactor,
  checkK,
  contributionShares,
  checkRecommendOptions,
  decayedCounts,
  explain,
  historySteps,
  mergeEvents,
  passesFilter,
  seenOrInCart,
  sessionSteps,
  vocabularyItems,
} from './ranking.js';
import { extendRecommender, missingItems } from './vocabulary-sync.js';

/** Store meta key of the engine's own state. */
export const ENGINE_STATE_META = 'engine.state';

interface EngineState {
  lastTrainedAt: number | null;
  lastLoss: number | null;
  /** Events in the store when training last ran (automatic training waits for enough new ones). */
  trainedEventCount: number;
  globalModelVersion: string | null;
  lastRoundAt: number | null;
}

const EMPTY_STATE: EngineState = { lastTrainedAt: null, lastLoss: null, trainedEventCount: 0, globalModelVersion: null, lastRoundAt: null };

/** Events read for serving (the model reads at most its `maxLen` newest steps). */
const SERVING_EVENTS = 300;
/** How many of the newest history steps an explanation weighs (each adds a few positions to the forward pass). */
const EXPLAINED_STEPS = 6;
/** A full re-read of the serving events at least this often (see `servingEvents`). */
const SERVING_REFRESH_MS = 30_000;
/** Between two automatic federated rounds. */
const ROUND_INTERVAL_MS = 6 * 3600 * 1000;
/** Web Lock held while a federated round runs, so that the shop's tabs take part one after another. */
const FEDERATED_ROUND_LOCK = 'hearth-federated-round';

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

const denied = (consent: ConsentState | undefined): boolean => consent?.personalise !== true;

/**
 * How many interactions the starting model's shop-wide shares are worth against this device's own
 * (recency-decayed) ones in `trending()`: a shopper's few views nudge the list, they do not take it over.
 */
const GLOBAL_TRENDING_PRIOR = 200;

/**
 * @example
 * ```ts
 * const core = new EngineCore({ store, options: { trainEpochs: 2 } });
 * await core.start();
 * const items = await core.recommend({ k: 5 }, recent, consent);
 * ```
 */
export class EngineCore {
  private readonly store: HearthStore;
  private readonly options: Omit<EngineOptions, 'workerUrl'>;
  private readonly logger: Logger;
  private readonly now: () => number;
  private state: EngineState = { ...EMPTY_STATE };
  private backend: BackendReport;
  private recommender: SequenceRecommender | null = null;
  /** The vocabulary's attributes, in row order (to grow it). */
  private recommenderItems: ItemAttributes[] = [];
  private recommenderRows = new Map<string, number>();
  /** Shop-wide interest shares that came with a starting model (`hearth-train`); empty without one. */
  private globalPopularity = new Map<string, number>();
  /** Loaded, warm-started or trained: its scores mean something. */
  private recommenderReady = false;
  private intentModel: IntentModel | null = null;
  private intentReady = false;
  private catalog: CatalogItem[] = [];
  private byId = new Map<string, CatalogItem>();
  private catalogDirty = true;
  private servingCache: { events: StoredEvent[]; newest: number | null; at: number } | null = null;
  private training: Promise<TrainOutcome> | null = null;
  private roundInFlight: Promise<FederatedRoundResult> | null = null;
  private abort: AbortController | null = null;
  private started: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly deps: EngineCoreDeps) {
    this.store = deps.store;
    this.options = deps.options ?? {};
    this.logger = deps.logger ?? silentLogger;
    this.now = deps.now ?? Date.now;
    this.backend = deps.backend ?? { backend: null, reason: 'not chosen', adapter: null };
  }

  setBackend(report: BackendReport): void {
    this.backend = report;
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

  private async loadCatalog(): Promise<void> {
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
  private ensureRecommender(events: readonly StoredEvent[]): boolean {
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

  private ensureIntent(): IntentModel {
    this.intentModel ??= createIntentModel({ items: vocabularyItems(this.catalog, []), config: this.options.intent ?? {}, seed: this.deps.seed ?? 1 });
    return this.intentModel;
  }

  private async history(recent: readonly StoredEvent[], consent: ConsentState | undefined, limit = SERVING_EVENTS): Promise<StoredEvent[]> {
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

  private rec(itemId: string, score: number, because: Explanation[], source: Recommendation['source']): Recommendation {
    const r: Recommendation = { itemId, score, because, source };
    const item = this.byId.get(itemId);
    if (item) r.item = item;
    return r;
  }

  async recommend(options: RecommendOptions, recent: readonly StoredEvent[], consent: ConsentState | undefined): Promise<Recommendation[]> {
    const k = checkRecommendOptions(options ?? {});
    await this.start();
    await this.loadCatalog();
    const t0 = performance.now();
    const events = await this.history(recent, consent);
    const t1 = performance.now();
    const steps = historySteps(events);
    const contextId = options.context?.itemId;
    if (contextId) steps.push({ itemId: contextId, type: 'view_item', time: this.now() });
    const haveCatalog = this.catalog.length > 0;
    if (!haveCatalog && (!this.recommender || this.recommender.itemIds.length === 0) && steps.length === 0) {
      throw new HearthError('invalid_catalog', 'The catalog is empty and no model knows any item: call setCatalog(items) (or init({ catalog: url })) first');
    }
    const excluded = new Set<string>(options.exclude ?? []);
    if (contextId) excluded.add(contextId);
    if (options.excludePurchased !== false) for (const e of events) if (e.type === 'purchase') for (const id of e.itemIds) excluded.add(id);
    if (options.excludeSeen !== false) for (const id of seenOrInCart(events)) excluded.add(id);
    const keep = (id: string): boolean => !excluded.has(id) && passesFilter(this.byId.get(id), options.filter, haveCatalog);
    const top = new TopK(k);
    const because = new Map<string, Explanation[]>();
    let source: Recommendation['source'] = 'model';

    const model = this.recommender;
    const read = model ? steps.filter((s) => this.recommenderRows.has(s.itemId)).slice(-model.config.maxLen) : [];
    if (this.recommenderReady && model && read.length > 0) {
      // The served probabilities, and how much each of the newest steps raised the top items'
      // (one pass that recomputes only the newest positions with each step hidden).
      const ids = model.itemIds;
      let t2 = t1;
      const { rows, steps: explainedSteps, drops } = contributions(model, read, EXPLAINED_STEPS, (probabilities) => {
        t2 = performance.now();
        // A candidate can beat the current k-th only if its best possible boost lets it.
        const maxBoost = (options.boost ?? []).reduce((m, b) => m * Math.max(1, b.factor), 1);
        const index = new Map<string, number>();
        for (let i = 0; i < ids.length; i++) {
          const id = ids[i] as string;
          const p = probabilities[i] as number;
          if (p * maxBoost <= top.threshold || !keep(id)) continue;
          index.set(id, i);
          top.offer(id, p * boostFactor(id, this.byId.get(id), options.boost));
        }
        return top.ids.map((id) => index.get(id) as number);
      });
      // Each item explained by the events whose hiding lowers its served score most.
      rows.forEach((_, c) => because.set(top.ids[c] as string, explain(explainedSteps, contributionShares(drops[c] as Float32Array))));
      this.logger.debug(`recommend: events ${(t1 - t0).toFixed(1)} ms, score ${(t2 - t1).toFixed(1)} ms, rank and explain ${(performance.now() - t2).toFixed(1)} ms over ${ids.length} items`);
    } else if (steps.length > 0) {
      // No trained model yet: items like the recent history (same category, brand), newest first.
      source = 'similar';
      this.similarToHistory(steps, keep, options, top, because);
    }
    const results = top.ids.map((id, i) => this.rec(id, top.scores[i] as number, because.get(id) ?? [], source));
    if (results.length < k) {
      const seen = new Set(results.map((r) => r.itemId));
      for (const r of this.trendingList(events, k, (id) => keep(id) && !seen.has(id), options.boost)) {
        if (results.length >= k) break;
        results.push(r);
      }
    }
    return results;
  }

  private similarToHistory(steps: readonly HistoryStep[], keep: (id: string) => boolean, options: RecommendOptions, top: TopK, because: Map<string, Explanation[]>): void {
    const recentSteps = steps.slice(-10);
    const weights = recentSteps.map((_, i) => (i + 1) / recentSteps.length);
    for (const item of this.catalog) {
      if (!keep(item.id)) continue;
      let score = 0;
      const why: Explanation[] = [];
      recentSteps.forEach((step, i) => {
        const seen = this.byId.get(step.itemId);
        if (!seen || seen.id === item.id) return;
        const match = (seen.category !== undefined && seen.category === item.category ? 1 : 0) + (seen.brand !== undefined && seen.brand === item.brand ? 0.5 : 0);
        if (match === 0) return;
        const w = match * (weights[i] as number);
        score += w;
        why.push({ itemId: step.itemId, type: step.type, time: step.time, weight: w });
      });
      if (score <= 0) continue;
      const boosted = score * boostFactor(item.id, item, options.boost);
      if (boosted <= top.threshold) continue;
      top.offer(item.id, boosted);
      const total = why.reduce((n, e) => n + e.weight, 0);
      because.set(item.id, why.sort((a, b) => b.weight - a.weight).slice(0, 3).map((e) => ({ ...e, weight: e.weight / total })));
    }
  }

  /**
   * The shop-wide shares of the starting model, updated by this device's recency-decayed activity
   * as if it were `GLOBAL_TRENDING_PRIOR` more interactions; without a starting model the local
   * activity alone. Then the catalog (in stock, in its own order) fills what is left.
   */
  private trendingList(events: readonly StoredEvent[], k: number, keep: (id: string) => boolean, boosts?: RecommendOptions['boost']): Recommendation[] {
    const local = decayedCounts(events, this.now());
    const scores = new Map<string, number>();
    if (this.globalPopularity.size > 0) {
      let localTotal = 0;
      for (const count of local.values()) localTotal += count;
      const denominator = GLOBAL_TRENDING_PRIOR + localTotal;
      for (const [id, share] of this.globalPopularity) scores.set(id, (GLOBAL_TRENDING_PRIOR * share) / denominator);
      for (const [id, count] of local) scores.set(id, (scores.get(id) ?? 0) + count / denominator);
    } else {
      for (const [id, count] of local) scores.set(id, count);
    }
    const top = new TopK(k);
    for (const [id, score] of scores) if (keep(id)) top.offer(id, score * boostFactor(id, this.byId.get(id), boosts));
    const out = top.ids.map((id, i) => this.rec(id, top.scores[i] as number, [], 'trending'));
    const seen = new Set(top.ids);
    for (const item of this.catalog) {
      if (out.length >= k) break;
      if (seen.has(item.id) || !keep(item.id)) continue;
      out.push(this.rec(item.id, 0, [], 'catalog'));
    }
    return out;
  }

  async trending(k: number, recent: readonly StoredEvent[], consent: ConsentState | undefined): Promise<Recommendation[]> {
    const count = checkK(k);
    await this.start();
    await this.loadCatalog();
    const events = await this.history(recent, consent, 2_000);
    const haveCatalog = this.catalog.length > 0;
    return this.trendingList(events, count, (id) => passesFilter(this.byId.get(id), undefined, haveCatalog));
  }

  async similarItems(itemId: string, k: number): Promise<Recommendation[]> {
    const count = checkK(k);
    if (typeof itemId !== 'string' || itemId === '') throw new HearthError('invalid_argument', 'similarItems(itemId, k) needs an item id string');
    await this.start();
    await this.loadCatalog();
    const haveCatalog = this.catalog.length > 0;
    const keep = (id: string): boolean => id !== itemId && passesFilter(this.byId.get(id), undefined, haveCatalog);
    const self = this.byId.get(itemId);
    const model = this.recommender;
    if (model && this.recommenderRows.has(itemId) && (this.recommenderReady || model.neighbours)) {
      const out: Recommendation[] = [];
      const seen = new Set<string>();
      const push = (id: string, score: number): void => {
        if (out.length >= count || seen.has(id) || !keep(id)) return;
        seen.add(id);
        out.push(this.rec(id, score, [], 'similar'));
      };
      // Shop-wide co-visitation first (what shoppers really looked at next to it), scored as a
      // share of the item's strongest neighbour; then the items whose learned vectors are closest.
      const neighbours = model.neighbours?.neighboursOf((this.recommenderRows.get(itemId) as number) + 1, count * 2 + 10) ?? [];
      const strongest = neighbours[0]?.count ?? 1;
      for (const n of neighbours) push(model.itemIds[n.row - 1] as string, n.count / strongest);
      if (this.recommenderReady && out.length < count) {
        for (const f of model.similar(itemId, Math.min(model.itemIds.length - 1, count * 4 + 20))) push(f.itemId, f.score);
      }
      if (out.length >= count || !self) return out;
      return [...out, ...this.attributeNeighbours(self, count - out.length, (id) => keep(id) && !seen.has(id))];
    }
    if (!self) throw new HearthError('unknown_item', `Unknown item "${itemId}": neither the catalog nor the model knows it`);
    return this.attributeNeighbours(self, count, keep);
  }

  /** Catalog items sharing category and brand, nearest in price first. */
  private attributeNeighbours(self: CatalogItem, k: number, keep: (id: string) => boolean): Recommendation[] {
    const top = new TopK(k);
    for (const item of this.catalog) {
      if (!keep(item.id)) continue;
      let score = (item.category !== undefined && item.category === self.category ? 1 : 0) + (item.brand !== undefined && item.brand === self.brand ? 0.5 : 0);
      if (score === 0) continue;
      if (item.price !== undefined && self.price !== undefined) score += 0.25 / (1 + Math.abs(Math.log((1 + item.price) / (1 + self.price))));
      top.offer(item.id, score / 1.75);
    }
    return top.ids.map((id, i) => this.rec(id, top.scores[i] as number, [], 'similar'));
  }

  async intent(recent: readonly StoredEvent[], consent: ConsentState | undefined): Promise<IntentScore> {
    await this.start();
    const events = await this.history(recent, consent);
    const last = events[events.length - 1];
    if (!last) return { cart: 0, purchase: 0, because: [], source: 'heuristic' };
    const steps = historySteps(events.filter((e) => e.session === last.session));
    if (this.intentReady && this.intentModel && steps.length > 0) {
      const p = this.intentModel.predict(steps);
      // The model estimates whether an add-to-cart (a purchase) is still to come; the answer is
      // about the session, so one that already happened makes it certain.
      const happened = (...types: EventType[]): boolean => steps.some((s) => types.includes(s.type));
      return {
        cart: happened('add_to_cart', 'begin_checkout', 'purchase') ? 1 : p.cart,
        purchase: happened('purchase') ? 1 : p.purchase,
        because: explain(steps.slice(-p.used), p.attention),
        source: 'model',
      };
    }
    return heuristicIntent(steps);
  }

  /** Trains both models on the store's events. Concurrent calls share one run. */
  train(consent: ConsentState | undefined): Promise<TrainOutcome> {
    if (denied(consent)) return Promise.reject(new HearthError('consent_required', 'Training needs the "personalise" consent scope'));
    this.training ??= this.doTrain().finally(() => {
      this.training = null;
      this.abort = null;
    });
    return this.training;
  }

  private async doTrain(): Promise<TrainOutcome> {
    await this.start();
    await this.loadCatalog();
    const abort = new AbortController();
    this.abort = abort;
    const events = await this.store.readEvents({ limit: this.options.maxTrainEvents ?? 5_000 });
    const count = await this.store.countEvents().catch(() => events.length);
    const epochs = this.options.trainEpochs ?? 2;
    const emit = (model: TrainingProgress['model'], offset: number, share: number) => (p: { epoch: number; epochs: number; loss: number; fraction: number }) =>
      this.deps.onProgress?.({ model, epoch: p.epoch, epochs: p.epochs, loss: p.loss, fraction: offset + p.fraction * share });
    let recommenderLoss: number | null = null;
    let intentLoss: number | null = null;
    const sequence = historySteps(events);
    this.logger.debug(`Training on ${events.length} events (${sequence.length} steps), ${epochs} epochs, catalog ${this.catalog.length} items.`);
    if (sequence.length >= 2 && this.ensureRecommender(events) && this.recommender) {
      const { loss } = await this.recommender.train([sequence], { epochs, signal: abort.signal, yieldEvery: 1, onProgress: emit('recommender', 0, 0.7) });
      if (Number.isFinite(loss)) {
        recommenderLoss = loss;
        this.recommenderReady = true;
        await this.save(this.recommender.toCheckpoint());
      }
    }
    const sessions = sessionSteps(events);
    if (sessions.length > 0 && sessions.some((s) => s.some((step) => step.type === 'add_to_cart' || step.type === 'purchase'))) {
      const intent = this.ensureIntent();
      const { loss } = await intent.train(sessions, { epochs, signal: abort.signal, yieldEvery: 1, onProgress: emit('intent', 0.7, 0.3) });
      if (Number.isFinite(loss)) {
        intentLoss = loss;
        this.intentReady = true;
        await this.save(intent.toCheckpoint());
      }
    }
    if (recommenderLoss !== null || intentLoss !== null) {
      this.state.lastTrainedAt = this.now();
      this.state.lastLoss = recommenderLoss ?? intentLoss;
    }
    this.state.trainedEventCount = count;
    await this.saveState();
    return { recommenderLoss, intentLoss };
  }

  private async save(checkpoint: ModelCheckpoint): Promise<void> {
    if (this.closed) return;
    try {
      await this.store.putCheckpoint(checkpoint);
    } catch (error) {
      this.logger.warnOnce(`checkpoint-save-${checkpoint.name}`, `Could not save the ${checkpoint.name} model; it is kept for this page only.`, error);
    }
  }

  private async saveState(): Promise<void> {
    if (this.closed) return;
    await this.store.setMeta(ENGINE_STATE_META, this.state).catch(() => undefined);
  }

  cancelTraining(): void {
    this.abort?.abort();
  }

  /**
   * Runs one federated round with the live recommender. A call while a round runs joins it; other
   * tabs of the shop wait their turn (Web Locks, where present) and then see this tab's upload, so
   * that one device contributes to a round once.
   */
  federatedRound(consent: ConsentState | undefined, idle = true): Promise<FederatedRoundResult> {
    this.roundInFlight ??= this.oneTabAtATime(() => this.runRound(consent, idle)).finally(() => {
      this.roundInFlight = null;
    });
    return this.roundInFlight;
  }

  private async oneTabAtATime(run: () => Promise<FederatedRoundResult>): Promise<FederatedRoundResult> {
    const locks = (globalThis.navigator as (Navigator & { locks?: LockManager }) | undefined)?.locks;
    if (!locks?.request) return run();
    return (await locks.request(FEDERATED_ROUND_LOCK, run)) as FederatedRoundResult;
  }

  private async runRound(consent: ConsentState | undefined, idle: boolean): Promise<FederatedRoundResult> {
    const fed = this.deps.federated;
    if (!fed) return { status: 'skipped', reason: 'not_configured' };
    await this.start();
    await this.loadCatalog();
    if (this.training) await this.training.catch(() => undefined);
    const abort = new AbortController();
    this.abort = abort;
    try {
      const events = denied(consent) && consent?.contribute !== true ? [] : await this.store.readEvents({ limit: this.options.maxTrainEvents ?? 5_000 });
      if (!this.recommender && !this.ensureRecommender(events)) return { status: 'skipped', reason: 'no_model' };
      const model = this.recommender as SequenceRecommender;
      const sequence = historySteps(events);
      const last = await this.lastUpload();
      const base = fed.serverUrl.replace(/\/+$/, '');
      const result = await runFederatedRound({
        contributedRoundId: last && last.url.startsWith(`${base}/`) ? last.header.roundId : null,
        serverUrl: fed.serverUrl,
        siteKey: fed.siteKey,
        model,
        sequences: sequence.length >= 2 ? [sequence] : [],
        store: this.store,
        consent: { contribute: consent?.contribute ?? null },
        capabilities: detectCapabilities(),
        idle,
        signal: abort.signal,
        ...(fed.retry ? { retry: fed.retry } : {}),
        ...(fed.minSequences !== undefined ? { minSequences: fed.minSequences } : {}),
        ...(this.deps.fetch ? { fetch: this.deps.fetch } : {}),
        trainOptions: { yieldEvery: 1 },
        onGlobalModel: ({ version }) => {
          // The round sets the global weights into the live model and trains from them: a warm start.
          this.state.globalModelVersion = version;
          this.recommenderReady = true;
        },
      });
      if (result.status !== 'skipped') {
        this.state.lastRoundAt = this.now();
        if (result.status === 'uploaded') {
          if (result.modelVersion) this.state.globalModelVersion = result.modelVersion;
          this.recommenderReady = true;
          await this.save(model.toCheckpoint());
        }
        await this.saveState();
      }
      return result;
    } finally {
      if (this.abort === abort) this.abort = null;
    }
  }

  async lastUpload(): Promise<UploadRecord | null> {
    return ((await this.store.getMeta<UploadRecord>(LAST_UPLOAD_META).catch(() => undefined)) ?? null) as UploadRecord | null;
  }

  /** Idle time: train when enough new events arrived, then a federated round when due. */
  async idle(consent: ConsentState | undefined): Promise<void> {
    await this.start();
    if (this.options.autoTrain !== false && !denied(consent) && !this.training) {
      const count = await this.store.countEvents().catch(() => 0);
      const threshold = this.options.trainAfterEvents ?? 20;
      if (count - this.state.trainedEventCount >= threshold || (this.state.lastTrainedAt === null && count >= Math.min(threshold, 10))) {
        await this.train(consent).catch((error: unknown) => {
          if (errorCodeOf(error) !== 'aborted') this.logger.warnOnce('auto-train', 'Automatic training failed.', error);
        });
      }
    }
    const fed = this.deps.federated;
    if (fed && fed.autoParticipate !== false && consent?.contribute === true) {
      const blocked = participationBlocker({ consent: { contribute: true }, capabilities: detectCapabilities(), idle: true });
      const due = this.state.lastRoundAt === null || this.now() - this.state.lastRoundAt > ROUND_INTERVAL_MS;
      if (!blocked && due) {
        const result = await this.federatedRound(consent).catch((error: unknown) => {
          this.logger.warnOnce('auto-round', 'Automatic federated round failed.', error);
          return null;
        });
        if (result) this.logger.debug(`Federated round: ${result.status}${result.reason ? ` (${result.reason})` : ''}`);
      }
    }
  }

  info(status?: EngineInfo['status']): EngineInfo {
    return {
      status: status ?? (this.training ? 'training' : this.started ? 'ready' : 'starting'),
      backend: this.backend.backend,
      backendReason: this.backend.reason,
      adapter: this.backend.adapter,
      parameters: { recommender: this.recommender?.parameterCount() ?? 0, intent: this.intentModel?.parameterCount() ?? 0 },
      lastTrainedAt: this.state.lastTrainedAt,
      lastLoss: this.state.lastLoss,
      globalModelVersion: this.state.globalModelVersion,
      fallbackReason: null,
    };
  }

  /** Drops the models and closes the store. */
  async close(): Promise<void> {
    this.abort?.abort();
    if (this.training) await this.training.catch(() => undefined);
    this.closed = true;
    this.recommender?.dispose();
    this.recommender = null;
    this.intentModel?.dispose();
    this.intentModel = null;
    this.store.close();
  }
}

const HEURISTIC_WEIGHT: Partial<Record<string, number>> = { view_item: 0.08, select_item: 0.05, add_to_wishlist: 0.3, remove_from_cart: -0.2, add_to_cart: 1, begin_checkout: 1, purchase: 1 };

/** Intent without a trained model: a saturating count of the session's signals. */
export function heuristicIntent(steps: readonly HistoryStep[]): IntentScore {
  if (steps.length === 0) return { cart: 0, purchase: 0, because: [], source: 'heuristic' };
  const has = (type: string): boolean => steps.some((s) => s.type === type);
  let signal = 0;
  for (const s of steps) signal += HEURISTIC_WEIGHT[s.type] ?? 0;
  const cart = has('add_to_cart') || has('begin_checkout') || has('purchase') ? 1 : 1 - Math.exp(-Math.max(0, signal));
  const purchase = has('purchase') ? 1 : has('begin_checkout') ? 0.6 : has('add_to_cart') ? 0.3 : cart * 0.2;
  const weighted = steps.map((s) => ({ s, w: Math.max(0, HEURISTIC_WEIGHT[s.type] ?? 0) })).filter((x) => x.w > 0 && HISTORY_TYPES.has(x.s.type));
  const total = weighted.reduce((n, x) => n + x.w, 0);
  const because = weighted
    .sort((a, b) => b.w - a.w || b.s.time - a.s.time)
    .slice(0, 3)
    .map(({ s, w }) => ({ itemId: s.itemId, type: s.type, time: s.time, weight: w / total }));
  return { cart: Math.min(1, cart), purchase: Math.min(1, purchase), because, source: 'heuristic' };
}
