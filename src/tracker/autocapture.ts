/**
 * Autocapture: events from markup, with no code on the page.
 *
 * - `data-hearth-item="SKU"` elements: impressions (at least half visible for at least one second,
 *   batched into one `view_item_list`) and clicks (`select_item`). A `data-hearth-list="ID"`
 *   ancestor sets `item_list_id`; `data-hearth-index` the position.
 * - `data-hearth-action="add_to_cart|remove_from_cart|add_to_wishlist|begin_checkout|purchase"`:
 *   the item is the element's own `data-hearth-item`, else its nearest `data-hearth-item` ancestor,
 *   else the page's product. `data-hearth-price`, `data-hearth-category`, `data-hearth-brand`,
 *   `data-hearth-quantity` are read from the action element first, then the item element.
 * - A product page (`<body data-hearth-page-item="SKU">` or an element `data-hearth-product="SKU"`):
 *   `view_item`, then `dwell` with the time the tab was visible, emitted when the tab is hidden or
 *   the page (or SPA route) is left.
 * - Search forms (`<form role="search">`, `<form data-hearth-search>`; the input named `q` or
 *   `search`, `type="search"`, or marked `data-hearth-search-input`): `search`.
 * - `page_view` on start and on SPA route changes (`pushState`/`replaceState` that change the path,
 *   `popstate`).
 *
 * One delegated listener per kind of DOM event, a MutationObserver for items added later. Nothing
 * here throws into the page: what cannot be read is skipped.
 */
import type { Logger } from '../shared/logger.js';
import type { AutocaptureOptions } from '../hearth/config.js';
import { MAX_ID_LENGTH, type EventItem, type EventType, type TrackEvent } from '../protocol/event-types.js';

export const ACTION_TYPES = ['add_to_cart', 'remove_from_cart', 'add_to_wishlist', 'begin_checkout', 'purchase'] as const;
/** How long an item must stay at least half visible to count as seen. */
export const IMPRESSION_MS = 1_000;
/** Impressions seen within this window go out as one `view_item_list`. */
export const IMPRESSION_BATCH_MS = 500;
/** Shorter visits to a product page are not worth a `dwell`. */
export const MIN_DWELL_MS = 500;

const ITEM = 'data-hearth-item';
const SELECTOR_ITEM = `[${ITEM}]`;
const SEARCH_FORMS = 'form[role="search"],form[data-hearth-search]';
const SEARCH_INPUTS = '[data-hearth-search-input],input[name="q"],input[name="search"],input[type="search"]';

/** The part of an element autocapture reads. */
export interface AttributeSource {
  getAttribute(name: string): string | null;
}

function attr(sources: readonly (AttributeSource | null | undefined)[], name: string): string | undefined {
  for (const source of sources) {
    const value = source?.getAttribute(name);
    if (value !== null && value !== undefined && value.trim() !== '') return value.trim();
  }
  return undefined;
}

function numberAttr(sources: readonly (AttributeSource | null | undefined)[], name: string, integer: boolean): number | undefined {
  const raw = attr(sources, name);
  if (raw === undefined) return undefined;
  // Tolerates currency signs and thousands separators ("€1,299.00"); text without digits is skipped.
  const cleaned = raw.replace(/[^0-9.eE+-]/g, '');
  const value = /\d/.test(cleaned) ? Number(cleaned) : Number.NaN;
  if (!Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) return undefined;
  return value;
}

/**
 * The item an element describes: `id` plus whatever `data-hearth-*` attributes say, looked up on
 * `sources` in order. Undefined when there is no usable id.
 *
 * @example
 * ```ts
 * itemFromAttributes('sku-1', [button, card]); // { item_id: 'sku-1', price: 12 } when card has data-hearth-price="12"
 * ```
 */
export function itemFromAttributes(id: string | null | undefined, sources: readonly (AttributeSource | null | undefined)[]): EventItem | undefined {
  const itemId = id?.trim();
  if (!itemId || itemId.length > MAX_ID_LENGTH) return undefined;
  const item: EventItem = { item_id: itemId };
  const price = numberAttr(sources, 'data-hearth-price', false);
  const quantity = numberAttr(sources, 'data-hearth-quantity', true);
  const index = numberAttr(sources, 'data-hearth-index', true);
  const category = attr(sources, 'data-hearth-category');
  const brand = attr(sources, 'data-hearth-brand');
  const name = attr(sources, 'data-hearth-name');
  if (price !== undefined) item.price = price;
  if (quantity !== undefined && quantity >= 1) item.quantity = quantity;
  if (index !== undefined) item.index = index;
  if (category !== undefined && category.length <= 200) item.item_category = category;
  if (brand !== undefined && brand.length <= 200) item.item_brand = brand;
  if (name !== undefined && name.length <= 200) item.item_name = name;
  return item;
}

/** The event type of a `data-hearth-action` value, or undefined for an unknown one. */
export function actionType(value: string | null | undefined): EventType | undefined {
  const type = value?.trim();
  return (ACTION_TYPES as readonly string[]).includes(type ?? '') ? (type as EventType) : undefined;
}

/**
 * Counts the time a product page is visible. `visible(true|false, now)` on every visibility change;
 * `take(now)` returns the visible time since the last take and starts counting afresh.
 *
 * @example
 * ```ts
 * const clock = new DwellClock(0, true);
 * clock.visible(false, 3000); clock.visible(true, 10_000);
 * clock.take(11_000); // 4000
 * ```
 */
export class DwellClock {
  private total = 0;
  private since: number | undefined;

  constructor(now: number, visible: boolean) {
    this.since = visible ? now : undefined;
  }

  visible(isVisible: boolean, now: number): void {
    if (isVisible && this.since === undefined) this.since = now;
    if (!isVisible && this.since !== undefined) {
      this.total += Math.max(0, now - this.since);
      this.since = undefined;
    }
  }

  take(now: number): number {
    const running = this.since === undefined ? 0 : Math.max(0, now - this.since);
    const total = this.total + running;
    this.total = 0;
    if (this.since !== undefined) this.since = now;
    return total;
  }
}

/** The path and query of a location (never the origin or the fragment). */
export function pagePath(location: { pathname: string; search: string }): string {
  return (location.pathname + location.search).slice(0, 2_048);
}

export interface AutocaptureHost {
  track(event: TrackEvent): void;
  logger: Logger;
  now?: () => number;
}

/**
 * Starts every enabled part on `win` and returns the function that stops them all.
 *
 * @example
 * ```ts
 * const stop = startAutocapture(window, { impressions: true, clicks: true, actions: true, productPage: true, search: true, pageViews: true }, { track, logger });
 * ```
 */
export function startAutocapture(win: Window & typeof globalThis, parts: Required<AutocaptureOptions>, host: AutocaptureHost): () => void {
  const doc = win.document;
  const now = host.now ?? Date.now;
  const stops: (() => void)[] = [];
  const emit = (event: TrackEvent): void => {
    try {
      host.track(event);
    } catch (error) {
      host.logger.warnOnce(`autocapture-skip:${event.type}`, `Autocapture skipped a ${event.type} it could not read.`, error);
    }
  };
  const safe =
    <A extends unknown[]>(name: string, fn: (...args: A) => void) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch (error) {
        host.logger.warnOnce(`autocapture-error:${name}`, `Autocapture (${name}) failed on this page; skipping.`, error);
      }
    };
  const listen = (target: EventTarget, type: string, fn: (event: Event) => void, capture = true): void => {
    const handler = safe(type, fn);
    target.addEventListener(type, handler, { capture, passive: true });
    stops.push(() => target.removeEventListener(type, handler, { capture }));
  };
  const closest = (target: EventTarget | null, selector: string): Element | null => (target && typeof (target as Element).closest === 'function' ? (target as Element).closest(selector) : null);
  const listOf = (el: Element): string | undefined => {
    const list = el.closest('[data-hearth-list]')?.getAttribute('data-hearth-list')?.trim();
    return list && list.length <= MAX_ID_LENGTH ? list : undefined;
  };
  const itemOf = (el: Element, extra: Element | null = null): EventItem | undefined => {
    const item = itemFromAttributes(el.getAttribute(ITEM), [extra, el]);
    const list = item && listOf(el);
    if (item && list) item.item_list_id = list;
    return item;
  };

  // Product page: view_item, then dwell while visible.
  let product: { id: string; el: Element; clock: DwellClock } | undefined;
  const productElement = (): Element | null => (doc.body?.hasAttribute('data-hearth-page-item') ? doc.body : doc.querySelector('[data-hearth-product]'));
  const productId = (el: Element): string | null => el.getAttribute('data-hearth-page-item') ?? el.getAttribute('data-hearth-product');
  const productItem = (el: Element): EventItem | undefined => itemFromAttributes(productId(el), [el]);
  const endDwell = (): void => {
    if (!product) return;
    const duration = Math.round(product.clock.take(now()));
    const item = productItem(product.el) ?? { item_id: product.id };
    if (duration >= MIN_DWELL_MS) emit({ type: 'dwell', items: [item], duration_ms: Math.min(duration, 86_400_000) });
  };
  const checkProduct = safe('product', () => {
    if (!parts.productPage) return;
    const el = productElement();
    const id = el && productId(el)?.trim();
    if (product && product.id === id) return;
    endDwell();
    product = undefined;
    const item = el && productItem(el);
    if (!el || !id || !item) return;
    product = { id, el, clock: new DwellClock(now(), doc.visibilityState === 'visible') };
    emit({ type: 'view_item', items: [item] });
  });
  if (parts.productPage) {
    listen(doc, 'visibilitychange', () => {
      if (!product) return;
      const visible = doc.visibilityState === 'visible';
      if (!visible) endDwell();
      product.clock.visible(visible, now());
    });
    listen(win, 'pagehide', () => {
      endDwell();
      product?.clock.visible(false, now());
    });
  }

  // Clicks and actions, delegated.
  if (parts.clicks || parts.actions) {
    listen(doc, 'click', (event) => {
      const actionEl = parts.actions ? closest(event.target, '[data-hearth-action]') : null;
      const type = actionEl && actionType(actionEl.getAttribute('data-hearth-action'));
      if (actionEl && type) {
        const itemEl = actionEl.hasAttribute(ITEM) ? actionEl : actionEl.closest(SELECTOR_ITEM);
        const pageEl = itemEl ? null : productElement();
        const item = itemEl ? itemOf(itemEl, actionEl) : pageEl ? itemFromAttributes(productId(pageEl), [actionEl, pageEl]) : undefined;
        if (item) emit({ type, items: [item] });
        return;
      }
      const itemEl = parts.clicks ? closest(event.target, SELECTOR_ITEM) : null;
      const item = itemEl && itemOf(itemEl);
      if (item) emit({ type: 'select_item', items: [item] });
    });
  }

  // Search forms.
  if (parts.search) {
    listen(doc, 'submit', (event) => {
      const form = closest(event.target, SEARCH_FORMS);
      const input = form?.querySelector(SEARCH_INPUTS) as HTMLInputElement | null | undefined;
      const term = typeof input?.value === 'string' ? input.value.trim().slice(0, 200) : '';
      if (term) emit({ type: 'search', search_term: term });
    });
  }

  // Impressions.
  const observer = parts.impressions && typeof win.IntersectionObserver === 'function' ? createImpressions(win, (items) => emit({ type: 'view_item_list', items }), itemOf, safe) : undefined;
  if (observer) {
    doc.querySelectorAll(SELECTOR_ITEM).forEach((el) => observer.observe(el));
    stops.push(() => observer.stop());
  }

  // Items, product markers and routes that appear later.
  if (typeof win.MutationObserver === 'function' && (observer || parts.productPage) && doc.documentElement) {
    const mutations = new win.MutationObserver(
      safe('mutations', (records: MutationRecord[]) => {
        for (const record of records) {
          record.addedNodes.forEach((node) => {
            if (!observer || node.nodeType !== 1) return;
            const el = node as Element;
            if (el.hasAttribute(ITEM)) observer.observe(el);
            el.querySelectorAll(SELECTOR_ITEM).forEach((child) => observer.observe(child));
          });
        }
        checkProduct();
      }),
    );
    mutations.observe(doc.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-hearth-page-item', 'data-hearth-product'] });
    stops.push(() => mutations.disconnect());
  }

  // Page views, including single-page-app routes.
  if (parts.pageViews) {
    let lastPath = pagePath(win.location);
    emit({ type: 'page_view', page_path: lastPath });
    const onRoute = safe('route', () => {
      const path = pagePath(win.location);
      if (path === lastPath) return;
      lastPath = path;
      endDwell();
      product = undefined;
      emit({ type: 'page_view', page_path: path });
      checkProduct();
    });
    const history = win.history;
    for (const name of ['pushState', 'replaceState'] as const) {
      const original = history[name];
      const patched = function (this: History, ...args: Parameters<History['pushState']>) {
        const result = original.apply(this, args);
        onRoute();
        return result;
      };
      history[name] = patched;
      stops.push(() => {
        // Another script may have wrapped ours since; unwrapping then would drop its patch.
        if (history[name] === patched) history[name] = original;
      });
    }
    listen(win, 'popstate', onRoute, false);
  }

  checkProduct();
  return () => {
    for (const stop of stops.splice(0)) {
      try {
        stop();
      } catch {
        // Best effort.
      }
    }
    product = undefined;
  };
}

interface Impressions {
  observe(el: Element): void;
  stop(): void;
}

function createImpressions(
  win: Window & typeof globalThis,
  send: (items: EventItem[]) => void,
  itemOf: (el: Element) => EventItem | undefined,
  safe: <A extends unknown[]>(name: string, fn: (...args: A) => void) => (...args: A) => void,
): Impressions {
  const timers = new Map<Element, ReturnType<typeof setTimeout>>();
  const seen = new WeakSet<Element>();
  const batch: EventItem[] = [];
  let batchTimer: ReturnType<typeof setTimeout> | undefined;
  const sendBatch = (): void => {
    if (batchTimer !== undefined) clearTimeout(batchTimer);
    batchTimer = undefined;
    const items = batch.splice(0, 200);
    if (items.length) send(items);
    if (batch.length) sendBatch();
  };
  const io = new win.IntersectionObserver(
    safe('impressions', (entries: IntersectionObserverEntry[]) => {
      for (const entry of entries) {
        const el = entry.target;
        if (entry.isIntersecting && entry.intersectionRatio >= 0.5) {
          if (timers.has(el) || seen.has(el)) continue;
          timers.set(
            el,
            setTimeout(
              safe('impression', () => {
                timers.delete(el);
                seen.add(el);
                io.unobserve(el);
                const item = itemOf(el);
                if (!item) return;
                batch.push(item);
                if (batch.length >= 200) sendBatch();
                else batchTimer ??= setTimeout(sendBatch, IMPRESSION_BATCH_MS);
              }),
              IMPRESSION_MS,
            ),
          );
        } else {
          const timer = timers.get(el);
          if (timer !== undefined) clearTimeout(timer);
          timers.delete(el);
        }
      }
    }),
    { threshold: [0, 0.5] },
  );
  const onHide = safe('impressions-hide', () => {
    if (win.document.visibilityState === 'hidden') sendBatch();
  });
  win.document.addEventListener('visibilitychange', onHide, true);
  win.addEventListener('pagehide', sendBatch, true);
  return {
    observe: (el) => {
      if (!seen.has(el)) io.observe(el);
    },
    stop: () => {
      sendBatch();
      io.disconnect();
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      win.document.removeEventListener('visibilitychange', onHide, true);
      win.removeEventListener('pagehide', sendBatch, true);
    },
  };
}
