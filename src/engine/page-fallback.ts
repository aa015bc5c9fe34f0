/**
 * Answers the page can give without the engine (no worker, worker crashed twice, engine turned
 * off): counts over the page's recent events and the catalog. No tfjs, no model; small.
 */
import type { StoredEvent } from '../tracker/event-types.js';
import type { CatalogItem } from '../store/types.js';
import type { Recommendation, RecommendOptions } from './types.js';

/** Decay of an event's weight in trending counts: it halves every week. */
const HALF_LIFE_MS = 7 * 24 * 3600 * 1000;

/**
 * Items by recency-decayed event count over `events`, then the catalog's order for the rest.
 *
 * @example
 * ```ts
 * const top = fallbackTrending(recent, catalog, 5, Date.now());
 * ```
 */
export function fallbackTrending(
  events: readonly StoredEvent[],
  catalog: readonly CatalogItem[],
  k: number,
  now: number,
  keep: (id: string, item: CatalogItem | undefined) => boolean = () => true,
): Recommendation[] {
  const byId = new Map(catalog.map((item) => [item.id, item]));
  const counts = new Map<string, number>();
  for (const event of events) {
    const weight = Math.pow(0.5, Math.max(0, now - event.time) / HALF_LIFE_MS);
    for (const id of event.itemIds) counts.set(id, (counts.get(id) ?? 0) + weight);
  }
  const out: Recommendation[] = [];
  const seen = new Set<string>();
  const push = (id: string, score: number, source: Recommendation['source']): void => {
    if (out.length >= k || seen.has(id)) return;
    const item = byId.get(id);
    if ((catalog.length > 0 && !item) || !keep(id, item)) return;
    seen.add(id);
    const rec: Recommendation = { itemId: id, score, because: [], source };
    if (item) rec.item = item;
    out.push(rec);
  };
  for (const [id, score] of [...counts].sort((a, b) => b[1] - a[1])) push(id, score, 'trending');
  for (const item of catalog) push(item.id, 0, 'catalog');
  return out;
}

/**
 * `recommend()` without a model: trending and catalog items that pass the options' exclusions
 * and filters, leaving out what the shopper already interacted with.
 */
export function fallbackRecommend(options: RecommendOptions, events: readonly StoredEvent[], catalog: readonly CatalogItem[], now: number): Recommendation[] {
  const excluded = new Set(options.exclude ?? []);
  for (const e of events) if (e.type === 'purchase' && options.excludePurchased !== false) for (const id of e.itemIds) excluded.add(id);
  if (options.context?.itemId) excluded.add(options.context.itemId);
  const f = options.filter ?? {};
  const keep = (id: string, item: CatalogItem | undefined): boolean => {
    if (excluded.has(id)) return false;
    if (!item) return catalog.length === 0;
    if ((f.inStock ?? true) && !item.inStock) return false;
    if (f.categories && !(item.category !== undefined && f.categories.includes(item.category))) return false;
    if (f.brands && !(item.brand !== undefined && f.brands.includes(item.brand))) return false;
    if (f.minPrice !== undefined && !(item.price !== undefined && item.price >= f.minPrice)) return false;
    if (f.maxPrice !== undefined && !(item.price !== undefined && item.price <= f.maxPrice)) return false;
    return true;
  };
  return fallbackTrending(events, catalog, options.k ?? 10, now, keep);
}
