/**
 * Threaded WASM in the browser: where the shop serves its pages cross-origin isolated (COOP
 * same-origin + COEP require-corp), tfjs loads its threaded WASM build, whose threads start from the
 * factory's own source text; the minified worker once broke there and took the whole engine down.
 * The engine trains and recommends on both kinds of page and info() says how many threads compute.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { errorsOf, launchBrowser, startEnginePageSite, type Browser, type StaticServer } from './harness.js';
import type { EngineTestPage } from '../fixtures/engine/page-entry.js';

const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

let browser: Browser;
let isolated: StaticServer;
let plain: StaticServer;

beforeAll(async () => {
  isolated = await startEnginePageSite('/engine.html', ISOLATION_HEADERS);
  plain = await startEnginePageSite('/engine.html');
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await isolated?.close();
  await plain?.close();
});

interface ThreadsResult {
  crossOriginIsolated: boolean;
  backend: string | null;
  wasmThreads: number | null;
  loss: number | null;
  recommended: number;
}

async function trainOn(server: StaticServer): Promise<{ result: ThreadsResult; errors: string[] }> {
  const page = await browser.newPage();
  const errors = errorsOf(page);
  page.on('console', (m) => console.log('[page]', m.text()));
  await page.goto(`${server.origin}/engine.html`);
  await page.waitForFunction(() => 'hearthTest' in window);
  const result = await page.evaluate(async (): Promise<ThreadsResult> => {
    const { openStore, createEngineClient, createLogger } = (window as unknown as { hearthTest: EngineTestPage }).hearthTest;
    const logger = createLogger(() => false);
    const dbName = 'threads-e2e';
    const store = await openStore({ name: dbName, logger });
    await store.replaceCatalog(Array.from({ length: 100 }, (_, i) => ({ id: 'p' + i, title: 'Product ' + i, price: 10 + i, inStock: true })));
    let t = Date.now() - 3_600_000;
    const events = Array.from({ length: 80 }, (_, n) => ({
      eventId: 'threads-' + n,
      type: 'view_item' as const,
      time: (t += 1000),
      session: 's' + Math.floor(n / 10),
      items: [{ item_id: 'p' + (n % 10) }],
      itemIds: ['p' + (n % 10)],
    }));
    await store.appendEvents(events);
    store.close?.();
    const engine = createEngineClient({
      dbName,
      engine: { workerUrl: '/dist/hearth.worker.js', backend: 'wasm', autoTrain: false, trainEpochs: 3, recommender: { dims: 32, blocks: 1, maxLen: 20, dropout: 0 } },
      consent: () => ({ personalise: true, contribute: false, updatedAt: 1 }),
      logger,
    });
    const trained = await engine.train();
    const recs = await engine.recommend({ k: 5 }, []);
    const info = await engine.info();
    engine.dispose();
    return { crossOriginIsolated: self.crossOriginIsolated, backend: info.backend, wasmThreads: info.wasmThreads, loss: trained.recommenderLoss, recommended: recs.length };
  });
  await page.close();
  return { result, errors: errors.slice() };
}

describe('threaded WASM in Chromium', () => {
  test('a cross-origin isolated page trains and recommends on the threaded WASM build; a plain page on one thread', async () => {
    const { result: threaded, errors: threadedErrors } = await trainOn(isolated);
    const { result: single, errors: singleErrors } = await trainOn(plain);
    console.log(`threads: isolated ${JSON.stringify(threaded)}; plain ${JSON.stringify(single)}`);
    expect(threadedErrors).toEqual([]);
    expect(singleErrors).toEqual([]);
    // tfjs's threaded build computes on half the logical cores, 1 to 8 (one on this 2-core machine).
    const cores = await (await browser.newPage()).evaluate(() => navigator.hardwareConcurrency);
    expect(threaded).toMatchObject({ crossOriginIsolated: true, backend: 'wasm', wasmThreads: Math.min(8, Math.max(1, Math.floor(cores / 2))), recommended: 5 });
    expect(single).toMatchObject({ crossOriginIsolated: false, backend: 'wasm', wasmThreads: 1, recommended: 5 });
    expect(threaded.loss).toBeGreaterThan(0);
    expect(single.loss).toBeGreaterThan(0);
  });
});
