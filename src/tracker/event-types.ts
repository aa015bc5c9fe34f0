/**
 * The event schema. It follows GA4's recommended e-commerce events so that a storefront can send
 * Hearth what it already sends to GA4, plus `dwell`.
 */
export const EVENT_TYPES = [
  'page_view',
  'view_item',
  'view_item_list',
  'select_item',
  'add_to_cart',
  'remove_from_cart',
  'add_to_wishlist',
  'begin_checkout',
  'purchase',
  'search',
  'dwell',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

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
