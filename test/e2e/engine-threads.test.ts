/**
 * Threaded WASM in the browser: where the shop serves its pages cross-origin isolated (COOP
 * same-origin + COEP require-corp), tfjs loads its threaded WASM build, whose threads start from the
 * factory's own source text; the minified worker once broke there and took the whole engine down.
 * The engine trains and recommends on both kinds of page and info() says how many threads compute.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { errorsOf, launchBrowser, REPO_ROOT, startStaticServer, type Browser, type StaticServer } from './harness.js';

const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

let browser: Browser;
const sites: StaticServer[] = [];

async function site(headers: Record<string, string>, pageScript: string): Promise<StaticServer> {
  const server = await startStaticServer({
    headers,
    handle: (req, res) => {
      if (req.url === '/engine.html') {
        res.writeHead(200, { 'content-type': 'text/html', ...headers }).end('<!doctype html><title>threads</title><script type="module" src="/engine-page.js"></script><p>shop</p>');
        return true;
      }
      if (req.url === '/engine-page.js') {
        res.writeHead(200, { 'content-type': 'text/javascript', ...headers }).end(pageScript);
        return true;
      }
      if (req.url === '/favicon.ico') {
        res.writeHead(204).end();
        return true;
      }
      return false;
    },
  });
  sites.push(server);
  return server;
}

let isolated: StaticServer;
let plain: StaticServer;

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist/hearth.worker.js'))) throw new Error('dist/hearth.worker.js is missing: run `npx rollup -c` first');
  const bundled = await build({
    entryPoints: [join(REPO_ROOT, 'test/fixtures/engine/page-entry.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const pageScript = bundled.outputFiles[0]?.text ?? '';
  isolated = await site(ISOLATION_HEADERS, pageScript);
  plain = await site({}, pageScript);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  for (const s of sites) await s.close();
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
    const { openStore, createEngineClient, createLogger } = (window as any).hearthTest;
    const logger = createLogger(() => false);
    const dbName = 'threads-e2e';
    const store = await openStore({ name: dbName, logger });
    await store.replaceCatalog(Array.from({ length: 100 }, (_, i) => ({ id: 'p' + i, title: 'Product ' + i, price: 10 + i })));
    const events = [];
    let t = Date.now() - 3_600_000;
    for (let r = 0; r < 8; r++) for (let i = 0; i < 10; i++) events.push({ type: 'view_item', time: (t += 1000), session: 's' + r, items: [{ item_id: 'p' + i }], itemIds: ['p' + i] });
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
  test('a cross-origin isolated page trains and recommends on every core; a plain page on one thread', async () => {
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
