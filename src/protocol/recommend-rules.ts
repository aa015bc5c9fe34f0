/**
 * The rules a recommendation list follows, wherever it is made (the worker's model, the page's
 * fallback when there is no worker): which items an answer leaves out, business filters, boosts.
 */
import type { CatalogItem } from './catalog.js';
import type { RecommendBoost, RecommendFilter, RecommendOptions } from './engine-types.js';
import { meaningOf, type StoredEvent } from './event-types.js';

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
    if (newest && e.session === newest.session && meaningOf(e.type)?.view === true) for (const id of e.itemIds) out.add(id);
    if (e.type === 'add_to_cart') for (const id of e.itemIds) cart.add(id);
    else if (e.type === 'remove_from_cart' || e.type === 'purchase') for (const id of e.itemIds) cart.delete(id);
  }
  for (const id of cart) out.add(id);
  return out;
}

/**
 * The items an answer to `options` leaves out, given the shopper's `events`: `exclude`, the context
 * item, past purchases (unless `excludePurchased: false`) and what was just seen or is in the cart
 * (unless `excludeSeen: false`).
 */
export function excludedItems(options: RecommendOptions, events: readonly StoredEvent[]): Set<string> {
  const excluded = new Set<string>(options.exclude ?? []);
  if (options.context?.itemId) excluded.add(options.context.itemId);
  if (options.excludePurchased !== false) for (const e of events) if (e.type === 'purchase') for (const id of e.itemIds) excluded.add(id);
  if (options.excludeSeen !== false) for (const id of seenOrInCart(events)) excluded.add(id);
  return excluded;
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
