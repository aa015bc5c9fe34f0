/**
 * The GA4 `dataLayer` bridge: e-commerce events a storefront already pushes for GA4 are recorded
 * too, mapped to Hearth's schema, whether they were pushed before Hearth loaded or after.
 *
 * Two shapes are understood:
 * - Google Tag Manager: `dataLayer.push({ event: 'add_to_cart', ecommerce: { items: [...] } })`;
 * - gtag.js: `gtag('event', 'add_to_cart', { items: [...] })`, which pushes its `arguments` object
 *   (or an array in some wrappers).
 *
 * Only events that Hearth knows are mapped (`page_view` is left to autocapture, to avoid counting
 * a page twice); items without an `item_id` are skipped, numeric strings become numbers, and an
 * event that is still invalid is skipped. Nothing here throws, and the original `push` keeps its
 * behaviour and return value.
 */
import type { Logger } from '../shared/logger.js';
import { MAX_ID_LENGTH, meaningOf, type EventItem, type EventType, type TrackEvent } from '../protocol/event-types.js';

const WRAPPED = '__hearthWrapped';

type Params = Record<string, unknown>;

function toNumber(value: unknown, integer: boolean): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return undefined;
  return integer ? (Number.isInteger(n) ? n : undefined) : n;
}

function toText(value: unknown, max: number): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return text && text.length <= max ? text : undefined;
}

function mapItem(raw: unknown): EventItem | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const source = raw as Params;
  const id = toText(source.item_id ?? source.id, MAX_ID_LENGTH);
  if (!id) return undefined;
  const item: EventItem = { item_id: id };
  const name = toText(source.item_name ?? source.name, 200);
  const price = toNumber(source.price, false);
  const quantity = toNumber(source.quantity, true);
  const category = toText(source.item_category ?? source.category, 200);
  const brand = toText(source.item_brand ?? source.brand, 200);
  const list = toText(source.item_list_id, MAX_ID_LENGTH);
  const index = toNumber(source.index, true);
  if (name) item.item_name = name;
  if (price !== undefined) item.price = price;
  if (quantity !== undefined && quantity >= 1) item.quantity = quantity;
  if (category) item.item_category = category;
  if (brand) item.item_brand = brand;
  if (list) item.item_list_id = list;
  if (index !== undefined) item.index = index;
  return item;
}

function isArgumentsLike(entry: unknown): entry is ArrayLike<unknown> {
  return Array.isArray(entry) || (typeof entry === 'object' && entry !== null && Object.prototype.toString.call(entry) === '[object Arguments]');
}

/**
 * Maps one `dataLayer` entry to a Hearth event, or returns undefined when it is not a GA4
 * e-commerce event that Hearth records. The result still goes through `track()`'s validation.
 *
 * @example
 * ```ts
 * mapDataLayerEntry({ event: 'add_to_cart', ecommerce: { currency: 'EUR', value: 12, items: [{ item_id: 'sku-1', price: 12 }] } });
 * // { type: 'add_to_cart', items: [{ item_id: 'sku-1', price: 12 }], value: 12, currency: 'EUR' }
 * ```
 */
export function mapDataLayerEntry(entry: unknown): TrackEvent | undefined {
  let name: unknown;
  let params: unknown;
  if (isArgumentsLike(entry)) {
    if (entry[0] !== 'event') return undefined;
    name = entry[1];
    params = entry[2];
  } else if (typeof entry === 'object' && entry !== null) {
    const gtm = entry as Params;
    name = gtm.event;
    params = typeof gtm.ecommerce === 'object' && gtm.ecommerce !== null ? { ...gtm, ...(gtm.ecommerce as Params) } : gtm;
  } else {
    return undefined;
  }
  if (typeof name !== 'string' || meaningOf(name)?.ga4 !== true) return undefined;
  const p: Params = typeof params === 'object' && params !== null ? (params as Params) : {};
  const event: TrackEvent = { type: name as EventType };
  if (Array.isArray(p.items)) {
    const items = p.items
      .slice(0, 200)
      .map(mapItem)
      .filter((item): item is EventItem => item !== undefined);
    const list = toText(p.item_list_id, MAX_ID_LENGTH);
    if (list) for (const item of items) item.item_list_id ??= list;
    if (items.length) event.items = items;
  }
  const term = toText(p.search_term, 200);
  const value = toNumber(p.value, false);
  const currency = toText(p.currency, 3);
  const transaction = toText(p.transaction_id, MAX_ID_LENGTH);
  if (term) event.search_term = term;
  if (value !== undefined) event.value = value;
  if (currency && /^[A-Za-z]{3}$/.test(currency)) event.currency = currency.toUpperCase();
  if (transaction) event.transaction_id = transaction;
  if (name === 'search' ? !term : !event.items) return undefined;
  return event;
}

/**
 * Records the entries already in `window[name]` and wraps its `push` for later ones; returns the
 * function that unwraps it. Creates the array when the page has none yet (as GA4's own snippet
 * does), so events pushed before the analytics script loads are seen.
 *
 * @example
 * ```ts
 * const stop = bridgeDataLayer(window, 'dataLayer', (event) => hearth.track(event), logger);
 * ```
 */
export function bridgeDataLayer(
  win: Record<string, unknown>,
  name: string,
  track: (event: TrackEvent, eventId?: string) => void,
  logger: Logger,
  /** Ids for the entries already in the layer (by index), as the tag may have stashed them. */
  existingId?: (index: number) => string,
): () => void {
  const record = (entry: unknown, eventId?: string): void => {
    try {
      const event = mapDataLayerEntry(entry);
      if (event) track(event, eventId);
    } catch (error) {
      // Page data that cannot be read (a throwing getter, a revoked Proxy): this entry is skipped.
      logger.debug('Skipped a dataLayer entry Hearth could not read.', error);
    }
  };
  try {
    const existing = win[name];
    const layer = (Array.isArray(existing) ? existing : (win[name] = [])) as unknown[] & { push: (...items: unknown[]) => number };
    if ((layer.push as unknown as Record<string, unknown>)[WRAPPED]) return () => undefined;
    layer.slice().forEach((entry, i) => record(entry, existingId?.(i)));
    const original = layer.push;
    const push = function (this: unknown, ...items: unknown[]): number {
      const result = original.apply(this, items);
      for (const item of items) record(item);
      return result;
    };
    Object.defineProperty(push, WRAPPED, { value: true });
    layer.push = push;
    return () => {
      if (layer.push === push) layer.push = original;
    };
  } catch (error) {
    logger.warnOnce('datalayer-unavailable', `Could not read window.${name}; the dataLayer bridge is off.`, error);
    return () => undefined;
  }
}
