/**
 * The script tag served from a CDN: the shop's page is on one origin, Hearth's files on another.
 * With the one documented header (Access-Control-Allow-Origin) the tag loads its runtime, starts its
 * worker through a same-origin blob: shim (browsers refuse cross-origin workers outright), and the
 * engine trains and recommends against the shop's own IndexedDB. Without it, nothing throws into the
 * page and engine.info() says exactly what failed and which header is missing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { errorsOf, launchBrowser, startStaticServer, type Browser, type StaticServer } from './harness.js';

let withCors: StaticServer;
let withoutCors: StaticServer;
let shop: StaticServer;
let browser: Browser;

const catalog = Array.from({ length: 40 }, (_, i) => ({ id: `sku-${i}`, title: `Item ${i}`, category: ['tea', 'cups'][i % 2], price: 5 + i, inStock: true }));

beforeAll(async () => {
  withCors = await startStaticServer({ headers: { 'access-control-allow-origin': '*' } });
  withoutCors = await startStaticServer();
  shop = await startStaticServer({
    handle(req, res) {
      const url = new URL(req.url ?? '/', 'http://shop');
      if (url.pathname === '/catalog.json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(catalog));
        return true;
      }
      if (url.pathname !== '/shop.html') return false;
      const cdn = url.searchParams.get('cdn') === 'cors' ? withCors : withoutCors;
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>shop</title><link rel="icon" href="data:,">
<script async src="${cdn.origin}/dist/hearth.iife.js" data-consent="opt-out" data-db-name="cdn-shop" data-catalog="/catalog.json" data-autocapture="false" data-auto-train="false"></script>
</head><body><p>A shop whose Hearth comes from a CDN.</p></body></html>`);
      return true;
    },
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  for (const server of [withCors, withoutCors, shop]) await server?.close();
});

async function openShop(cdn: 'cors' | 'plain'): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${shop.origin}/shop.html?cdn=${cdn}`);
  await page.waitForFunction(() => {
    const live = (window as unknown as { hearth?: unknown }).hearth;
    return typeof live === 'object' && live !== null && !Array.isArray(live);
  });
  return page;
}

describe('the script tag from another origin', () => {
  test('with Access-Control-Allow-Origin on its files, the worker starts through a blob shim, trains and recommends from the model', async () => {
    const page = await openShop('cors');
    const result = await page.evaluate(async () => {
      type H = {
        ready: Promise<void>;
        track(e: unknown): void;
        flush(): Promise<void>;
        engine: { train(): Promise<{ recommenderLoss: number | null }>; info(): Promise<{ status: string; backend: string | null }> };
        recommend(o: unknown): Promise<{ itemId: string; source: string }[]>;
      };
      const hearth = (window as unknown as { hearth: H }).hearth;
      await hearth.ready;
      for (let round = 0; round < 6; round++)
        for (let i = 0; i < 6; i++) hearth.track({ type: 'view_item', items: [{ item_id: `sku-${i}` }], timestamp: Date.now() - 3_600_000 + (round * 6 + i) * 1000 });
      await hearth.flush();
      const trained = await hearth.engine.train();
      const recs = await hearth.recommend({ k: 3 });
      return { trained, recs, info: await hearth.engine.info() };
    });
    console.log(`cdn with CORS: ${JSON.stringify({ info: result.info.status, backend: result.info.backend, recs: result.recs.map((r) => `${r.itemId}/${r.source}`) })}`);
    expect(result.info).toMatchObject({ status: expect.not.stringMatching('fallback'), backend: 'wasm' });
    expect(result.trained.recommenderLoss).toBeGreaterThan(0);
    expect(result.recs[0]?.source).toBe('model');
    const fromCdn = browser.requests.map((r) => r.url()).filter((url) => url.startsWith(withCors.origin));
    expect(fromCdn.some((url) => url.endsWith('/dist/hearth.worker.js'))).toBe(true);
    expect(fromCdn.some((url) => url.endsWith('.wasm'))).toBe(true);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  test('without the header nothing throws into the page, engine.info() says what failed and calls reject with engine_unavailable', async () => {
    const page = await openShop('plain');
    const result = await page.evaluate(async () => {
      type H = { ready: Promise<void>; track(e: unknown): void; engine: { info(): Promise<{ status: string; fallbackReason: string | null }> }; recommend(): Promise<unknown> };
      const hearth = (window as unknown as { hearth: H }).hearth;
      await hearth.ready;
      hearth.track({ type: 'view_item', items: [{ item_id: 'sku-1' }] });
      const error = await hearth.recommend().then(
        () => null,
        (e: { code: string; message: string }) => ({ code: e.code, message: e.message }),
      );
      return { info: await hearth.engine.info(), error };
    });
    console.log(`cdn without CORS: ${result.info.fallbackReason}`);
    expect(result.info.status).toBe('fallback');
    expect(result.info.fallbackReason).toContain('hearth.runtime.js');
    expect(result.info.fallbackReason).toContain('Access-Control-Allow-Origin');
    expect(result.error).toMatchObject({ code: 'engine_unavailable' });
    // The browser reports the refused module itself; Hearth adds no uncaught error of its own.
    expect(errorsOf(page).filter((e) => e.startsWith('pageerror'))).toEqual([]);
    await page.close();
  });
});
