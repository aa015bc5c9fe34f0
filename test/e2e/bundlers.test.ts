/**
 * Hearth as an npm user gets it: the packed package installed into a fresh app
 * (test/fixtures/bundler-app), built by webpack 5, esbuild, Rollup and Vite with their default
 * configuration and no Hearth option about workers or wasm, and run in Chromium. The worker and its
 * .wasm files load (the backend is wasm, not the CPU fallback), training works and recommend()
 * answers from the model. esbuild and Rollup do not emit files named by new URL(…, import.meta.url):
 * their apps copy dist/hearth.worker*.js and dist/wasm/ next to the bundle, as the README says, and
 * an app that forgot learns within seconds what is missing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import webpack from 'webpack';
import { build as esbuild } from 'esbuild';
import { rollup } from 'rollup';
import nodeResolve from '@rollup/plugin-node-resolve';
import { build as vite } from 'vite';
import { errorsOf, launchBrowser, REPO_ROOT, startStaticServer, type Browser, type StaticServer } from './harness.js';
import { createPackedApp, type PackedApp } from './packed-app.js';

let app: PackedApp;
/** One server (one origin, so one IndexedDB) per built app. */
const sites = new Map<string, StaticServer>();
let browser: Browser;
const FIXTURE = join(REPO_ROOT, 'test/fixtures/bundler-app');

const page = (script: string, module: boolean): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>app</title><link rel="icon" href="data:,"></head><body><p id="status">loading</p><script ${module ? 'type="module" ' : ''}src="${script}"></script></body></html>`;

/** What an esbuild or Rollup app copies next to its bundle (the README's step). */
function copyWorkerFiles(outDir: string): void {
  const dist = join(app.dir, 'node_modules/hearth/dist');
  for (const file of readdirSync(dist)) if (/^hearth\.worker.*\.js$/.test(file)) cpSync(join(dist, file), join(outDir, file));
  cpSync(join(dist, 'wasm'), join(outDir, 'wasm'), { recursive: true });
}

async function buildWebpack(): Promise<void> {
  const outDir = join(app.dir, 'out-webpack');
  // No config beyond entry and output: node shims, asset rules and worker handling are webpack's defaults.
  const stats = await new Promise<webpack.Stats>((resolve, reject) =>
    webpack({ mode: 'production', context: app.dir, entry: './main.js', output: { path: outDir }, performance: { hints: false } }, (error, result) =>
      error || !result ? reject(error) : resolve(result),
    ),
  );
  if (stats.hasErrors()) throw new Error(stats.toString('errors-only'));
  writeFileSync(join(outDir, 'index.html'), page('main.js', false));
}

async function buildEsbuild(outDir: string, copy: boolean): Promise<void> {
  await esbuild({ absWorkingDir: app.dir, entryPoints: ['main.js'], bundle: true, format: 'esm', outdir: outDir, logLevel: 'silent' });
  if (copy) copyWorkerFiles(outDir);
  writeFileSync(join(outDir, 'index.html'), page('main.js', true));
}

async function buildRollup(): Promise<void> {
  const outDir = join(app.dir, 'out-rollup');
  const bundle = await rollup({ input: join(app.dir, 'main.js'), plugins: [nodeResolve({ browser: true })], logLevel: 'silent' });
  await bundle.write({ dir: outDir, format: 'es' });
  await bundle.close();
  copyWorkerFiles(outDir);
  writeFileSync(join(outDir, 'index.html'), page('main.js', true));
}

async function buildReact(): Promise<void> {
  const outDir = join(app.dir, 'out-react');
  await esbuild({
    absWorkingDir: app.dir,
    entryPoints: ['react-main.js'],
    bundle: true,
    format: 'esm',
    outfile: join(outDir, 'main.js'),
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  copyWorkerFiles(outDir);
  writeFileSync(join(outDir, 'index.html'), page('main.js', true).replace('<p id="status">loading</p>', '<div id="root"></div>'));
}

async function buildVite(): Promise<void> {
  await vite({ configFile: false, logLevel: 'silent', root: app.dir, build: { outDir: join(app.dir, 'out-vite'), emptyOutDir: true } });
}

beforeAll(async () => {
  app = await createPackedApp(['react@19.3.1', 'react-dom@19.3.1']);
  cpSync(join(FIXTURE, 'main.js'), join(app.dir, 'main.js'));
  cpSync(join(REPO_ROOT, 'test/fixtures/react-app/main.js'), join(app.dir, 'react-main.js'));
  cpSync(join(FIXTURE, 'index.html'), join(app.dir, 'index.html'));
  await Promise.all([buildWebpack(), buildEsbuild(join(app.dir, 'out-esbuild'), true), buildEsbuild(join(app.dir, 'out-esbuild-uncopied'), false), buildRollup(), buildVite(), buildReact()]);
  for (const out of ['out-webpack', 'out-esbuild', 'out-esbuild-uncopied', 'out-rollup', 'out-vite', 'out-react']) sites.set(out, await startStaticServer({ root: join(app.dir, out) }));
  browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  for (const site of sites.values()) await site.close();
  await app?.remove();
});

interface AppResult {
  error?: string;
  trainError?: { code: string; message: string };
  ms?: number;
  trained: { recommenderLoss: number | null };
  recs: { itemId: string; source: string; because: unknown[] }[];
  info: { status: string; backend: string | null; fallbackReason: string | null };
}

async function runApp(out: string): Promise<{ result: AppResult; errors: string[]; requests: string[] }> {
  const tab = await browser.newPage();
  const requests: string[] = [];
  tab.on('request', (request) => requests.push(request.url()));
  await tab.goto(`${sites.get(out)!.origin}/index.html`);
  const result = await tab.evaluate(() => (window as unknown as { hearthResult: Promise<AppResult> }).hearthResult);
  const errors = errorsOf(tab);
  await tab.close();
  return { result, errors, requests };
}

describe('Hearth installed from its package and bundled', () => {
  test('a React app with hearth/react: the provider starts Hearth, useRecommendations() answers from the model after training, useIntent() sees the cart', async () => {
    const tab = await browser.newPage();
    await tab.goto(`${sites.get('out-react')!.origin}/index.html`);
    await tab.waitForFunction(
      // Both hooks' refreshes after training must have answered: until then a hook shows its answer
      // from before the cart (the two refreshes finish in either order).
      () => {
        const main = document.querySelector('main');
        return main?.dataset.phase !== 'starting' && main?.dataset.loading === 'false' && main?.dataset.intentLoading === 'false' && document.querySelectorAll('#for-you li').length === 3;
      },
      undefined,
      { timeout: 60_000 },
    );
    const shown = await tab.evaluate(() => ({
      phase: document.querySelector('main')?.dataset.phase,
      items: [...document.querySelectorAll<HTMLElement>('#for-you li')].map((li) => `${li.dataset.item}/${li.dataset.source}`),
      intent: document.getElementById('intent')?.textContent,
      error: document.getElementById('error')?.textContent ?? null,
    }));
    console.log(`react: ${JSON.stringify(shown)}`);
    expect(shown).toMatchObject({ phase: 'trained', error: null, intent: 'cart 1.00' });
    expect(shown.items.every((item) => item.endsWith('/model'))).toBe(true);
    expect(shown.items).not.toContain('sku-2/model'); // just viewed and in the cart (excludeSeen)
    expect(errorsOf(tab)).toEqual([]);
    await tab.close();
  });

  test('npm install of the packed package stays under 80 MB and brings no server, CLI or Node-side tfjs dependency', () => {
    console.log(`install size: ${(app.installBytes / 1e6).toFixed(1)} MB; packages: ${app.installed.join(', ')}`);
    expect(app.installBytes).toBeLessThan(80e6);
    expect(app.installed.sort()).toEqual(['comlink', 'hearth', 'idb']);
  });

  test('hearth-server and hearth-train in an app without their optional peers say what to install, not "Cannot find package"', () => {
    for (const [command, peer] of [
      ['hearth-server', 'fastify'],
      ['hearth-train', '@tensorflow/tfjs-backend-wasm'],
    ] as const) {
      const run = spawnSync(process.execPath, [join(app.dir, 'node_modules/.bin', command), '--help'], { encoding: 'utf8', cwd: app.dir });
      expect(run.status, run.stderr).toBe(1);
      expect(run.stderr).toContain(`${command} needs packages`);
      expect(run.stderr).toMatch(new RegExp(`npm install .*${peer.replace('/', '\\/')}`));
      expect(run.stderr).not.toContain('Cannot find package');
    }
    // With the peers (this repository has them all), the same executables start their CLI.
    for (const bin of ['dist/server/bin.js', 'dist/cli/bin.js']) {
      const run = spawnSync(process.execPath, [join(REPO_ROOT, bin), '--help'], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/Usage|--help/);
    }
  });

  test('the package holds only what this build made: every declaration file has its source, one worker chunk of each name', () => {
    const dist = join(app.dir, 'node_modules/hearth/dist');
    const declarations = (dir: string): string[] =>
      readdirSync(join(dist, 'types', dir), { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? declarations(join(dir, entry.name)) : entry.name.endsWith('.d.ts') ? [join(dir, entry.name)] : [],
      );
    const orphans = declarations('').filter((file) => !existsSync(join(REPO_ROOT, 'src', file.replace(/\.d\.ts$/, '.ts'))));
    expect(orphans, 'declarations left from an earlier build').toEqual([]);
    const chunks = readdirSync(dist).filter((file) => /^hearth\.worker\..+-[\w-]+\.js$/.test(file));
    expect(new Set(chunks.map((file) => file.replace(/-[\w-]+\.js$/, ''))).size).toBe(chunks.length);
  });

  test('no browser bundle names a Node global or require()s a module (webpack and Vite would act on them)', () => {
    const dist = join(app.dir, 'node_modules/hearth/dist');
    for (const file of readdirSync(dist).filter((f) => f.endsWith('.js'))) {
      expect(readFileSync(join(dist, file), 'utf8'), file).not.toMatch(/\b__filename\b|\b__dirname\b|\brequire\(/);
    }
  });

  for (const [bundler, out] of [
    ['a webpack 5', 'out-webpack'],
    ['an esbuild', 'out-esbuild'],
    ['a Rollup', 'out-rollup'],
    ['a Vite', 'out-vite'],
  ] as const) {
    test(`${bundler} app loads the worker and its wasm without configuration, trains and recommends from the model`, async () => {
      const { result, errors, requests } = await runApp(out);
      console.log(`${bundler}: ${JSON.stringify({ backend: result.info?.backend, recs: result.recs?.map((r) => `${r.itemId}/${r.source}`), error: result.error ?? result.trainError })}`);
      expect(result.error).toBeUndefined();
      expect(result.trainError).toBeUndefined();
      expect(result.info.status).not.toBe('fallback');
      expect(result.info.backend).toBe('wasm');
      expect(requests.some((url) => url.endsWith('.wasm'))).toBe(true);
      expect(result.trained.recommenderLoss).toBeGreaterThan(0);
      expect(result.recs[0]).toMatchObject({ itemId: 'sku-3', source: 'model' });
      expect(result.recs[0]!.because.length).toBeGreaterThan(0);
      expect(errors).toEqual([]);
    });
  }

  test('an esbuild app without the worker files learns within seconds what is missing, and train() rejects with engine_unavailable', async () => {
    const { result } = await runApp('out-esbuild-uncopied');
    console.log(`esbuild without the copy: ${JSON.stringify(result.trainError)} after ${Math.round(result.ms ?? -1)} ms`);
    expect(result.trainError?.code).toBe('engine_unavailable');
    expect(result.ms).toBeLessThan(10_000);
    expect(result.info.status).toBe('fallback');
    expect(result.info.fallbackReason).toContain(`${sites.get('out-esbuild-uncopied')!.origin}/hearth.worker.js`);
    expect(result.info.fallbackReason).toContain('HTTP 404');
    expect(result.info.fallbackReason).toContain('engine.workerUrl');
  });
});
