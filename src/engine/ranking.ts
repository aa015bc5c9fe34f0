/**
 * Serving logic that needs no tensors: argument checks, histories from events, exclusions,
 * catalog filters, boosts, top-k and explanations. Pure functions, tested in Node.
 */
import { HearthError } from '../errors.js';
import type { StoredEvent, EventType } from '../tracker/event-types.js';
import type { CatalogItem } from '../store/types.js';
import type { HistoryStep, ItemAttributes } from '../model/contract.js';
import type { Explanation, RecommendBoost, RecommendFilter, RecommendOptions } from './types.js';

/** Event types that put an item into the shopper's history (impressions, dwell, searches do not). */
export const HISTORY_TYPES: ReadonlySet<EventType> = new Set<EventType>([
  'view_item',
  'select_item',
  'add_to_cart',
  'remove_from_cart',
  'add_to_wishlist',
  'begin_checkout',
  'purchase',
]);

/** A trending count halves every week. */
export const TRENDING_HALF_LIFE_MS = 7 * 24 * 3600 * 1000;

/** `k` as given, or the default; throws 'invalid_argument' outside 1..100. */
export function checkK(k: unknown, fallback = 10): number {
  if (k === undefined) return fallback;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > 100) {
    throw new HearthError('invalid_argument', `k must be an integer from 1 to 100, got ${JSON.stringify(k) ?? String(k)}`);
  }
  return k;
}

function stringList(value: unknown, name: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new HearthError('invalid_argument', `${name} must be an array of strings`);
}

function finite(value: unknown, name: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new HearthError('invalid_argument', `${name} must be a finite number, got ${String(value)}`);
}

/**
 * Checks `recommend()` options in the worker too (the page checks them first; a direct caller of
 * the worker API may not have). Returns `k`.
 */
export function checkRecommendOptions(options: RecommendOptions): number {
  if (typeof options !== 'object' || options === null) throw new HearthError('invalid_argument', 'recommend() options must be an object');
  const k = checkK(options.k);
  if (options.context !== undefined) {
    if (typeof options.context !== 'object' || options.context === null) throw new HearthError('invalid_argument', 'context must be an object like { itemId }');
    if (options.context.itemId !== undefined && (typeof options.context.itemId !== 'string' || options.context.itemId === '')) {
      throw new HearthError('invalid_argument', 'context.itemId must be a non-empty string');
    }
  }
  stringList(options.exclude, 'exclude');
  if (options.excludePurchased !== undefined && typeof options.excludePurchased !== 'boolean') throw new HearthError('invalid_argument', 'excludePurchased must be a boolean');
  if (options.excludeSeen !== undefined && typeof options.excludeSeen !== 'boolean') throw new HearthError('invalid_argument', 'excludeSeen must be a boolean');
  const f = options.filter as RecommendFilter | undefined;
  if (f !== undefined) {
    if (typeof f !== 'object' || f === null) throw new HearthError('invalid_argument', 'filter must be an object with inStock, categories, brands, minPrice, maxPrice');
    const known = new Set(['inStock', 'categories', 'brands', 'minPrice', 'maxPrice']);
    for (const key of Object.keys(f)) {
      if (!known.has(key)) throw new HearthError('invalid_argument', `Unknown filter "${key}"; expected one of: ${[...known].join(', ')}`);
    }
    if (f.inStock !== undefined && typeof f.inStock !== 'boolean') throw new HearthError('invalid_argument', 'filter.inStock must be a boolean');
    stringList(f.categories, 'filter.categories');
    stringList(f.brands, 'filter.brands');
    finite(f.minPrice, 'filter.minPrice');
    finite(f.maxPrice, 'filter.maxPrice');
    if (f.minPrice !== undefined && f.maxPrice !== undefined && f.minPrice > f.maxPrice) {
      throw new HearthError('invalid_argument', `filter.minPrice (${f.minPrice}) is above filter.maxPrice (${f.maxPrice})`);
    }
  }
  if (options.boost !== undefined) {
    if (!Array.isArray(options.boost)) throw new HearthError('invalid_argument', 'boost must be an array of { factor, itemIds?, categories?, brands? }');
    options.boost.forEach((b: RecommendBoost, i) => {
      if (typeof b !== 'object' || b === null) throw new HearthError('invalid_argument', `boost[${i}] must be an object`);
      if (typeof b.factor !== 'number' || !Number.isFinite(b.factor) || b.factor < 0) throw new HearthError('invalid_argument', `boost[${i}].factor must be a finite number ≥ 0`);
      stringList(b.itemIds, `boost[${i}].itemIds`);
      stringList(b.categories, `boost[${i}].categories`);
      stringList(b.brands, `boost[${i}].brands`);
    });
  }
  return k;
}

/** The one de-duplication rule (by `eventId`), shared with the page: see `tracker/merge-events.ts`. */
export { mergeEvents } from '../tracker/merge-events.js';

/**
 * The model's view of events: one step per item of each history event, oldest first; an
 * immediate repeat of the same item and type (a checkout then a purchase of the same basket is
 * not a repeat) is dropped.
 */
export function historySteps(events: readonly StoredEvent[], types: ReadonlySet<EventType> = HISTORY_TYPES): HistoryStep[] {
  const steps: HistoryStep[] = [];
  for (const e of events) {
    if (!types.has(e.type)) continue;
    for (const itemId of e.itemIds) {
      const last = steps[steps.length - 1];
      if (last && last.itemId === itemId && last.type === e.type) continue;
      steps.push({ itemId, type: e.type, time: e.time });
    }
  }
  return steps;
}

/** Event types that show the shopper looked at an item. */
const VIEW_TYPES: ReadonlySet<EventType> = new Set<EventType>(['view_item', 'select_item']);

/**
 * What `excludeSeen` leaves out of "for you": items viewed in the newest session and items in the
 * cart now (added and not since removed or bought). Older views and past purchases stay eligible:
 * coming back to an item, or buying it again, is something the model can predict.
 */
export function seenOrInCart(events: readonly StoredEvent[]): Set<string> {
  const out = new Set<string>();
  const newest = events[events.length - 1];
  const cart = new Set<string>();
  for (const e of events) {
    if (newest && e.session === newest.session && VIEW_TYPES.has(e.type)) for (const id of e.itemIds) out.add(id);
    if (e.type === 'add_to_cart') for (const id of e.itemIds) cart.add(id);
    else if (e.type === 'remove_from_cart' || e.type === 'purchase') for (const id of e.itemIds) cart.delete(id);
  }
  for (const id of cart) out.add(id);
  return out;
}

/** Sessions as step lists (for the intent model), in order of their first event. */
export function sessionSteps(events: readonly StoredEvent[]): HistoryStep[][] {
  const sessions = new Map<string, StoredEvent[]>();
  for (const e of events) {
    const list = sessions.get(e.session);
    if (list) list.push(e);
    else sessions.set(e.session, [e]);
  }
  return [...sessions.values()].map((list) => historySteps(list)).filter((s) => s.length > 0);
}

/** Item attributes for the model's vocabulary: the catalog, then items only seen in events. */
export function vocabularyItems(catalog: readonly CatalogItem[], events: readonly StoredEvent[]): ItemAttributes[] {
  const out = new Map<string, ItemAttributes>();
  const add = (id: string, category?: string, brand?: string, price?: number): void => {
    if (typeof id !== 'string' || id === '' || out.has(id)) return;
    const item: ItemAttributes = { id };
    if (typeof category === 'string') item.category = category;
    if (typeof brand === 'string') item.brand = brand;
    if (typeof price === 'number' && Number.isFinite(price)) item.price = price;
    out.set(id, item);
  };
  for (const item of catalog) add(item.id, item.category, item.brand, item.price);
  for (const e of events) for (const i of e.items ?? []) add(i.item_id, i.item_category, i.item_brand, i.price);
  return [...out.values()];
}

/** Whether a catalog item passes the filter (unknown items pass only when there is no catalog). */
export function passesFilter(item: CatalogItem | undefined, filter: RecommendFilter | undefined, haveCatalog: boolean): boolean {
  if (!item) return !haveCatalog;
  const f = filter ?? {};
  if ((f.inStock ?? true) && item.inStock === false) return false;
  if (f.categories && !(item.category !== undefined && f.categories.includes(item.category))) return false;
  if (f.brands && !(item.brand !== undefined && f.brands.includes(item.brand))) return false;
  if (f.minPrice !== undefined && !(item.price !== undefined && item.price >= f.minPrice)) return false;
  if (f.maxPrice !== undefined && !(item.price !== undefined && item.price <= f.maxPrice)) return false;
  return true;
}

/** The product of the factors of every boost that matches. */
export function boostFactor(id: string, item: CatalogItem | undefined, boosts: readonly RecommendBoost[] | undefined): number {
  if (!boosts) return 1;
  let factor = 1;
  for (const b of boosts) {
    const match =
      (b.itemIds?.includes(id) ?? false) ||
      (item?.category !== undefined && (b.categories?.includes(item.category) ?? false)) ||
      (item?.brand !== undefined && (b.brands?.includes(item.brand) ?? false));
    if (match) factor *= b.factor;
  }
  return factor;
}

/**
 * Keeps the `k` best of a stream of scored candidates: O(n) for the usual case where most
 * candidates lose to the current k-th, without sorting the whole catalog.
 */
export class TopK {
  readonly ids: string[] = [];
  readonly scores: number[] = [];
  constructor(private readonly k: number) {}

  get threshold(): number {
    return this.ids.length < this.k ? -Infinity : (this.scores[this.scores.length - 1] as number);
  }

  has(id: string): boolean {
    return this.ids.includes(id);
  }

  offer(id: string, score: number): void {
    if (this.ids.length >= this.k && score <= this.threshold) return;
    let i = this.scores.length;
    while (i > 0 && (this.scores[i - 1] as number) < score) i--;
    this.ids.splice(i, 0, id);
    this.scores.splice(i, 0, score);
    if (this.ids.length > this.k) {
      this.ids.pop();
      this.scores.pop();
    }
  }

  get size(): number {
    return this.ids.length;
  }
}

/**
 * The heaviest history events: at most `max` of them, weight ≥ `minWeight`, heaviest first, one
 * per item and type. `steps` (oldest first) are aligned with `attention`, each step's share of
 * what the answer rests on (the intent model's attention, or a recommendation's score
 * contributions from {@link contributionShares}).
 */
export function explain(steps: readonly HistoryStep[], attention: Float32Array, max = 3, minWeight = 0.05): Explanation[] {
  const order = Array.from(attention.keys()).sort((a, b) => (attention[b] as number) - (attention[a] as number));
  const out: Explanation[] = [];
  const seen = new Set<string>();
  for (const i of order) {
    const step = steps[i];
    const weight = attention[i] as number;
    if (!step || !(weight >= minWeight) || out.length >= max) break;
    const key = `${step.itemId}|${step.type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ itemId: step.itemId, type: step.type, time: step.time, weight: Math.min(1, weight) });
  }
  return out;
}

/**
 * Each step's share of an item's score from how much the score falls without it: `drops[i]` is
 * log p(item | history) − log p(item | history without step i); steps that did not raise the
 * score get 0, the rest are normalised to sum to 1. All zero when no step raised it.
 */
export function contributionShares(drops: Float32Array): Float32Array {
  const shares = new Float32Array(drops.length);
  let total = 0;
  for (let i = 0; i < drops.length; i++) {
    const d = drops[i] as number;
    if (d > 0 && Number.isFinite(d)) {
      shares[i] = d;
      total += d;
    }
  }
  if (total > 0) for (let i = 0; i < shares.length; i++) shares[i] = (shares[i] as number) / total;
  return shares;
}

/** Recency-decayed counts of the items in `events` (history events count, impressions do not). */
export function decayedCounts(events: readonly StoredEvent[], now: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) {
    if (!HISTORY_TYPES.has(e.type)) continue;
    const weight = (e.type === 'purchase' || e.type === 'add_to_cart' ? 3 : 1) * Math.pow(0.5, Math.max(0, now - e.time) / TRENDING_HALF_LIFE_MS);
    for (const id of e.itemIds) counts.set(id, (counts.get(id) ?? 0) + weight);
  }
  return counts;
}
