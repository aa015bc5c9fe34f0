#!/usr/bin/env node
// `npm run bench:speed [-- --quick] [-- --backends wasm,cpu,webgpu,webgl]`: recommend() latency (p50/p95) at 1k, 10k and 100k catalog
// items with 50 events of history, served as a shop serves it (the model blended with a full
// item-neighbour table, every item explained, and again with explain: false), and training throughput (events/s), in Node (cpu, wasm, through
// EngineCore) and in Chromium (webgpu, webgl, wasm, through the real worker dist/hearth.worker.js);
// the longtask check (no main-thread task > 50 ms while the worker trains); the worker's gzipped
// size. One table at the end, with ratios to the targets.
//
// The Node half is TypeScript from src/, bundled on the fly with esbuild (like bench/run-ts.mjs).
// Needs a built worker (`npx rollup -c`) and Chromium at /usr/bin/chromium (or HEARTH_CHROMIUM).
import { build } from 'esbuild';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { readFile, stat, mkdtemp, rm } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    // e.g. `--backends wasm` to re-measure one backend on a quiet machine.
    backends: { type: 'string', default: 'wasm,cpu,webgpu,webgl' },
  },
});
const quick = flags.quick;
const wanted = (backend) => flags.backends.split(',').includes(backend);
const root = resolve(import.meta.dirname, '..');
const SIZES = [1_000, 10_000, 100_000];
const HISTORY = 50;
const REPS = quick ? { warm: 3, runs: 15 } : { warm: 5, runs: 60 };
const TRAIN_EVENTS = quick ? 600 : 2_000;
const rows = [];
const started = Date.now();
const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s]`, ...a);

const percentile = (values, p) => {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// ---------- Node: EngineCore on cpu and wasm ----------
const NODE_ENTRY = `
import 'fake-indexeddb/auto';
import { setupNodeRuntime } from './src/train/node-runtime.ts';
import { openStore } from './src/store/open-store.ts';
import { EngineCore } from './src/worker/engine-core.ts';
import { createRecommender } from './src/model/sasrec-recommender.ts';
import { saveModelArtifacts } from './src/model/model-artifacts.ts';
import { ItemNeighbours } from './src/model/item-neighbours.ts';
import { silentLogger } from './src/shared/logger.ts';

const granted = { personalise: true, contribute: false, updatedAt: 1 };
export const catalog = (n) => Array.from({ length: n }, (_, i) => ({ id: 'p' + i, title: 'P' + i, category: 'c' + (i % 50), brand: 'b' + (i % 20), price: 5 + (i % 300), inStock: true }));
export const history = (n, count, t0 = Date.now() - 3_600_000) =>
  Array.from({ length: count }, (_, i) => ({ type: i % 10 === 9 ? 'add_to_cart' : 'view_item', time: t0 + i * 1000, session: 's' + Math.floor(i / 25), items: [{ item_id: 'p' + ((i * 37) % n) }], itemIds: ['p' + ((i * 37) % n)] }));
export async function setup(backend) { return setupNodeRuntime(backend); }
/** A full neighbour table, as hearth-train ships it: 20 neighbours for every item (the worst case for serving). */
function neighbours(n) {
  const per = Math.min(20, n - 1);
  const offsets = Int32Array.from({ length: n + 2 }, (_, r) => (r === 0 ? 0 : Math.min(r - 1, n) * per));
  const ids = new Int32Array(n * per);
  const counts = new Float32Array(n * per);
  for (let i = 0; i < n; i++) for (let j = 0; j < per; j++) {
    ids[i * per + j] = 1 + ((i + (j + 1) * 37) % n);
    counts[i * per + j] = per - j;
  }
  return new ItemNeighbours({ offsets, ids, counts });
}
/** The default model with the item-neighbour blend, as a shop's starting model would be. */
function startingModel(n) {
  const model = createRecommender({ items: catalog(n).map(({ id, category, brand, price }) => ({ id, category, brand, price })) });
  model.setNeighbours(neighbours(n));
  return model;
}
export function artifacts(n) {
  const model = startingModel(n);
  const out = saveModelArtifacts(model);
  model.dispose();
  return out;
}
export async function latency(n, reps) {
  const store = await openStore({ name: 'speed-' + n + '-' + Math.random(), logger: silentLogger });
  await store.replaceCatalog(catalog(n));
  await store.appendEvents(history(n, ${HISTORY}));
  const model = startingModel(n);
  await store.putCheckpoint(model.toCheckpoint());
  model.dispose();
  const core = new EngineCore({ store, logger: silentLogger });
  await core.start();
  // The default call and one with explain: false, interleaved so that both see the same machine.
  const times = { explained: [], unexplained: [] };
  for (let i = 0; i < reps.warm + reps.runs; i++) {
    for (const [key, options] of [['explained', { k: 10 }], ['unexplained', { k: 10, explain: false }]]) {
      const t = performance.now();
      const recs = await core.recommend(options, [], granted);
      if (recs[0]?.source !== 'model') throw new Error('not served by the model');
      if (i >= reps.warm) times[key].push(performance.now() - t);
    }
  }
  await core.close();
  await store.destroy();
  return times;
}
export async function training(events) {
  const store = await openStore({ name: 'speed-train-' + Math.random(), logger: silentLogger });
  await store.replaceCatalog(catalog(1000));
  await store.appendEvents(history(1000, events));
  const core = new EngineCore({ store, logger: silentLogger, options: { trainEpochs: 1 } });
  await core.start();
  const t = performance.now();
  const result = await core.train(granted);
  const seconds = (performance.now() - t) / 1000;
  await core.close();
  await store.destroy();
  return { seconds, result };
}
`;

async function nodePart() {
  const outDir = join(root, 'node_modules/.cache/hearth-speed');
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, `node-part-${process.pid}.mjs`);
  await build({
    stdin: { contents: NODE_ENTRY, resolveDir: root, loader: 'ts', sourcefile: 'speed-node.ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile,
    logLevel: 'warning',
  });
  return import(pathToFileURL(outfile).href);
}

// ---------- Chromium: the real worker ----------
const MIME = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.map': 'application/json',
};

async function startServer(routes) {
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const route = routes.get(url.pathname);
      if (route) {
        res.writeHead(200, { 'content-type': route.type, 'cache-control': 'no-store' }).end(route.body);
        return;
      }
      const path = normalize(join(root, decodeURIComponent(url.pathname)));
      if (!path.startsWith(root) || !(await stat(path).catch(() => null))?.isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': MIME[extname(path)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(await readFile(path));
    })();
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((done) => server.close(done)) };
}

const PAGE_ENTRY = `
import { createEngineClient } from './src/client/engine-client.ts';
import { openStore } from './src/store/open-store.ts';
import { createLogger } from './src/shared/logger.ts';
window.hearthTest = { createEngineClient, openStore, createLogger };
`;

async function chromiumPart(node) {
  const { chromium } = await import('playwright-core');
  const executablePath = process.env.HEARTH_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    log(`Chromium not found at ${executablePath}: browser rows skipped`);
    return;
  }
  if (!existsSync(join(root, 'dist/hearth.worker.js'))) {
    log('dist/hearth.worker.js missing (run `npx rollup -c`): browser rows skipped');
    return;
  }
  const page = await build({
    stdin: { contents: PAGE_ENTRY, resolveDir: root, loader: 'ts', sourcefile: 'speed-page.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'warning',
  });
  const routes = new Map([
    ['/speed.html', { type: 'text/html', body: '<!doctype html><title>speed</title><script type="module" src="/speed-page.js"></script><p>shop</p>' }],
    ['/speed-page.js', { type: 'text/javascript', body: page.outputFiles[0].text }],
    ['/favicon.ico', { type: 'image/x-icon', body: '' }],
  ]);
  for (const n of SIZES) {
    const { modelJson, weightData, tableData } = node.artifacts(n);
    routes.set(`/models/${n}/model.json`, { type: 'application/json', body: JSON.stringify(modelJson) });
    routes.set(`/models/${n}/weights.bin`, { type: 'application/octet-stream', body: Buffer.from(weightData.buffer, weightData.byteOffset, weightData.byteLength) });
    routes.set(`/models/${n}/neighbours.bin`, { type: 'application/octet-stream', body: Buffer.from(tableData.buffer, tableData.byteOffset, tableData.byteLength) });
  }
  const server = await startServer(routes);
  const profile = await mkdtemp(join(tmpdir(), 'hearth-speed-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--enable-unsafe-webgpu',
      '--enable-unsafe-swiftshader',
    ],
  });
  try {
    const tab = await context.newPage();
    await tab.goto(`${server.origin}/speed.html`);
    await tab.waitForFunction(() => 'hearthTest' in window);
    const backends = ['webgpu', 'webgl', 'wasm'].filter(wanted);
    for (const backend of backends) {
      for (const n of SIZES) {
        // WebGPU on a software adapter takes ~0.2-1 s per call at 100k: fewer runs there.
        const reps = backend === 'wasm' ? REPS : { warm: 2, runs: quick ? 5 : 15 };
        const result = await tab.evaluate(
          async ({ n, backend, reps, history }) => {
            const { createEngineClient, openStore, createLogger } = window.hearthTest;
            const logger = createLogger(() => false);
            const dbName = `speed-${backend}-${n}`;
            const store = await openStore({ name: dbName, logger });
            await store.replaceCatalog(Array.from({ length: n }, (_, i) => ({ id: 'p' + i, title: 'P' + i, category: 'c' + (i % 50), brand: 'b' + (i % 20), price: 5 + (i % 300), inStock: true })));
            const t0 = Date.now() - 3_600_000;
            await store.appendEvents(
              Array.from({ length: history }, (_, i) => ({
                type: i % 10 === 9 ? 'add_to_cart' : 'view_item',
                time: t0 + i * 1000,
                session: 's' + Math.floor(i / 25),
                items: [{ item_id: 'p' + ((i * 37) % n) }],
                itemIds: ['p' + ((i * 37) % n)],
              })),
            );
            store.close();
            const consent = { personalise: true, contribute: false, updatedAt: 1 };
            const engine = createEngineClient({
              dbName,
              engine: { workerUrl: '/dist/hearth.worker.js', backend, autoTrain: false, modelUrl: `/models/${n}/model.json` },
              consent: () => consent,
              logger,
            });
            const info = await engine.info();
            // The default call and one with explain: false, interleaved.
            const times = { explained: [], unexplained: [] };
            let source = '';
            try {
              for (let i = 0; i < reps.warm + reps.runs; i++) {
                for (const [key, options] of [
                  ['explained', { k: 10 }],
                  ['unexplained', { k: 10, explain: false }],
                ]) {
                  const t = performance.now();
                  const recs = await engine.recommend(options, []);
                  source = recs[0]?.source ?? 'none';
                  if (i >= reps.warm) times[key].push(performance.now() - t);
                }
              }
            } catch (error) {
              source = `error: ${error.message}`;
            }
            // A GPU backend that fails at run time moves the engine to WASM: then these are not its figures.
            const after = await engine.info();
            if (after.backend !== info.backend) source = `moved to ${after.backend}: ${after.backendReason.slice(0, 90)}`;
            await engine.reset();
            engine.dispose();
            await new Promise((done) => {
              const r = indexedDB.deleteDatabase(dbName);
              r.onsuccess = r.onerror = r.onblocked = () => done(undefined);
            });
            return { times, backend: info.backend, reason: info.backendReason, source };
          },
          { n, backend, reps, history: HISTORY },
        );
        const ok = result.backend === backend && result.source === 'model' && result.times.explained.length > 0;
        for (const [key, suffix] of [
          ['explained', ''],
          ['unexplained', ', explain: false'],
        ]) {
          rows.push({
            where: 'chromium',
            backend,
            what: `recommend ${n / 1000}k${suffix}`,
            p50: ok ? percentile(result.times[key], 50) : null,
            p95: ok ? percentile(result.times[key], 95) : null,
            note: ok ? '' : `ran on ${result.backend}, ${result.source}`,
          });
        }
        log(
          `chromium ${backend} ${n}: ${ok ? `p50 ${percentile(result.times.explained, 50).toFixed(2)} ms (explain: false ${percentile(result.times.unexplained, 50).toFixed(2)} ms)` : `not measured (${result.backend}: ${result.source})`}`,
        );
      }
    }
    for (const backend of ['wasm', 'webgl', 'webgpu'].filter(wanted)) {
      const result = await tab.evaluate(
        async ({ backend, events }) => {
          const { createEngineClient, openStore, createLogger } = window.hearthTest;
          const logger = createLogger(() => false);
          const dbName = `speed-train-${backend}`;
          const store = await openStore({ name: dbName, logger });
          await store.replaceCatalog(Array.from({ length: 1000 }, (_, i) => ({ id: 'p' + i, title: 'P' + i, category: 'c' + (i % 50), inStock: true })));
          const t0 = Date.now() - 86_400_000;
          await store.appendEvents(
            Array.from({ length: events }, (_, i) => ({
              type: 'view_item',
              time: t0 + i * 1000,
              session: 's' + Math.floor(i / 25),
              items: [{ item_id: 'p' + ((i * 37) % 1000) }],
              itemIds: ['p' + ((i * 37) % 1000)],
            })),
          );
          store.close();
          const consent = { personalise: true, contribute: false, updatedAt: 1 };
          const engine = createEngineClient({ dbName, engine: { workerUrl: '/dist/hearth.worker.js', backend, autoTrain: false, trainEpochs: 1 }, consent: () => consent, logger });
          const before = await engine.info();
          const longTasks = [];
          const observer = new PerformanceObserver((list) => {
            for (const entry of list.getEntries()) longTasks.push(entry.duration);
          });
          observer.observe({ type: 'longtask' });
          // The page keeps working meanwhile: a small task every 20 ms, as a shop page would.
          let ticks = 0;
          const timer = setInterval(() => ticks++, 20);
          const t = performance.now();
          const result = await engine.train();
          const seconds = (performance.now() - t) / 1000;
          const info = await engine.info();
          if (info.backend !== before.backend) result.recommenderLoss = null;
          clearInterval(timer);
          await new Promise((done) => setTimeout(done, 100));
          observer.disconnect();
          await engine.reset();
          engine.dispose();
          await new Promise((done) => {
            const r = indexedDB.deleteDatabase(dbName);
            r.onsuccess = r.onerror = r.onblocked = () => done(undefined);
          });
          return { seconds, result, backend: info.backend, longTasks, ticks };
        },
        { backend, events: backend === 'wasm' ? TRAIN_EVENTS : Math.min(TRAIN_EVENTS, 300) },
      );
      const events = backend === 'wasm' ? TRAIN_EVENTS : Math.min(TRAIN_EVENTS, 300);
      const ok = result.backend === backend && result.result.recommenderLoss !== null;
      rows.push({
        where: 'chromium',
        backend,
        what: 'train events/s',
        value: ok ? events / result.seconds : null,
        note: ok
          ? `${events} events, 1 epoch, ${result.seconds.toFixed(1)} s`
          : `failed on ${backend}, ran on ${result.backend} (SwiftShader WebGPU loses its device while training; the engine moves to WASM)`,
      });
      const longest = result.longTasks.length ? Math.max(...result.longTasks) : 0;
      rows.push({
        where: 'chromium',
        backend,
        what: 'main-thread tasks > 50 ms while training',
        value: result.longTasks.length,
        note: `longest ${longest.toFixed(0)} ms; ${result.ticks} page ticks ran`,
      });
      log(`chromium train ${backend}: ${ok ? `${(events / result.seconds).toFixed(0)} events/s` : 'failed'}, long tasks ${result.longTasks.length}`);
    }
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
    await server.close();
  }
}

// ---------- run ----------
const node = await nodePart();
for (const backend of ['wasm', 'cpu'].filter(wanted)) {
  await node.setup(backend);
  for (const n of SIZES) {
    const reps = backend === 'cpu' && n === 100_000 ? { warm: 2, runs: quick ? 5 : 20 } : REPS;
    const times = await node.latency(n, reps);
    rows.push({ where: 'node', backend, what: `recommend ${n / 1000}k`, p50: percentile(times.explained, 50), p95: percentile(times.explained, 95), note: '' });
    rows.push({ where: 'node', backend, what: `recommend ${n / 1000}k, explain: false`, p50: percentile(times.unexplained, 50), p95: percentile(times.unexplained, 95), note: '' });
    log(`node ${backend} ${n}: p50 ${percentile(times.explained, 50).toFixed(2)} ms (explain: false ${percentile(times.unexplained, 50).toFixed(2)} ms)`);
  }
  const events = backend === 'cpu' ? Math.min(TRAIN_EVENTS, 300) : TRAIN_EVENTS;
  const { seconds, result } = await node.training(events);
  rows.push({ where: 'node', backend, what: 'train events/s', value: events / seconds, note: `${events} events, 1 epoch, ${seconds.toFixed(1)} s, loss ${result.recommenderLoss?.toFixed(3)}` });
  log(`node train ${backend}: ${(events / seconds).toFixed(0)} events/s`);
}
// The Chromium part builds its models in Node: a backend is needed even when no Node row is.
if (!wanted('wasm') && !wanted('cpu')) await node.setup('wasm');
await chromiumPart(node);

const gz = (file) => gzipSync(readFileSync(file)).length;
const workerGz = existsSync(join(root, 'dist/hearth.worker.js')) ? gz(join(root, 'dist/hearth.worker.js')) : null;
const workerSource = workerGz !== null ? readFileSync(join(root, 'dist/hearth.worker.js'), 'utf8') : '';
// Only the chunks this build of the worker imports (older builds leave theirs behind).
const chunks = existsSync(join(root, 'dist')) ? readdirSync(join(root, 'dist')).filter((f) => /^hearth\.worker\..+\.js$/.test(f) && workerSource.includes(f)) : [];
const wasmFiles = existsSync(join(root, 'dist/wasm')) ? readdirSync(join(root, 'dist/wasm')) : [];

console.log(
  '\nHearth bench:speed' +
    (quick ? ' (--quick)' : '') +
    ` — ${HISTORY} events of history, k = 10, default model (64 dims, 2 blocks, 50 events) blended with 20 neighbours per item, each answer explained (6 events hidden in turn) unless explain: false`,
);
console.log('where     backend  measure                                     p50 ms    p95 ms   value      target        ratio   note');
const target = (r) => (r.where === 'chromium' && r.backend === 'wasm' && r.what.startsWith('recommend 10k') ? 10 : null);
for (const r of rows) {
  const t = target(r);
  const isLong = r.what.startsWith('main-thread');
  const tgt = t !== null ? `p50 < ${t} ms` : isLong ? '0' : '';
  const ratio = t !== null && r.p50 != null ? `${(r.p50 / t).toFixed(2)}×` : isLong && r.value != null ? (r.value === 0 ? 'ok' : 'FAIL') : '';
  console.log(
    `${r.where.padEnd(9)} ${r.backend.padEnd(8)} ${r.what.padEnd(42)} ${(r.p50 != null ? r.p50.toFixed(2) : r.value === undefined ? '—' : '').padStart(8)} ${(r.p95 != null ? r.p95.toFixed(2) : '').padStart(9)}   ${(r.value != null ? r.value.toFixed(r.value < 100 ? 1 : 0) : '').padEnd(10)} ${tgt.padEnd(13)} ${ratio.padStart(6)}   ${r.note}`,
  );
}
if (workerGz !== null) {
  console.log(`worker    dist/hearth.worker.js gzipped: ${(workerGz / 1024).toFixed(1)} KB (target < 250 KB: ${(workerGz / 1024 / 250).toFixed(2)}×)`);
  for (const c of chunks) console.log(`          + on-demand chunk ${c}: ${(gz(join(root, 'dist', c)) / 1024).toFixed(1)} KB gz (WebGL, loaded only on a hardware renderer)`);
  for (const w of wasmFiles) console.log(`          + dist/wasm/${w}: ${(gz(join(root, 'dist/wasm', w)) / 1024).toFixed(0)} KB gz`);
}
console.log(`total ${((Date.now() - started) / 1000).toFixed(0)} s`);
