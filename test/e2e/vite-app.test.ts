/**
 * npm users: a minimal app under test/fixtures/vite-app imports `hearth` by its package name and is
 * built with Vite (which bundles the worker it finds through `new Worker(new URL(…, import.meta.url))`),
 * served on 127.0.0.1 and run in Chromium: the worker loads, trains and recommend() answers.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import { errorsOf, launchBrowser, REPO_ROOT, startStaticServer, type Browser, type StaticServer } from './harness.js';

let outDir = '';
let site: StaticServer;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist/hearth.js')) || !existsSync(join(REPO_ROOT, 'dist/hearth.worker.js'))) throw new Error('dist/ is missing: run `npx rollup -c` first');
  outDir = await mkdtemp(join(tmpdir(), 'hearth-vite-'));
  await build({
    configFile: false,
    logLevel: 'warn',
    root: join(REPO_ROOT, 'test/fixtures/vite-app'),
    // What an app's vite.config would say: the package by name, the .wasm files served from the root.
    resolve: { alias: { hearth: join(REPO_ROOT, 'dist/hearth.js') } },
    publicDir: join(REPO_ROOT, 'dist/wasm'),
    worker: { format: 'es' },
    build: { outDir, emptyOutDir: true, minify: false },
  });
  site = await startStaticServer({ root: outDir });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

test('a Vite-built app that imports hearth loads the worker, trains and recommends', async () => {
  const assets = readdirSync(join(outDir, 'assets'));
  expect(assets.some((f) => /worker/.test(f))).toBe(true);
  const page = await browser.newPage();
  await page.goto(`${site.origin}/index.html`);
  const result = await page.evaluate(() => (window as unknown as { hearthResult: Promise<any> }).hearthResult);
  console.log(
    `vite e2e: ${JSON.stringify({ backend: result.info?.backend, reason: result.info?.backendReason, recs: result.recs?.map((r: { itemId: string; source: string }) => `${r.itemId}/${r.source}`), error: result.error })}`,
  );
  expect(result.error).toBeUndefined();
  expect(result.info.status).not.toBe('fallback');
  expect(result.info.backend).toBe('wasm');
  expect(result.trained.recommenderLoss).toBeGreaterThan(0);
  expect(result.recs).toHaveLength(3);
  expect(result.recs[0]).toMatchObject({ itemId: 'sku-3', source: 'model' });
  expect(result.recs[0].because.length).toBeGreaterThan(0);
  expect(errorsOf(page)).toEqual([]);
  await page.close();
});
