/**
 * The engine in Chromium, through the real worker bundle (dist/hearth.worker.js): it starts, picks
 * a backend (and says why), trains on events the page stored, and recommend() answers with
 * explanations; a `recent` event changes the answer at once; WebGPU is exercised when the browser
 * has an adapter (SwiftShader's software one under --enable-unsafe-webgpu); a worker that cannot
 * load leaves the page on fallbacks; reset() lets the database be deleted.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { errorsOf, launchBrowser, startEnginePageSite, type Browser, type StaticServer, BROWSER } from './harness.js';

let site: StaticServer;
let browser: Browser;

beforeAll(async () => {
  site = await startEnginePageSite('/engine.html');
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
});

async function openPage(): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (process.env.HEARTH_E2E_VERBOSE) console.log('[page]', m.text());
  });
  await page.goto(`${site.origin}/engine.html`);
  await page.waitForFunction(() => 'hearthTest' in window);
  return page;
}

/** Seeds a store with a catalog and a shopper who browses p0 → p1 → … → p9 in a loop. */
const seed = `
  const { openStore, createLogger } = window.hearthTest;
  const logger = createLogger(() => false);
  const store = await openStore({ name: dbName, logger });
  const catalog = Array.from({ length: 200 }, (_, i) => ({ id: 'p' + i, title: 'Product ' + i, category: ['shoes', 'hats', 'bags'][i % 3], price: 10 + i, inStock: i !== 7 }));
  await store.replaceCatalog(catalog);
  const events = [];
  let t = Date.now() - 3_600_000;
  for (let r = 0; r < rounds; r++) for (let i = 0; i < 10; i++) events.push({ type: 'view_item', time: (t += 1000), session: 's' + r, items: [{ item_id: 'p' + i }], itemIds: ['p' + i] });
  events.push({ type: 'add_to_cart', time: (t += 1000), session: 's0', items: [{ item_id: 'p3' }], itemIds: ['p3'] });
  await store.appendEvents(events);
`;

describe(`engine worker in ${BROWSER}`, () => {
  test('starts, chooses a backend and says why, trains on stored events, recommends with explanations', async () => {
    const page = await openPage();
    const result = await page.evaluate(
      async ({ seed }) => {
        const dbName = 'engine-e2e-main';
        const rounds = 12;
        await new Function('dbName', 'rounds', `return (async () => { ${seed} })()`)(dbName, rounds);
        const { createEngineClient, createLogger } = (window as any).hearthTest;
        const consent = { personalise: true, contribute: false, updatedAt: 1 };
        const engine = createEngineClient({
          dbName,
          engine: { workerUrl: '/dist/hearth.worker.js', autoTrain: false, trainEpochs: 40, recommender: { dims: 32, blocks: 1, maxLen: 20, dropout: 0, negatives: 0, learningRate: 0.01 } },
          consent: () => consent,
          logger: createLogger(() => false),
        });
        const progress: number[] = [];
        engine.onProgress((p: { fraction: number }) => progress.push(p.fraction));
        const t0 = performance.now();
        const before = await engine.info();
        const startMs = performance.now() - t0;
        const t1 = performance.now();
        const trained = await engine.train();
        const trainMs = performance.now() - t1;
        const now = Date.now();
        const recent = [
          { type: 'view_item', time: now, session: 'live', items: [{ item_id: 'p3' }], itemIds: ['p3'] },
          { type: 'view_item', time: now + 1, session: 'live', items: [{ item_id: 'p4' }], itemIds: ['p4'] },
        ];
        const t2 = performance.now();
        const recs = await engine.recommend({ k: 5 }, recent);
        const recommendMs = performance.now() - t2;
        const moved = await engine.recommend({ k: 1 }, [...recent, { type: 'view_item', time: now + 2, session: 'live', items: [{ item_id: 'p5' }], itemIds: ['p5'] }]);
        const filtered = await engine.recommend({ k: 5, filter: { categories: ['hats'] } }, recent);
        const similar = await engine.similarItems('p2', 3);
        const trending = await engine.trending(3, recent);
        const intent = await engine.intent(recent);
        let badK: unknown;
        try {
          await engine.recommend({ k: 0 }, recent);
        } catch (error) {
          badK = { name: (error as Error).name, code: (error as { code?: string }).code, message: (error as Error).message };
        }
        let unknown: unknown;
        try {
          await engine.similarItems('nope', 3);
        } catch (error) {
          unknown = { code: (error as { code?: string }).code };
        }
        const after = await engine.info();
        await engine.reset();
        const deleted = await new Promise((done) => {
          const request = indexedDB.deleteDatabase(dbName);
          request.onsuccess = () => done('deleted');
          request.onblocked = () => done('blocked');
          request.onerror = () => done('error');
        });
        engine.dispose();
        return { before, after, trained, progress: progress.length, recs, moved, filtered, similar, trending, intent, badK, unknown, startMs, trainMs, recommendMs, deleted };
      },
      { seed },
    );
    console.log(
      `engine e2e: backend ${result.before.backend} (${result.before.backendReason}); adapter ${JSON.stringify(result.before.adapter)}; start ${result.startMs.toFixed(0)} ms, train ${result.trainMs.toFixed(0)} ms, recommend ${result.recommendMs.toFixed(1)} ms`,
    );
    expect(['webgpu', 'webgl', 'wasm', 'cpu']).toContain(result.before.backend);
    expect(result.before.backendReason.length).toBeGreaterThan(0);
    expect(result.before.status).toBe('ready');
    expect(result.trained.recommenderLoss).toBeGreaterThan(0);
    expect(result.progress).toBeGreaterThan(0);
    expect(result.after.lastTrainedAt).not.toBeNull();
    expect(result.after.parameters.recommender).toBeGreaterThan(0);
    expect(result.recs).toHaveLength(5);
    expect(result.recs[0]).toMatchObject({ itemId: 'p5', source: 'model' });
    expect(result.recs[0].because.length).toBeGreaterThan(0);
    for (const b of result.recs[0].because) expect(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']).toContain(b.itemId);
    expect(result.recs[0].item).toMatchObject({ id: 'p5', title: 'Product 5' });
    // Real time: the page's newest event (not yet stored) moves the answer on.
    expect(result.moved[0].itemId).toBe('p6');
    expect(result.filtered.every((r: { item?: { category?: string } }) => r.item?.category === 'hats')).toBe(true);
    expect(result.similar).toHaveLength(3);
    expect(result.trending).toHaveLength(3);
    expect(result.intent.cart).toBeGreaterThanOrEqual(0);
    expect(result.badK).toMatchObject({ code: 'invalid_argument' });
    expect((result.badK as { message: string }).message).toMatch(/1 to 100/);
    expect(result.unknown).toMatchObject({ code: 'unknown_item' });
    expect(result.deleted).toBe('deleted');
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  test('runs the model on WebGPU when forced and an adapter exists (software adapter here); a GPU failure at run time moves the engine to WASM once', async () => {
    const page = await openPage();
    const hasAdapter = await page.evaluate(async () => {
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
      return gpu ? (await gpu.requestAdapter()) !== null : false;
    });
    if (!hasAdapter) {
      console.log('engine e2e: no WebGPU adapter in this browser; WebGPU case skipped');
      return;
    }
    const result = await page.evaluate(
      async ({ seed }) => {
        const dbName = 'engine-e2e-webgpu';
        const rounds = 3;
        await new Function('dbName', 'rounds', `return (async () => { ${seed} })()`)(dbName, rounds);
        const { createEngineClient, createLogger } = (window as any).hearthTest;
        const consent = { personalise: true, contribute: false, updatedAt: 1 };
        const engine = createEngineClient({
          dbName,
          engine: { workerUrl: '/dist/hearth.worker.js', backend: 'webgpu', autoTrain: false, trainEpochs: 1, recommender: { dims: 16, blocks: 1, maxLen: 10, negatives: 16 } },
          consent: () => consent,
          logger: createLogger(() => false),
        });
        const info = await engine.info();
        const trained = await engine.train();
        const recs = await engine.recommend({ k: 3 }, [{ type: 'view_item', time: Date.now(), session: 'x', items: [{ item_id: 'p1' }], itemIds: ['p1'] }]);
        const after = await engine.info();
        await engine.reset();
        engine.dispose();
        return { info, trained, recs, after };
      },
      { seed },
    );
    console.log(
      `engine e2e (webgpu): ${result.info.backend}, adapter ${JSON.stringify(result.info.adapter)}, trained ${JSON.stringify(result.trained)}, after: ${result.after.backend} (${result.after.backendReason}), recs ${JSON.stringify(result.recs.map((r: { itemId: string; score: number; source: string }) => [r.itemId, r.score, r.source]))}`,
    );
    expect(result.info.backend).toBe('webgpu');
    expect(result.info.backendReason).toMatch(/forced by engine.backend \(\d+(\.\d+)? ms per forward pass\)/);
    expect(result.info.adapter).not.toBeNull();
    // On SwiftShader's adapter, tfjs's WebGPU training loses its device inside a worker ("A valid
    // external Instance reference no longer exists"): the engine then moves to WASM once, rebuilds
    // the models and retries, and info() says so. On a hardware adapter it stays on WebGPU.
    expect(result.trained.recommenderLoss).toBeGreaterThan(0);
    if (result.after.backend !== 'webgpu') {
      expect(result.after.backend).toBe('wasm');
      expect(result.after.backendReason).toMatch(/webgpu failed at run time .*; switched to wasm/);
    }
    expect(result.recs[0].source).toBe('model');
    expect(result.recs).toHaveLength(3);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  test('a worker that cannot load leaves the page answering from fallbacks, and info() says why', async () => {
    const page = await openPage();
    const result = await page.evaluate(
      async ({ seed }) => {
        const dbName = 'engine-e2e-fallback';
        const rounds = 1;
        await new Function('dbName', 'rounds', `return (async () => { ${seed} })()`)(dbName, rounds);
        const { createEngineClient, createLogger, openStore } = (window as any).hearthTest;
        const store = await openStore({ name: dbName, logger: createLogger(() => false) });
        const consent = { personalise: true, contribute: false, updatedAt: 1 };
        const engine = createEngineClient({
          dbName,
          engine: { workerUrl: '/dist/no-such-worker.js', autoTrain: false },
          consent: () => consent,
          logger: createLogger(() => false),
          store,
        });
        const recs = await engine.recommend({ k: 4 }, []);
        const trending = await engine.trending(2, []);
        const info = await engine.info();
        engine.dispose();
        store.close();
        return { recs, trending, info };
      },
      { seed },
    );
    expect(result.info.status).toBe('fallback');
    expect(result.info.fallbackReason).toMatch(/worker/i);
    expect(result.recs).toHaveLength(4);
    expect(result.trending).toHaveLength(2);
    await page.close();
  });
});
