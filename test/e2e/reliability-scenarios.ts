/**
 * The tracker under hostile conditions, in Chromium against the built dist/: a fuzz of hostile
 * commands through every entry point that takes page data, pages left within milliseconds of load
 * (and two quick hops in a row), and Hearth's own data filling the storage quota. Shared by
 * `test/e2e/tracker-reliability.test.ts` (which asserts) and `bench/reliability.ts` (which prints
 * the figures for the README).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Page } from 'playwright-core';
import { errorsOf, type Browser } from './harness.js';

/** The in-page half of the fuzz: hostile values, and one driver per entry point. */
const FUZZ_SCRIPT = String.raw`
(() => {
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
  const pick = (list) => list[Math.floor(random() * list.length)];
  const revoked = () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; };
  const trap = () => { throw new Error('hostile trap'); };
  const throwingProxy = () => new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap });
  const getter = (key, base = { type: 'view_item' }) => Object.defineProperty({ ...base }, key, { enumerable: true, get: trap });
  const cyclic = () => { const o = { type: 'view_item', items: [{ item_id: 'cyc' }] }; o.items[0].self = o; o.items.push(o); return o; };
  const unprintable = () => ({ toString: trap, valueOf: trap, toJSON: trap, [Symbol.toPrimitive]: trap });
  const hostileError = () => { const e = revoked(); return { get type() { throw e; } }; };
  const values = [
    () => revoked(), throwingProxy, cyclic, unprintable, hostileError,
    () => getter('type'), () => getter('items'), () => getter('value', { type: 'purchase', items: [{ item_id: 'g' }] }),
    () => ({ type: 'view_item', items: [getter('item_id', {})] }),
    () => ({ type: 'purchase', items: [{ item_id: 'big', price: 10n }], value: 1n }),
    () => ({ type: 'view_item', items: [{ item_id: 'j' }], toJSON: trap }),
    () => ({ type: 'view_item', items: [{ item_id: revoked() }] }),
    () => ({ type: 'view_item', items: new Proxy([{ item_id: 'p' }], { get: trap }) }),
    () => ({ type: 'search', search_term: '\uD800'.repeat(300) }),
    () => ({ type: 'view_item', items: [{ item_id: 'x'.repeat(1e5) }] }),
    () => ({ type: 'view_item', items: new Array(5000) }),
    () => Object.create(null), () => Symbol('s'), () => 10n, () => () => 1, () => undefined, () => null, () => NaN,
    () => new Date(), () => /re/, () => new Map([[1, 2]]), () => new Uint8Array(4), () => 'page_view',
    () => Object.freeze({ type: 'add2cart' }), () => ({ type: 'view_item', items: 'sku' }),
    () => ({ __proto__: { type: 'view_item', items: [{ item_id: 'proto' }] } }),
  ];
  const hostile = () => pick(values)();
  const commands = [
    () => ['track', hostile()], () => [hostile()], () => hostile(), () => revoked(), () => throwingProxy(),
    () => ['setCatalog', hostile()], () => ['consent', 'grant', hostile()], () => ['consent', hostile()],
    () => ['on', 'event', () => { throw new Error('listener'); }], () => ['on', hostile(), hostile()],
    () => ['init', hostile()], () => [revoked(), hostile()], () => (function () { return arguments; })('track', hostile()),
    () => ['flush', hostile()], () => new Proxy(['track', { type: 'page_view' }], { get: trap }),
  ];
  const layer = [
    () => hostile(), () => ({ event: 'add_to_cart', ecommerce: hostile() }), () => ({ event: 'view_item', ecommerce: { items: hostile() } }),
    () => ({ event: 'purchase', ecommerce: { items: [hostile(), { item_id: revoked() }], value: 10n } }),
    () => (function () { return arguments; })('event', 'add_to_cart', hostile()), () => ({ get event() { throw new Error('x'); } }),
  ];
  const attributes = ['', ' ', 'x'.repeat(300), '\u0000', '"><img>', 'NaN', '1e400', '-1', '€1,299.00', '🙂'];
  window.__hostile = { hostile, commands, layer, attributes, pick, random };
})();
`;

/** What one page tracks, by entry point, for the leave-delay scenarios. */
const LEAVE_SCRIPT = String.raw`
window.hearth = window.hearth || [];
const params = new URLSearchParams(location.search);
const tag = params.get('tag');
const count = Number(params.get('n') ?? 6);
for (let i = 0; i < count; i++) window.hearth.push(['track', { type: 'view_item', items: [{ item_id: tag + '-queued-' + i }] }]);
window.dataLayer = window.dataLayer || [];
window.dataLayer.push({ event: 'add_to_cart', ecommerce: { items: [{ item_id: tag + '-datalayer' }] } });
addEventListener('load', () => {
  window.hearth.push(['track', { type: 'select_item', items: [{ item_id: tag + '-onload' }] }]);
  const next = params.get('next');
  const delay = Number(params.get('delay') ?? 0);
  if (next) setTimeout(() => { location.href = next; }, delay);
});
`;

function tagHtml(attributes: Record<string, string>, head: string): string {
  const attrs = Object.entries(attributes)
    .map(([k, v]) => ` ${k}="${v}"`)
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>reliability</title>${head}<script async src="/dist/hearth.iife.js"${attrs}></script></head><body data-hearth-page-item="page-product"><main id="main"></main></body></html>`;
}

/**
 * Serves the generated pages: `/reliability/fuzz?db=…`, `/reliability/leave?db=…&tag=…&delay=…&next=…`,
 * `/reliability/final?db=…`, `/reliability/quota?db=…`.
 */
export function reliabilityPages(req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (!url.pathname.startsWith('/reliability/')) return false;
  const db = url.searchParams.get('db') ?? 'reliability';
  const consent = url.searchParams.get('consent') ?? 'opt-out';
  const base = { 'data-engine': 'false', 'data-db-name': db, 'data-consent': consent, 'data-flush-interval': '100' };
  let html: string;
  if (url.pathname === '/reliability/fuzz') {
    // The pre-load queue holds hostile commands between valid ones, before the tag loads.
    const queue = `window.hearth = [];
      for (let i = 0; i < 60; i++) { window.hearth.push(__hostile.pick(__hostile.commands)()); if (i % 3 === 0) window.hearth.push(['track', { type: 'view_item', items: [{ item_id: 'valid-queued-' + i }] }]); }
      window.dataLayer = [];
      for (let i = 0; i < 20; i++) { window.dataLayer.push(__hostile.pick(__hostile.layer)()); window.dataLayer.push({ event: 'add_to_cart', ecommerce: { items: [{ item_id: 'valid-layer-early-' + i }] } }); }`;
    html = tagHtml(base, `<script>${FUZZ_SCRIPT}</script><script>${queue}</script>`);
  } else if (url.pathname === '/reliability/leave') {
    html = tagHtml(base, `<script>${LEAVE_SCRIPT}</script>`);
  } else if (url.pathname === '/reliability/final' || url.pathname === '/reliability/quota') {
    html = tagHtml({ ...base, 'data-autocapture': 'false' }, '');
  } else {
    return false;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
  return true;
}

interface StoredLike {
  eventId: string;
  itemIds: string[];
}

/** Every stored event, read straight from IndexedDB. */
export function readStored(page: Page, dbName: string): Promise<StoredLike[]> {
  return page.evaluate(
    (name) =>
      new Promise<StoredLike[]>((resolve, reject) => {
        const request = indexedDB.open(name);
        request.onerror = () => reject(request.error);
        request.onsuccess = () => {
          const db = request.result;
          if (!db.objectStoreNames.contains('events')) {
            db.close();
            resolve([]);
            return;
          }
          const read = db.transaction('events', 'readonly').objectStore('events').getAll();
          read.onerror = () => reject(read.error);
          read.onsuccess = () => {
            db.close();
            resolve(read.result as StoredLike[]);
          };
        };
      }),
    dbName,
  );
}

/** The `eventId`s of the stored events (without loading the events themselves). */
function storedIds(page: Page, dbName: string): Promise<string[]> {
  return page.evaluate(
    (name) =>
      new Promise<string[]>((resolve, reject) => {
        const request = indexedDB.open(name);
        request.onerror = () => reject(request.error);
        request.onsuccess = () => {
          const db = request.result;
          const ids: string[] = [];
          // A key cursor on the id index reads the ids alone (getAllKeys would give primary keys).
          const cursor = db.transaction('events', 'readonly').objectStore('events').index('by-event-id').openKeyCursor();
          cursor.onerror = () => reject(cursor.error);
          cursor.onsuccess = () => {
            const at = cursor.result;
            if (!at) {
              db.close();
              resolve(ids);
              return;
            }
            ids.push(String(at.key));
            at.continue();
          };
        };
      }),
    dbName,
  );
}

async function waitForLive(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const live = (window as unknown as { hearth?: unknown }).hearth;
    return typeof live === 'object' && live !== null && !Array.isArray(live);
  });
  await page.evaluate(() => (window as unknown as { hearth: { ready: Promise<void> } }).hearth.ready);
}

/** Counts of `expected` ids among the stored events: how many are missing and how many doubled. */
export function tally(stored: readonly StoredLike[], expected: readonly string[]): { sent: number; stored: number; lost: string[]; doubled: string[] } {
  const counts = new Map<string, number>();
  for (const event of stored) for (const id of event.itemIds) counts.set(id, (counts.get(id) ?? 0) + 1);
  const lost = expected.filter((id) => !counts.has(id));
  const doubled = expected.filter((id) => (counts.get(id) ?? 0) > 1);
  return { sent: expected.length, stored: expected.length - lost.length, lost, doubled };
}

export interface FuzzResult {
  /** Hostile commands tried, by entry point. */
  tried: Record<'preload' | 'push' | 'track' | 'dataLayer' | 'autocapture', number>;
  total: number;
  sent: number;
  stored: number;
  lost: string[];
  doubled: string[];
  /** Uncaught page errors and console errors. */
  pageErrors: string[];
  /** Errors thrown by track() that were not `HearthError('invalid_event')`. */
  rawThrows: string[];
}

/** Sends `rounds` hostile commands through every entry point, each followed by a valid event. */
export async function runFuzz(browser: Browser, origin: string, rounds = 1_000): Promise<FuzzResult> {
  const db = `fuzz-${Date.now()}`;
  const page = await browser.newPage();
  await page.goto(`${origin}/reliability/fuzz?db=${db}`);
  await waitForLive(page);
  const result = await page.evaluate(async (n) => {
    type Live = { push(...c: unknown[]): number; track(e: unknown): void; flush(): Promise<void> };
    const w = window as unknown as {
      hearth: Live;
      dataLayer: unknown[];
      __hostile: { hostile(): unknown; commands: (() => unknown)[]; layer: (() => unknown)[]; attributes: string[]; pick<T>(l: T[]): T };
    };
    const { hostile, commands, layer, attributes, pick } = w.__hostile;
    const tried = { push: 0, track: 0, dataLayer: 0, autocapture: 0 };
    const valid: string[] = [];
    const rawThrows: string[] = [];
    const main = document.getElementById('main') as HTMLElement;
    for (let i = 0; i < n; i++) {
      const entry = (['push', 'track', 'dataLayer', 'autocapture'] as const)[i % 4]!;
      const id = `valid-${entry}-${i}`;
      tried[entry] += 1;
      if (entry === 'push') {
        w.hearth.push(pick(commands)(), ['track', { type: 'view_item', items: [{ item_id: id }] }], pick(commands)());
      } else if (entry === 'track') {
        try {
          w.hearth.track(hostile());
        } catch (error) {
          const name = (() => {
            try {
              return String((error as { name?: unknown }).name);
            } catch {
              return 'unreadable';
            }
          })();
          if (name !== 'HearthError[invalid_event]') rawThrows.push(name);
        }
        w.hearth.track({ type: 'view_item', items: [{ item_id: id }] });
      } else if (entry === 'dataLayer') {
        w.dataLayer.push(pick(layer)(), { event: 'add_to_cart', ecommerce: { items: [{ item_id: id }] } }, pick(layer)());
      } else {
        // Markup Hearth cannot use, then a product card it can.
        const odd = document.createElement('button');
        odd.setAttribute('data-hearth-item', pick(attributes));
        odd.setAttribute('data-hearth-action', pick(['add_to_cart', 'add2cart', '', 'purchase']));
        odd.setAttribute('data-hearth-price', pick(attributes));
        odd.setAttribute('data-hearth-quantity', pick(attributes));
        main.append(odd);
        odd.click();
        const card = document.createElement('a');
        card.setAttribute('data-hearth-item', id);
        main.append(card);
        card.click();
        odd.remove();
        card.remove();
      }
      valid.push(id);
      if (i % 100 === 99) await w.hearth.flush();
    }
    await w.hearth.flush();
    return { tried, valid, rawThrows };
  }, rounds);
  // The queue replayed before load: 60 hostile commands with 20 valid tracks, 20 hostile dataLayer entries with 20 valid ones.
  const preloadValid = [...Array.from({ length: 20 }, (_, k) => `valid-queued-${k * 3}`), ...Array.from({ length: 20 }, (_, k) => `valid-layer-early-${k}`)];
  const expected = [...preloadValid, ...result.valid];
  const stored = await readStored(page, db);
  const counts = tally(stored, expected);
  const pageErrors = [...errorsOf(page)];
  await page.close();
  const tried = { preload: 80, ...result.tried };
  // Each push round sends two hostile commands, each dataLayer round two hostile entries.
  const total = tried.preload + 2 * tried.push + tried.track + 2 * tried.dataLayer + tried.autocapture;
  return { tried, total, ...counts, pageErrors, rawThrows: result.rawThrows };
}

export interface LeaveResult {
  delayMs: number | 'two hops';
  sent: number;
  stored: number;
  lost: string[];
  doubled: string[];
  pageErrors: string[];
}

/** What each leaving page tracks: 6 queued before the tag, one from the dataLayer, one on load, plus autocapture's page_view and view_item. */
function expectedFor(tag: string): string[] {
  return [...Array.from({ length: 6 }, (_, i) => `${tag}-queued-${i}`), `${tag}-datalayer`, `${tag}-onload`];
}

async function settleFinal(page: Page, db: string, expected: readonly string[]): Promise<StoredLike[]> {
  await waitForLive(page);
  // The drain runs after start; wait until every expected event is there (bounded), then once more for doubles.
  let stored: StoredLike[];
  for (let i = 0; i < 50; i++) {
    await page.evaluate(() => (window as unknown as { hearth: { flush(): Promise<void> } }).hearth.flush());
    stored = await readStored(page, db);
    if (tally(stored, expected).lost.length === 0) break;
    await page.waitForTimeout(100);
  }
  await page.waitForTimeout(300);
  return readStored(page, db);
}

/**
 * Opens a page that tracks its events and leaves for the next page `delayMs` after `load`
 * (`two hops`: it leaves at once for a second such page, which leaves at once too). Returns how
 * many of the events tracked on the leaving pages are stored, on the final page, once each.
 */
export async function runLeave(browser: Browser, origin: string, delayMs: number | 'two hops', consent: 'opt-out' | 'opt-in' = 'opt-out'): Promise<LeaveResult> {
  const db = `leave-${String(delayMs).replace(' ', '-')}-${consent}-${Date.now()}`;
  const page = await browser.newPage();
  const final = `/reliability/final?db=${db}&consent=${consent}`;
  if (consent === 'opt-in') {
    // An earlier visit where the shopper granted personalise.
    await page.goto(`${origin}${final}`);
    await waitForLive(page);
    await page.evaluate(() => (window as unknown as { hearth: { consent: { grant(s: string[]): Promise<void> } } }).hearth.consent.grant(['personalise']));
  }
  const leave = (tag: string, next: string, delay: number): string => `/reliability/leave?db=${db}&consent=${consent}&tag=${tag}&delay=${delay}&next=${encodeURIComponent(next)}`;
  const tags = delayMs === 'two hops' ? ['hop1', 'hop2'] : [`left-${delayMs}`];
  const first = delayMs === 'two hops' ? leave('hop1', leave('hop2', final, 0), 0) : leave(tags[0]!, final, delayMs);
  await page.goto(`${origin}${first}`, { waitUntil: 'commit' });
  await page.waitForURL(/\/reliability\/final/, { timeout: 30_000 });
  const expected = tags.flatMap(expectedFor);
  const stored = await settleFinal(page, db, expected);
  const pageErrors = [...errorsOf(page)];
  await page.close();
  return { delayMs, ...tally(stored, expected), pageErrors };
}

export interface QuotaResult {
  quotaBytes: number;
  /** The most events stored at once while the quota filled. */
  storedAtFull: number;
  /** Events stored after the new events were tracked under the full quota. */
  storedAfter: number;
  /** What exportData() counts as evicted. */
  evictionsCounted: number;
  /** Events that were stored at some point and are gone afterwards. */
  evictedReally: number;
  newSent: number;
  /** New events kept in memory (not yet stored) while the quota is full. */
  newKeptInMemory: number;
  /** After the quota is lifted and the page flushes: new events stored, and doubled. */
  newStoredAfterLift: number;
  newDoubled: number;
  pageErrors: string[];
}

/**
 * Fills a small storage quota (set through the DevTools protocol) with Hearth's own events, then
 * tracks new ones: the history must survive (bounded eviction), the evictions be counted in
 * exportData(), and the new events be kept and written once when room returns.
 */
export async function runQuota(browser: Browser, origin: string, quotaBytes = 2 * 1024 * 1024): Promise<QuotaResult> {
  const db = `quota-${Date.now()}`;
  const page = await browser.newPage();
  await page.goto(`${origin}/reliability/quota?db=${db}`);
  await waitForLive(page);
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: quotaBytes });
  type Api = { track(e: unknown): void; flush(): Promise<void>; recentlyViewed(k: number): Promise<{ itemId: string }[]>; exportData(): Promise<{ events: unknown[]; meta: Record<string, unknown> }> };
  // Fill: big events (200 items with long names) until the count stops growing; every id ever
  // seen stored is remembered, so that evictions during the fill count too.
  const seen = new Set<string>();
  let storedAtFull = 0;
  let stalled = 0;
  for (let round = 0; round < 200 && stalled < 3; round++) {
    await page.evaluate((r) => {
      const hearth = (window as unknown as { hearth: Api }).hearth;
      for (let e = 0; e < 5; e++) {
        // Random names: IndexedDB compresses its values, and repeated text would hardly fill anything.
        const text = (n: number): string => Array.from({ length: n }, () => Math.random().toString(36).charAt(2)).join('');
        hearth.track({ type: 'view_item_list', items: Array.from({ length: 60 }, (_, i) => ({ item_id: `fill-${r}-${e}-${i}`, item_name: text(200), item_category: text(100) })) });
      }
      return hearth.flush();
    }, round);
    const ids = await storedIds(page, db);
    for (const id of ids) seen.add(id);
    stalled = ids.length > storedAtFull ? 0 : stalled + 1;
    storedAtFull = Math.max(storedAtFull, ids.length);
  }
  const newIds = Array.from({ length: 20 }, (_, i) => `new-${i}`);
  const during = await page.evaluate(async (ids) => {
    const hearth = (window as unknown as { hearth: Api }).hearth;
    for (const id of ids) hearth.track({ type: 'view_item', items: [{ item_id: id }] });
    await hearth.flush();
    const exported = await hearth.exportData();
    const recent = (await hearth.recentlyViewed(100)).map((r) => r.itemId);
    return { evictions: (exported.meta['store.evictions'] as { events?: number } | undefined)?.events ?? 0, recent };
  }, newIds);
  const afterStored = await readStored(page, db);
  const idsAfter = new Set(afterStored.map((e) => e.eventId));
  for (const id of idsAfter) if (!id.startsWith('new')) seen.add(id);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin });
  await page.evaluate(() => (window as unknown as { hearth: Api }).hearth.flush());
  const lifted = tally(await readStored(page, db), newIds);
  const pageErrors = [...errorsOf(page)];
  await page.close();
  return {
    quotaBytes,
    storedAtFull,
    storedAfter: afterStored.length,
    evictionsCounted: during.evictions,
    evictedReally: [...seen].filter((id) => !idsAfter.has(id)).length,
    newSent: newIds.length,
    newKeptInMemory: newIds.filter((id) => during.recent.includes(id)).length,
    newStoredAfterLift: lifted.stored,
    newDoubled: lifted.doubled.length,
    pageErrors,
  };
}
