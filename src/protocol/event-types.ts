/**
 * The event schema and what each event type means, in one table that the page (validation,
 * dataLayer bridge, fallbacks) and the worker (models, ranking, trending, intent) both read.
 *
 * The schema follows GA4's recommended e-commerce events so that a storefront can send Hearth what
 * it already sends to GA4, plus `dwell`. Adding a type is one row here: its embedding row is fixed
 * in the table and the embedding has room for `EVENT_TYPE_ROWS` rows, so no tensor shape, saved
 * checkpoint or federated update changes.
 */
export const EVENT_TYPES = ['page_view', 'view_item', 'view_item_list', 'select_item', 'add_to_cart', 'remove_from_cart', 'add_to_wishlist', 'begin_checkout', 'purchase', 'search', 'dwell'] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** The longest id Hearth accepts (items, lists, transactions, the catalog's ids), in UTF-16 code units. */
export const MAX_ID_LENGTH = 256;

/** What one event type means to each part of Hearth. */
export interface EventTypeMeaning {
  /** Row of the models' event-type embedding; fixed forever (0 is "a type this version does not know"). */
  row: number;
  /** A product event: `track()` needs at least one item. */
  needsItems: boolean;
  /** A GA4 event name the dataLayer bridge maps to this type as it is. */
  ga4: boolean;
  /** Its items enter the shopper's history, the models' input (impressions, searches, dwell do not). */
  history: boolean;
  /** Its item is a prediction target: the recommender learns to predict it next. */
  target: boolean;
  /** The shopper looked at the item (recently viewed, "just seen" exclusions). */
  view: boolean;
  /** Weight in trending and popularity counts (interest in the item; 0: none). */
  popularity: number;
  /** The intent heuristic's signal, used before an intent model has trained. */
  intentSignal: number;
}

/** Rows of the event-type embedding: room for types added later without changing its shape. */
export const EVENT_TYPE_ROWS = 32;

const NONE = { needsItems: false, ga4: false, history: false, target: false, view: false, popularity: 0, intentSignal: 0 };

/** The table, one row per type. */
export const EVENT_TYPE_MEANINGS: Readonly<Record<EventType, Readonly<EventTypeMeaning>>> = {
  page_view: { ...NONE, row: 1 },
  view_item: { ...NONE, row: 2, needsItems: true, ga4: true, history: true, target: true, view: true, popularity: 1, intentSignal: 0.08 },
  view_item_list: { ...NONE, row: 3, needsItems: true, ga4: true },
  select_item: { ...NONE, row: 4, needsItems: true, ga4: true, history: true, target: true, view: true, popularity: 1, intentSignal: 0.05 },
  add_to_cart: { ...NONE, row: 5, needsItems: true, ga4: true, history: true, target: true, popularity: 3, intentSignal: 1 },
  remove_from_cart: { ...NONE, row: 6, needsItems: true, ga4: true, history: true, intentSignal: -0.2 },
  add_to_wishlist: { ...NONE, row: 7, needsItems: true, ga4: true, history: true, target: true, popularity: 2, intentSignal: 0.3 },
  begin_checkout: { ...NONE, row: 8, needsItems: true, ga4: true, history: true, target: true, popularity: 3, intentSignal: 1 },
  purchase: { ...NONE, row: 9, needsItems: true, ga4: true, history: true, target: true, popularity: 3, intentSignal: 1 },
  search: { ...NONE, row: 10, ga4: true },
  dwell: { ...NONE, row: 11, needsItems: true, view: true },
};

/** The meaning of `type`, or undefined for a type this version does not know. */
export function meaningOf(type: string): Readonly<EventTypeMeaning> | undefined {
  return Object.prototype.hasOwnProperty.call(EVENT_TYPE_MEANINGS, type) ? EVENT_TYPE_MEANINGS[type as EventType] : undefined;
}

/** The types for which `property` holds, e.g. `typesWhere('history')`. */
export function typesWhere(property: 'needsItems' | 'ga4' | 'history' | 'target' | 'view'): ReadonlySet<EventType> {
  return new Set(EVENT_TYPES.filter((type) => EVENT_TYPE_MEANINGS[type][property]));
}

/** The embedding row of an event type (0 for a type this version does not know). */
export function eventTypeRow(type: string): number {
  return meaningOf(type)?.row ?? 0;
}

/** One product in an event, as in GA4's `items` array. */
export interface EventItem {
  item_id: string;
  item_name?: string;
  price?: number;
  quantity?: number;
  item_category?: string;
  item_brand?: string;
  item_list_id?: string;
  /** Position of the item in a list (0-based). */
  index?: number;
}

/** What a page passes to `track()`. */
export interface TrackEvent {
  type: EventType;
  items?: EventItem[];
  /** For `search`. */
  search_term?: string;
  /** For `dwell`: how long the item page was visible, in milliseconds. */
  duration_ms?: number;
  /** For `purchase` / `begin_checkout`. */
  value?: number;
  currency?: string;
  transaction_id?: string;
  /** For `page_view`: the path and query of the page (no origin). */
  page_path?: string;
  /** Milliseconds since the epoch; defaults to now. */
  timestamp?: number;
}

/** An event as it is kept in IndexedDB on the shopper's device. */
export interface StoredEvent {
  /** Auto-incremented key; absent until written. */
  id?: number;
  /**
   * The event's stable id, stamped once when it is tracked (like Segment's `messageId`). Every
   * path that may hand the same event over twice — the page-exit stash, the pre-consent buffer,
   * retried writes, the engine's caches — is idempotent by it: the store keeps one event per id.
   * Events stored before ids existed got `legacy-<id>` when the database was upgraded.
   */
  eventId: string;
  type: EventType;
  /** Milliseconds since the epoch. */
  time: number;
  /** Session id (random, local-only); sessions split after 30 minutes of inactivity. */
  session: string;
  items: EventItem[];
  /** `items[].item_id`, denormalised for the multi-entry index. */
  itemIds: string[];
  search_term?: string;
  duration_ms?: number;
  value?: number;
  currency?: string;
  transaction_id?: string;
  page_path?: string;
}
