/**
 * Validation of what a page passes to `track()`. A malformed event is a programmer mistake: it is
 * rejected as a whole with `HearthError('invalid_event')`, whose message says what was wrong and
 * what is valid, and nothing of it is stored.
 *
 * Limits (UTF-16 code units) — generous for real shops, small enough that one event stays a few
 * kilobytes in IndexedDB:
 * - `item_id`, `item_list_id`, `transaction_id`: 256 (the catalog's id limit);
 * - `item_name`, `item_category`, `item_brand`: 200;
 * - `search_term`: 200; `page_path`: 2,048; `currency`: three letters (ISO 4217);
 * - at most 200 items per event; `quantity` an integer 1–1,000,000; `index` an integer ≥ 0;
 * - `price` and `value` finite numbers ≥ 0; `duration_ms` finite, 0–86,400,000 (one day).
 *
 * Unknown top-level fields are rejected (they are usually typos, e.g. `item` for `items`);
 * unknown fields inside items are dropped, since GA4 items carry many (coupon, item_variant, …)
 * that Hearth does not use.
 */
import { HearthError, describeValue, readPageData } from '../protocol/errors.js';
import { EVENT_TYPES, MAX_ID_LENGTH, meaningOf, type EventItem, type EventType, type TrackEvent } from '../protocol/event-types.js';

export const MAX_ITEMS = 200;
export const MAX_TEXT_LENGTH = 200;
export const MAX_PATH_LENGTH = 2_048;
export const MAX_QUANTITY = 1_000_000;
export const MAX_DURATION_MS = 86_400_000;

const TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const EVENT_FIELDS = ['type', 'items', 'search_term', 'duration_ms', 'value', 'currency', 'transaction_id', 'page_path', 'timestamp'] as const;
const EVENT_FIELD_SET: ReadonlySet<string> = new Set(EVENT_FIELDS);

const describe = describeValue;

function fail(message: string): never {
  throw new HearthError('invalid_event', message);
}

function text(where: string, value: unknown, max: number): string {
  if (typeof value !== 'string') fail(`${where} must be a string, got ${describe(value)}`);
  if (value.length > max) fail(`${where} must be at most ${max} characters, got ${value.length}`);
  return value;
}

function number(where: string, value: unknown, min: number, max: number, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    fail(`${where} must be ${integer ? 'an integer' : 'a finite number'} from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function validateItem(raw: unknown, index: number): EventItem {
  const at = `items[${index}]`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${at} must be an object with an item_id, got ${describe(raw)}`);
  const source = raw as Record<string, unknown>;
  const id = source.item_id;
  if (id === undefined || id === '') fail(`${at}.item_id is missing; every item needs a non-empty item_id (the SKU)`);
  const item: EventItem = { item_id: text(`${at}.item_id`, id, MAX_ID_LENGTH) };
  if (source.item_name !== undefined) item.item_name = text(`${at}.item_name`, source.item_name, MAX_TEXT_LENGTH);
  if (source.price !== undefined) item.price = number(`${at}.price`, source.price, 0, Number.MAX_VALUE, false);
  if (source.quantity !== undefined) item.quantity = number(`${at}.quantity`, source.quantity, 1, MAX_QUANTITY, true);
  if (source.item_category !== undefined) item.item_category = text(`${at}.item_category`, source.item_category, MAX_TEXT_LENGTH);
  if (source.item_brand !== undefined) item.item_brand = text(`${at}.item_brand`, source.item_brand, MAX_TEXT_LENGTH);
  if (source.item_list_id !== undefined) item.item_list_id = text(`${at}.item_list_id`, source.item_list_id, MAX_ID_LENGTH);
  if (source.index !== undefined) item.index = number(`${at}.index`, source.index, 0, Number.MAX_SAFE_INTEGER, true);
  return item;
}

/**
 * Checks an event and returns a clean copy (unknown item fields dropped, `currency` upper-cased).
 * Throws `HearthError('invalid_event')` on the first problem found.
 *
 * @example
 * ```ts
 * validateEvent({ type: 'add_to_cart', items: [{ item_id: 'sku-1', price: 12, quantity: 1 }] });
 * validateEvent({ type: 'add2cart' }); // throws: Unknown event type "add2cart"; expected one of: page_view, …
 * ```
 */
export function validateEvent(input: unknown): TrackEvent {
  // Page data may be hostile (throwing getters, a revoked Proxy): whatever it throws while it is
  // read becomes `invalid_event`. The copy returned holds only primitives read once, so nothing
  // of the page's object is kept.
  return readPageData('invalid_event', 'The event', () => check(input));
}

function check(input: unknown): TrackEvent {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    fail(`An event must be an object like { type: 'view_item', items: [{ item_id: 'SKU' }] }, got ${describe(input)}`);
  }
  const raw = input as Record<string, unknown>;
  const type = raw.type;
  if (typeof type !== 'string' || !TYPE_SET.has(type)) {
    fail(`Unknown event type ${describe(type)}; expected one of: ${EVENT_TYPES.join(', ')}`);
  }
  for (const key in raw) {
    if (!EVENT_FIELD_SET.has(key) && raw[key] !== undefined) {
      fail(`Unknown field "${key}" in a ${type} event; valid fields: ${EVENT_FIELDS.join(', ')}`);
    }
  }
  const event: TrackEvent = { type: type as EventType };
  const items = raw.items;
  if (items !== undefined) {
    if (!Array.isArray(items)) fail(`items must be an array of { item_id, … }, got ${describe(items)}`);
    if (items.length > MAX_ITEMS) fail(`An event may carry at most ${MAX_ITEMS} items, got ${items.length}`);
    event.items = items.map(validateItem);
  }
  if (meaningOf(type)?.needsItems === true && !event.items?.length) {
    fail(`A ${type} event needs at least one item: items: [{ item_id: 'SKU' }]`);
  }
  if (type === 'dwell' && event.items!.length !== 1) fail(`A dwell event is about exactly one item, got ${event.items!.length}`);
  if (raw.search_term !== undefined) event.search_term = text('search_term', raw.search_term, MAX_TEXT_LENGTH);
  if (type === 'search' && !event.search_term?.trim()) fail('A search event needs a non-empty search_term');
  if (raw.duration_ms !== undefined) event.duration_ms = number('duration_ms', raw.duration_ms, 0, MAX_DURATION_MS, false);
  if (type === 'dwell' && event.duration_ms === undefined) fail('A dwell event needs duration_ms (how long the item page was visible)');
  if (raw.value !== undefined) event.value = number('value', raw.value, 0, Number.MAX_VALUE, false);
  if (raw.currency !== undefined) {
    const currency = text('currency', raw.currency, 3);
    if (!/^[A-Za-z]{3}$/.test(currency)) fail(`currency must be a three-letter ISO 4217 code like "EUR", got ${describe(currency)}`);
    event.currency = currency.toUpperCase();
  }
  if (raw.transaction_id !== undefined) event.transaction_id = text('transaction_id', raw.transaction_id, MAX_ID_LENGTH);
  if (raw.page_path !== undefined) event.page_path = text('page_path', raw.page_path, MAX_PATH_LENGTH);
  if (raw.timestamp !== undefined) event.timestamp = number('timestamp', raw.timestamp, 0, 8.64e15, false);
  return event;
}
