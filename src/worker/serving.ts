/**
 * Answers: `recommend()` (the model's blended probabilities, filters, boosts, explanations),
 * `trending()`, `similarItems()` and `intent()`, each with a fallback that needs no trained model.
 * Where to change how items are ranked.
 */
import { HearthError } from '../protocol/errors.js';
import type { ConsentState } from '../store/types.js';
import type { CatalogItem } from '../protocol/catalog.js';
import { meaningOf, type EventType, type StoredEvent } from '../protocol/event-types.js';
import type { Explanation, IntentScore, Recommendation, RecommendOptions } from '../protocol/engine-types.js';
import { checkK, checkRecommendOptions } from '../protocol/recommend-options.js';
import { boostFactor, excludedItems, passesFilter } from '../protocol/recommend-rules.js';
import type { HistoryStep } from '../model/contract.js';
import { contributions } from '../model/contributions.js';
import type { EngineModels } from './engine-models.js';
import { HISTORY_TYPES, TopK, contributionShares, decayedCounts, explain, historySteps } from './ranking.js';

/** How many of the newest history steps an explanation weighs (each adds a few positions to the forward pass). */
const EXPLAINED_STEPS = 6;

/**
 * How many interactions the starting model's shop-wide shares are worth against this device's own
 * (recency-decayed) ones in `trending()`: a shopper's few views nudge the list, they do not take it over.
 */
const GLOBAL_TRENDING_PRIOR = 200;

export class Serving {
  constructor(private readonly models: EngineModels) {}

  private rec(itemId: string, score: number, because: Explanation[], source: Recommendation['source']): Recommendation {
    const r: Recommendation = { itemId, score, because, source };
    const item = this.models.byId.get(itemId);
    if (item) r.item = item;
    return r;
  }

  async recommend(options: RecommendOptions, recent: readonly StoredEvent[], consent: ConsentState | undefined): Promise<Recommendation[]> {
    const { k } = checkRecommendOptions(options ?? {});
    const m = this.models;
    await m.start();
    await m.loadCatalog();
    const t0 = performance.now();
    const events = await m.history(recent, consent);
    const t1 = performance.now();
    const steps = historySteps(events);
    const contextId = options.context?.itemId;
    if (contextId) steps.push({ itemId: contextId, type: 'view_item', time: m.now() });
    const haveCatalog = m.catalog.length > 0;
    if (!haveCatalog && (!m.recommender || m.recommender.itemIds.length === 0) && steps.length === 0) {
      throw new HearthError('invalid_catalog', 'The catalog is empty and no model knows any item: call setCatalog(items) (or init({ catalog: url })) first');
    }
    const excluded = excludedItems(options, events);
    const keep = (id: string): boolean => !excluded.has(id) && passesFilter(m.byId.get(id), options.filter, haveCatalog);
    const top = new TopK(k);
    const because = new Map<string, Explanation[]>();
    let source: Recommendation['source'] = 'model';

    const model = m.recommender;
    const read = model ? steps.filter((s) => m.recommenderRows.has(s.itemId)).slice(-model.config.maxLen) : [];
    if (m.recommenderReady && model && read.length > 0) {
      const ids = model.itemIds;
      let t2 = t1;
      /** The top k of the served probabilities, as indices into `ids`. */
      const pickTop = (probabilities: Float32Array): number[] => {
        t2 = performance.now();
        // A candidate can beat the current k-th only if its best possible boost lets it.
        const maxBoost = (options.boost ?? []).reduce((max, b) => max * Math.max(1, b.factor), 1);
        const index = new Map<string, number>();
        for (let i = 0; i < ids.length; i++) {
          const id = ids[i] as string;
          const p = probabilities[i] as number;
          if (p * maxBoost <= top.threshold || !keep(id)) continue;
          index.set(id, i);
          top.offer(id, p * boostFactor(id, m.byId.get(id), options.boost));
        }
        return top.ids.map((id) => index.get(id) as number);
      };
      if (options.explain === false) {
        pickTop(model.probabilities(read));
      } else {
        // The served probabilities, and how much each of the newest steps raised the top items'
        // (one pass that recomputes only the newest positions with each step hidden).
        const { rows, steps: explainedSteps, drops } = contributions(model, read, EXPLAINED_STEPS, pickTop);
        // Each item explained by the events whose hiding lowers its served score most.
        rows.forEach((_, c) => because.set(top.ids[c] as string, explain(explainedSteps, contributionShares(drops[c] as Float32Array))));
      }
      m.logger.debug(`recommend: events ${(t1 - t0).toFixed(1)} ms, score ${(t2 - t1).toFixed(1)} ms, rank and explain ${(performance.now() - t2).toFixed(1)} ms over ${ids.length} items`);
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
    const { catalog, byId } = this.models;
    const recentSteps = steps.slice(-10);
    const weights = recentSteps.map((_, i) => (i + 1) / recentSteps.length);
    for (const item of catalog) {
      if (!keep(item.id)) continue;
      let score = 0;
      const why: Explanation[] = [];
      recentSteps.forEach((step, i) => {
        const seen = byId.get(step.itemId);
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
      because.set(
        item.id,
        why
          .sort((a, b) => b.weight - a.weight)
          .slice(0, 3)
          .map((e) => ({ ...e, weight: e.weight / total })),
      );
    }
  }

  /**
   * The shop-wide shares of the starting model, updated by this device's recency-decayed activity
   * as if it were `GLOBAL_TRENDING_PRIOR` more interactions; without a starting model the local
   * activity alone. Then the catalog (in stock, in its own order) fills what is left.
   */
  private trendingList(events: readonly StoredEvent[], k: number, keep: (id: string) => boolean, boosts?: RecommendOptions['boost']): Recommendation[] {
    const { globalPopularity, byId, catalog } = this.models;
    const local = decayedCounts(events, this.models.now());
    const scores = new Map<string, number>();
    if (globalPopularity.size > 0) {
      let localTotal = 0;
      for (const count of local.values()) localTotal += count;
      const denominator = GLOBAL_TRENDING_PRIOR + localTotal;
      for (const [id, share] of globalPopularity) scores.set(id, (GLOBAL_TRENDING_PRIOR * share) / denominator);
      for (const [id, count] of local) scores.set(id, (scores.get(id) ?? 0) + count / denominator);
    } else {
      for (const [id, count] of local) scores.set(id, count);
    }
    const top = new TopK(k);
    for (const [id, score] of scores) if (keep(id)) top.offer(id, score * boostFactor(id, byId.get(id), boosts));
    const out = top.ids.map((id, i) => this.rec(id, top.scores[i] as number, [], 'trending'));
    const seen = new Set(top.ids);
    for (const item of catalog) {
      if (out.length >= k) break;
      if (seen.has(item.id) || !keep(item.id)) continue;
      out.push(this.rec(item.id, 0, [], 'catalog'));
    }
    return out;
  }

  async trending(k: number, recent: readonly StoredEvent[], consent: ConsentState | undefined): Promise<Recommendation[]> {
    const count = checkK(k);
    const m = this.models;
    await m.start();
    await m.loadCatalog();
    const events = await m.history(recent, consent, 2_000);
    const haveCatalog = m.catalog.length > 0;
    return this.trendingList(events, count, (id) => passesFilter(m.byId.get(id), undefined, haveCatalog));
  }

  async similarItems(itemId: string, k: number): Promise<Recommendation[]> {
    const count = checkK(k);
    if (typeof itemId !== 'string' || itemId === '') throw new HearthError('invalid_argument', 'similarItems(itemId, k) needs an item id string');
    const m = this.models;
    await m.start();
    await m.loadCatalog();
    const haveCatalog = m.catalog.length > 0;
    const keep = (id: string): boolean => id !== itemId && passesFilter(m.byId.get(id), undefined, haveCatalog);
    const self = m.byId.get(itemId);
    const model = m.recommender;
    if (model && m.recommenderRows.has(itemId) && (m.recommenderReady || model.neighbours)) {
      const out: Recommendation[] = [];
      const seen = new Set<string>();
      const push = (id: string, score: number): void => {
        if (out.length >= count || seen.has(id) || !keep(id)) return;
        seen.add(id);
        out.push(this.rec(id, score, [], 'similar'));
      };
      // Shop-wide co-visitation first (what shoppers really looked at next to it), scored as a
      // share of the item's strongest neighbour; then the items whose learned vectors are closest.
      const neighbours = model.neighbours?.neighboursOf((m.recommenderRows.get(itemId) as number) + 1, count * 2 + 10) ?? [];
      const strongest = neighbours[0]?.count ?? 1;
      for (const n of neighbours) push(model.itemIds[n.row - 1] as string, n.count / strongest);
      if (m.recommenderReady && out.length < count) {
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
    for (const item of this.models.catalog) {
      if (!keep(item.id)) continue;
      let score = (item.category !== undefined && item.category === self.category ? 1 : 0) + (item.brand !== undefined && item.brand === self.brand ? 0.5 : 0);
      if (score === 0) continue;
      if (item.price !== undefined && self.price !== undefined) score += 0.25 / (1 + Math.abs(Math.log((1 + item.price) / (1 + self.price))));
      top.offer(item.id, score / 1.75);
    }
    return top.ids.map((id, i) => this.rec(id, top.scores[i] as number, [], 'similar'));
  }

  async intent(recent: readonly StoredEvent[], consent: ConsentState | undefined): Promise<IntentScore> {
    const m = this.models;
    await m.start();
    const events = await m.history(recent, consent);
    const last = events[events.length - 1];
    if (!last) return { cart: 0, purchase: 0, because: [], source: 'heuristic' };
    const steps = historySteps(events.filter((e) => e.session === last.session));
    if (m.intentReady && m.intentModel && steps.length > 0) {
      const p = m.intentModel.predict(steps);
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
}

const intentSignal = (type: string): number => meaningOf(type)?.intentSignal ?? 0;

/** Intent without a trained model: a saturating count of the session's signals. */
export function heuristicIntent(steps: readonly HistoryStep[]): IntentScore {
  if (steps.length === 0) return { cart: 0, purchase: 0, because: [], source: 'heuristic' };
  const has = (type: string): boolean => steps.some((s) => s.type === type);
  let signal = 0;
  for (const s of steps) signal += intentSignal(s.type);
  const cart = has('add_to_cart') || has('begin_checkout') || has('purchase') ? 1 : 1 - Math.exp(-Math.max(0, signal));
  const purchase = has('purchase') ? 1 : has('begin_checkout') ? 0.6 : has('add_to_cart') ? 0.3 : cart * 0.2;
  const weighted = steps.map((s) => ({ s, w: Math.max(0, intentSignal(s.type)) })).filter((x) => x.w > 0 && HISTORY_TYPES.has(x.s.type));
  const total = weighted.reduce((n, x) => n + x.w, 0);
  const because = weighted
    .sort((a, b) => b.w - a.w || b.s.time - a.s.time)
    .slice(0, 3)
    .map(({ s, w }) => ({ itemId: s.itemId, type: s.type, time: s.time, weight: w / total }));
  return { cart: Math.min(1, cart), purchase: Math.min(1, purchase), because, source: 'heuristic' };
}
