/**
 * Answers the page can give without the engine (no worker, worker crashed twice, engine turned
 * off): counts over the page's recent events and the catalog. No tfjs, no model; small.
 */
import { meaningOf, type StoredEvent } from '../protocol/event-types.js';
import type { CatalogItem } from '../protocol/catalog.js';
import { excludedItems, passesFilter } from '../protocol/recommend-rules.js';
import type { Recommendation, RecommendOptions } from '../protocol/engine-types.js';

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
    // The same weights as the engine's trending (the event-type table's popularity column).
    const kind = meaningOf(event.type)?.popularity ?? 0;
    if (kind === 0) continue;
    const weight = kind * Math.pow(0.5, Math.max(0, now - event.time) / HALF_LIFE_MS);
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

/** `recommend()` without a model: trending and catalog items that pass the options' exclusions and filters. */
export function fallbackRecommend(options: RecommendOptions, events: readonly StoredEvent[], catalog: readonly CatalogItem[], now: number): Recommendation[] {
  // The same exclusions and filters as the engine's answers.
  const excluded = excludedItems(options, events);
  const keep = (id: string, item: CatalogItem | undefined): boolean => !excluded.has(id) && passesFilter(item, options.filter, catalog.length > 0);
  return fallbackTrending(events, catalog, options.k ?? 10, now, keep);
}
