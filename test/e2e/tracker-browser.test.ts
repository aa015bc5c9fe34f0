/**
 * The script tag in headless Chromium, against the built dist/hearth.iife.js (and the
 * hearth.runtime.js it imports), served from 127.0.0.1 under a strict Content-Security-Policy
 * (no unsafe-eval, no unsafe-inline) for every test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { errorsOf, launchBrowser, requestsOutside, screenshot, startStaticServer, type Browser, type StaticServer } from './harness.js';

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'";

let server: StaticServer;
let browser: Browser;

interface StoredEventLike {
  type: string;
  session: string;
  itemIds: string[];
  time: number;
  page_path?: string;
  search_term?: string;
  duration_ms?: number;
  items: { item_id: string; price?: number; item_list_id?: string; item_category?: string }[];
}

/** Reads every stored event straight from IndexedDB, as the page sees it. */
function readEvents(page: Page, dbName: string): Promise<StoredEventLike[]> {
  return page.evaluate(
    (name) =>
      new Promise<StoredEventLike[]>((resolve, reject) => {
        const request = indexedDB.open(name);
        request.onerror = () => reject(request.error);
        request.onsuccess = () => {
          const db = request.result;
          const read = db.transaction('events', 'readonly').objectStore('events').getAll();
          read.onerror = () => reject(read.error);
          read.onsuccess = () => {
            db.close();
            resolve(read.result as StoredEventLike[]);
          };
        };
      }),
    dbName,
  );
}

async function openShop(page: Page, path = '/test/fixtures/tracker/shop.html'): Promise<void> {
  await page.goto(`${server.origin}${path}`);
  await page.waitForFunction(() => {
    const live = (window as unknown as { hearth?: unknown }).hearth;
    return typeof live === 'object' && live !== null && !Array.isArray(live);
  });
  await page.evaluate(() => (window as unknown as { hearth: { ready: Promise<void> } }).hearth.ready);
}

const flush = (page: Page) => page.evaluate(() => (window as unknown as { hearth: { flush(): Promise<void> } }).hearth.flush());

beforeAll(async () => {
  server = await startStaticServer({ headers: { 'content-security-policy': CSP } });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the script tag in Chromium', () => {
  it('replays the queue, records clicks on marked products and actions, and they are in IndexedDB', async () => {
    const page = await browser.newPage();
    const violations: string[] = [];
    await page.exposeFunction('reportViolation', (v: string) => violations.push(v));
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => (window as unknown as { reportViolation(v: string): void }).reportViolation(`${e.violatedDirective} ${e.blockedURI}`));
    });
    await openShop(page);
    await page.click('#card-1');
    await page.click('#add-1');
    await page.click('#wish-2');
    await page.click('#search-go');
    await page.waitForTimeout(1_300); // impressions: half visible for a second
    await page.click('#route-3');
    await page.waitForTimeout(700); // dwell on the SPA product page
    await page.evaluate(() => {
      const w = window as unknown as { dataLayer: unknown[] };
      w.dataLayer.push({ event: 'begin_checkout', ecommerce: { value: 42, currency: 'EUR', items: [{ item_id: 'sku-1', price: 12 }] } });
    });
    // Leaving the product page (a route change) emits its dwell.
    await page.evaluate(() => history.pushState({}, '', '/checkout'));
    await flush(page);
    const events = await readEvents(page, 'shop-e2e');
    const summary = events.map((e) => `${e.type}:${e.itemIds.join('+') || e.page_path || e.search_term}`);
    expect(summary).toContain('page_view:/queued-before-load');
    expect(summary).toContain('page_view:/test/fixtures/tracker/shop.html');
    expect(summary).toContain('select_item:sku-1');
    expect(summary).toContain('add_to_cart:sku-1');
    expect(summary).toContain('add_to_wishlist:sku-2');
    expect(summary).toContain('search:blue mug');
    expect(summary).toContain('view_item_list:sku-1+sku-2');
    expect(summary).toContain('page_view:/p/sku-3');
    expect(summary).toContain('view_item:sku-3');
    expect(summary).toContain('begin_checkout:sku-1');
    expect(summary).toContain('page_view:/checkout');
    expect(summary.some((s) => s.startsWith('dwell:sku-3'))).toBe(true);
    expect(summary).not.toContain('view_item_list:sku-below'); // never scrolled into view
    // The queued page_view came first, the bad queued commands were skipped.
    expect(summary[0]).toBe('page_view:/queued-before-load');
    const add = events.find((e) => e.type === 'add_to_cart')!;
    expect(add.items[0]).toMatchObject({ item_id: 'sku-1', price: 12, item_category: 'mugs', item_list_id: 'home' });
    expect(new Set(events.map((e) => e.session)).size).toBe(1);
    // The catalog queued with setCatalog arrived.
    const recent = await page.evaluate(() => (window as unknown as { hearth: { recentlyViewed(k: number): Promise<{ itemId: string; item?: { title: string } }[]> } }).hearth.recentlyViewed(5));
    expect(recent.map((r) => r.itemId)).toEqual(['sku-3', 'sku-1']);
    expect(recent[1]!.item?.title).toBe('Blue mug');
    expect(violations).toEqual([]);
    expect(errorsOf(page)).toEqual([]);
    await screenshot(page, 'tracker-shop');
    await page.close();
  });

  it('keeps an event tracked just before navigating away (stashed at pagehide, recovered by the next page, once)', async () => {
    const page = await browser.newPage();
    await openShop(page, '/test/fixtures/tracker/bulk.html');
    await page.evaluate(() => {
      (window as unknown as { hearth: { track(e: unknown): void } }).hearth.track({ type: 'purchase', transaction_id: 'T-nav', items: [{ item_id: 'sku-nav' }] });
      location.href = '/test/fixtures/tracker/bulk.html?next-page';
    });
    await page.waitForURL(/next-page/);
    await page.evaluate(() => (window as unknown as { hearth: { flush(): Promise<void> } }).hearth.flush());
    await page.waitForTimeout(300);
    const events = await readEvents(page, 'bulk-e2e');
    expect(events.filter((e) => e.type === 'purchase' && e.itemIds[0] === 'sku-nav')).toHaveLength(1);
    await page.close();
  });

  it('opt-in by default: nothing is written before consent, the held events are written on grant', async () => {
    const page = await browser.newPage();
    await openShop(page, '/test/fixtures/tracker/optin.html');
    const before = await page.evaluate(async () => {
      const hearth = (window as unknown as { hearth: { track(e: unknown): void; flush(): Promise<void>; consent: { get(): unknown } } }).hearth;
      hearth.track({ type: 'view_item', items: [{ item_id: 'held-1' }] });
      await hearth.flush();
      return { consent: hearth.consent.get(), databases: (await indexedDB.databases()).map((db) => db.name) };
    });
    expect(before.consent).toEqual({ personalise: false, contribute: false, updatedAt: null });
    if (before.databases.includes('optin-e2e')) expect(await readEvents(page, 'optin-e2e')).toEqual([]);
    await page.evaluate(() => (window as unknown as { hearth: { push(...c: unknown[]): number } }).hearth.push(['consent', 'grant', ['personalise']]));
    await page.waitForTimeout(100);
    await flush(page);
    expect((await readEvents(page, 'optin-e2e')).map((e) => e.itemIds[0])).toEqual(['held-1']);
    // A reload remembers the decision.
    await openShop(page, '/test/fixtures/tracker/optin.html?reload');
    expect(await page.evaluate(() => (window as unknown as { hearth: { consent: { get(): { personalise: boolean } } } }).hearth.consent.get().personalise)).toBe(true);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('data-auto-init="false" waits for a queued ["init", options], then replays the queue in order', async () => {
    const page = await browser.newPage();
    await openShop(page, '/test/fixtures/tracker/noauto.html');
    await flush(page);
    expect((await readEvents(page, 'noauto-e2e')).map((e) => e.itemIds[0])).toEqual(['queued-1', 'queued-2', 'live-3']);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('a product page gives view_item, and dwell counts only the time the tab was visible', async () => {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      let state: DocumentVisibilityState = 'visible';
      Object.defineProperty(document, 'visibilityState', { get: () => state });
      (window as unknown as { setVisibility(v: DocumentVisibilityState): void }).setVisibility = (v) => {
        state = v;
        document.dispatchEvent(new Event('visibilitychange'));
      };
    });
    await openShop(page, '/test/fixtures/tracker/product.html');
    await page.evaluate(() => {
      const w = window as unknown as { seen: unknown[]; hearth: { on(t: 'event', l: (e: unknown) => void): void } };
      w.seen = [];
      w.hearth.on('event', (e) => w.seen.push(e));
    });
    await page.click('#buy');
    await page.waitForTimeout(800);
    await page.evaluate(() => (window as unknown as { setVisibility(v: string): void }).setVisibility('hidden'));
    await page.waitForTimeout(1_500);
    await page.evaluate(() => (window as unknown as { setVisibility(v: string): void }).setVisibility('visible'));
    await page.waitForTimeout(600);
    await page.evaluate(() => history.pushState({}, '', '/elsewhere'));
    await flush(page);
    const events = await readEvents(page, 'product-e2e');
    expect(events.find((e) => e.type === 'view_item')?.items[0]).toMatchObject({ item_id: 'sku-9', price: 99 });
    expect(events.find((e) => e.type === 'add_to_cart')?.items[0]).toMatchObject({ item_id: 'sku-9', price: 99 });
    const dwells = events.filter((e) => e.type === 'dwell').map((e) => e.duration_ms!);
    expect(dwells).toHaveLength(2);
    expect(dwells[0]).toBeGreaterThanOrEqual(700);
    expect(dwells[0]).toBeLessThan(1_400); // the 1.5 s hidden are not counted
    expect(dwells[1]).toBeGreaterThanOrEqual(500);
    expect(dwells[1]).toBeLessThan(1_200);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('autocapture and the dataLayer bridge skip what they cannot read and never throw', async () => {
    const page = await browser.newPage();
    await openShop(page, '/test/fixtures/tracker/odd.html');
    for (const id of ['#empty-sku', '#blank-sku', '#bad-action', '#orphan-action', '#svg-target', '#search-blank', '#search-noinput']) await page.click(id);
    await page.evaluate(() => {
      const w = window as unknown as { dataLayer: unknown[] };
      w.dataLayer.push(undefined, { event: 'view_item', ecommerce: 'nope' }, { event: 'view_item', ecommerce: { items: [{ item_id: 'dl-late' }] } });
    });
    await flush(page);
    const summary = (await readEvents(page, 'odd-e2e')).map((e) => `${e.type}:${e.itemIds.join('+')}`);
    expect(summary.filter((s) => !s.startsWith('page_view'))).toEqual(['purchase:dl-ok', 'select_item:sku-x', 'select_item:sku-ok', 'view_item:dl-late']);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('three tabs writing at once lose no event', async () => {
    const pages = await Promise.all([browser.newPage(), browser.newPage(), browser.newPage()]);
    await Promise.all(pages.map((page) => openShop(page, '/test/fixtures/tracker/bulk.html?tabs')));
    const before = (await readEvents(pages[0]!, 'bulk-e2e')).length;
    await Promise.all(
      pages.map((page, tab) =>
        page.evaluate(async (t) => {
          const hearth = (window as unknown as { hearth: { track(e: unknown): void; flush(): Promise<void> } }).hearth;
          for (let round = 0; round < 20; round++) {
            for (let i = 0; i < 25; i++) hearth.track({ type: 'view_item', items: [{ item_id: `tab${t}-${round}-${i}` }] });
            await (round % 2 ? hearth.flush() : new Promise((r) => setTimeout(r, 5)));
          }
          await hearth.flush();
        }, tab),
      ),
    );
    const events = await readEvents(pages[0]!, 'bulk-e2e');
    const ids = new Set(events.flatMap((e) => e.itemIds).filter((id) => id.startsWith('tab')));
    expect(events.length - before).toBe(1_500);
    expect(ids.size).toBe(1_500);
    for (const page of pages) expect(errorsOf(page)).toEqual([]);
    await Promise.all(pages.map((page) => page.close()));
  });

  it('keeps working when IndexedDB fails to open', async () => {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      IDBFactory.prototype.open = function () {
        throw new DOMException('The user denied permission to access the database.', 'SecurityError');
      };
    });
    await openShop(page);
    await page.click('#card-2');
    const result = await page.evaluate(async () => {
      const hearth = (
        window as unknown as {
          hearth: { track(e: unknown): void; flush(): Promise<void>; recentlyViewed(): Promise<{ itemId: string }[]>; recommend(): Promise<unknown[]>; exportData(): Promise<{ events: unknown[] }> };
        }
      ).hearth;
      hearth.track({ type: 'view_item', items: [{ item_id: 'sku-mem' }] });
      await hearth.flush();
      return {
        recent: (await hearth.recentlyViewed()).map((r) => r.itemId),
        recommended: Array.isArray(await hearth.recommend()),
        exported: (await hearth.exportData()).events.length,
      };
    });
    expect(result.recent.slice(0, 2)).toEqual(['sku-mem', 'sku-2']);
    expect(result.recommended).toBe(true);
    expect(result.exported).toBeGreaterThan(0);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('forget() leaves no database behind', async () => {
    const page = await browser.newPage();
    await openShop(page);
    await page.click('#add-1');
    await flush(page);
    const names = () => page.evaluate(async () => (await indexedDB.databases()).map((db) => db.name));
    expect(await names()).toContain('shop-e2e');
    await page.evaluate(() => (window as unknown as { hearth: { forget(): Promise<void> } }).hearth.forget());
    expect(await names()).not.toContain('shop-e2e');
    // Nothing is written afterwards on this page (that would recreate the database).
    await page.click('#add-1');
    await flush(page);
    expect(await names()).not.toContain('shop-e2e');
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('sends no request anywhere: only the page and Hearth’s own files are fetched', async () => {
    const start = browser.requests.length;
    const page = await browser.newPage();
    await openShop(page);
    await page.click('#card-1');
    await page.click('#add-1');
    await flush(page);
    await page.waitForTimeout(500);
    const requests = browser.requests.slice(start);
    expect(requestsOutside(requests, [server.origin])).toEqual([]);
    const paths = requests.map((r) => new URL(r.url()).pathname);
    const unexpected = paths.filter((p) => !p.startsWith('/dist/') && !p.startsWith('/test/fixtures/tracker/'));
    expect(unexpected).toEqual([]);
    expect(requests.every((r) => r.method() === 'GET')).toBe(true);
    const cookies = await browser.context.cookies();
    expect(cookies).toEqual([]);
    await page.close();
  });

  it('with the engine on, the API answers and forget() still deletes everything (the worker closes first)', async () => {
    // No CSP here: the engine's worker may need 'wasm-unsafe-eval', which is the engine's concern.
    const plain = await startStaticServer();
    const page = await browser.newPage();
    try {
      const opened = Date.now();
      await page.goto(`${plain.origin}/test/fixtures/tracker/engine.html`);
      await page.waitForFunction(() => {
        const live = (window as unknown as { hearth?: unknown }).hearth;
        return typeof live === 'object' && live !== null && !Array.isArray(live);
      });
      const out = await page.evaluate(async () => {
        type Api = {
          ready: Promise<void>;
          setCatalog(items: unknown[]): Promise<void>;
          track(e: unknown): void;
          recommend(o: unknown): Promise<{ itemId: string }[]>;
          trending(k: number): Promise<{ itemId: string }[]>;
          intent(): Promise<{ cart: number; purchase: number }>;
          engine: { info(): Promise<{ status: string }> };
          forget(): Promise<void>;
        };
        const hearth = (window as unknown as { hearth: Api }).hearth;
        const laps: Record<string, number> = {};
        let last = performance.now();
        const lap = (name: string): void => {
          laps[name] = Math.round(performance.now() - last);
          last = performance.now();
        };
        await hearth.ready;
        await hearth.setCatalog([
          { id: 'a', title: 'A' },
          { id: 'b', title: 'B' },
          { id: 'c', title: 'C' },
        ]);
        lap('ready+setCatalog');
        hearth.track({ type: 'view_item', items: [{ item_id: 'a' }] });
        hearth.track({ type: 'add_to_cart', items: [{ item_id: 'b' }] });
        const recommended = await hearth.recommend({ k: 2 });
        lap('recommend (starts the worker)');
        const trending = await hearth.trending(2);
        const intent = await hearth.intent();
        const info = await hearth.engine.info();
        lap('trending+intent+info');
        await hearth.forget();
        lap('forget');
        return { laps, recommended, trending, intent, status: info.status, databases: (await indexedDB.databases()).map((db) => db.name) };
      });
      console.log(`engine page: started in ${Date.now() - opened} ms; then, in ms:`, JSON.stringify(out.laps));
      expect(out.recommended.length).toBeLessThanOrEqual(2);
      expect(out.trending.length).toBeLessThanOrEqual(2);
      expect(out.intent.cart).toBeGreaterThanOrEqual(0);
      expect(out.intent.cart).toBeLessThanOrEqual(1);
      expect(['idle', 'starting', 'ready', 'training', 'fallback']).toContain(out.status);
      expect(out.databases).not.toContain('engine-e2e');
      expect(errorsOf(page)).toEqual([]);
    } finally {
      await page.close();
      await plain.close();
    }
  });

  it('track() stays within its budget: median under 0.05 ms over 10,000 calls', async () => {
    const page = await browser.newPage();
    await openShop(page, '/test/fixtures/tracker/bulk.html?bench');
    const median = await page.evaluate(() => {
      const hearth = (window as unknown as { hearth: { track(e: unknown): void } }).hearth;
      // performance.now() is coarse (100 µs without cross-origin isolation): time batches of 100.
      const perCall: number[] = [];
      for (let batch = 0; batch < 100; batch++) {
        const t0 = performance.now();
        for (let i = 0; i < 100; i++) hearth.track({ type: 'view_item', items: [{ item_id: `sku-${i % 50}`, price: 10 }] });
        perCall.push((performance.now() - t0) / 100);
      }
      perCall.sort((a, b) => a - b);
      return perCall[50]!;
    });
    console.log(`track() median ${median.toFixed(4)} ms per call (100 batches × 100 calls)`);
    expect(median).toBeLessThan(0.05);
    await page.close();
  });
});
