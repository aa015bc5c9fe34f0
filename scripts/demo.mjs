#!/usr/bin/env node
/**
 * `npm run demo`: builds Hearth, generates the demo shop, trains a starting model with the
 * `hearth-train` CLI, starts the aggregation server (seeded with that model) and a static server for
 * the storefront, all on 127.0.0.1, and prints the URL. Ctrl-C stops both.
 *
 * Environment: PORT (storefront, default 8080), HEARTH_SERVER_PORT (aggregation server, default
 * 8787), HEARTH_DEMO_MINUTES (training budget, default 1), HEARTH_DEMO_REBUILD=1 (force a build).
 *
 * `startDemo()` is exported for the end-to-end test.
 */
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateShop, GENERATOR_VERSION } from './generate-shop.mjs';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
const DEMO_DIR = join(REPO_ROOT, 'demo');
const DIST_DIR = join(REPO_ROOT, 'dist');
const GENERATED = join(DEMO_DIR, 'generated');
export const DEMO_SITE_KEY = 'demo-site-key-hearth';
/** The demo's analyst key: the experiments page reads results with it (a real shop keeps it on its back office). */
export const DEMO_REPORT_KEY = 'demo-report-key-hearth';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.csv': 'text/csv; charset=utf-8',
};

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function run(command, args, log) {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (chunk) => {
      for (const line of String(chunk).split('\n')) if (line.trim()) log(`  ${line}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

/** Builds dist/ with rollup unless it is newer than every source file. */
async function build(log, force) {
  const outputs = ['hearth.iife.js', 'hearth.runtime.js', 'hearth.worker.js', 'server/index.js', 'cli/train.js'].map((f) => join(DIST_DIR, f));
  const built = outputs.every((f) => existsSync(f)) ? Math.min(...outputs.map((f) => statSync(f).mtimeMs)) : 0;
  const sources = Math.max(newestMtime(join(REPO_ROOT, 'src')), newestMtime(join(REPO_ROOT, 'workers')));
  if (!force && built > sources) {
    log('demo: dist/ is up to date');
    return;
  }
  log('demo: building dist/ (rollup)…');
  await run(process.execPath, [join(REPO_ROOT, 'node_modules/rollup/dist/bin/rollup'), '-c', '--silent'], log);
}

/** Bumped when hearth-train writes something new (2: items carry their popularity; 3: the intent model too; 4: neighbours.bin, format 2). */
const TRAINER_VERSION = 4;

/** Generates the shop and trains the starting model unless the same inputs were used before. */
async function prepareShop(log, { minutes, epochs, reuseModel }) {
  const stampPath = join(GENERATED, 'model', 'stamp.json');
  const stamp = JSON.stringify({ generator: GENERATOR_VERSION, trainer: TRAINER_VERSION, minutes, epochs });
  const metaPath = join(GENERATED, 'shop-meta.json');
  const meta = existsSync(metaPath) ? JSON.parse(readFileSync(metaPath, 'utf8')) : null;
  if (meta?.generatorVersion !== GENERATOR_VERSION || !existsSync(join(GENERATED, 'catalog.json'))) {
    const result = generateShop({ out: GENERATED });
    log(`demo: generated ${result.products} products and ${result.events} history events from ${result.shoppers} shoppers`);
  } else {
    log(`demo: shop already generated (${meta.products} products)`);
  }
  const previous = existsSync(stampPath) ? readFileSync(stampPath, 'utf8') : null;
  const trained = previous !== null && existsSync(join(GENERATED, 'model', 'weights.bin'));
  // reuseModel (the e2e test): any model trained on this generator's shop will do.
  if (trained && (previous === stamp || (reuseModel && JSON.parse(previous).generator === GENERATOR_VERSION && JSON.parse(previous).trainer === TRAINER_VERSION))) {
    log('demo: starting model already trained');
    return;
  }
  log(`demo: training the starting model (hearth-train, ≤ ${minutes} min)…`);
  await run(
    process.execPath,
    [
      join(DIST_DIR, 'cli/train.js'),
      '--input',
      join(GENERATED, 'history.csv'),
      '--catalog',
      join(GENERATED, 'catalog.json'),
      '--out',
      join(GENERATED, 'model'),
      '--epochs',
      String(epochs),
      '--minutes',
      String(minutes),
      '--intent',
    ],
    log,
  );
  writeFileSync(stampPath, stamp);
}

/**
 * The storefront's static server: demo/ at `/`, dist/ at `/dist/`. HTML pages get the aggregation
 * server's URL and the site key filled in (as a shop's server-side templates would), and every
 * response carries a strict Content-Security-Policy: no inline script or style anywhere.
 */
function createStaticServer(getConfig) {
  return createServer((req, res) => {
    void (async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        let pathname = decodeURIComponent(url.pathname);
        if (pathname === '/') pathname = '/index.html';
        const fromDist = pathname.startsWith('/dist/');
        const root = fromDist ? DIST_DIR : DEMO_DIR;
        const path = normalize(join(root, fromDist ? pathname.slice('/dist'.length) : pathname));
        if (!path.startsWith(root)) {
          res.writeHead(403).end();
          return;
        }
        const info = await stat(path).catch(() => undefined);
        if (!info?.isFile()) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
          return;
        }
        const { serverUrl, siteKey } = getConfig();
        let body = await readFile(path);
        const ext = extname(path);
        if (ext === '.html') {
          // Product pages are "server-rendered" with their SKU, as a shop's templates would do, so
          // the tracker sees `data-hearth-page-item` at start. Only SKU characters survive.
          const productId = (url.searchParams.get('id') ?? '').replace(/[^A-Za-z0-9_-]/g, '').slice(0, 40);
          body = Buffer.from(
            String(body).replaceAll('__HEARTH_SERVER__', serverUrl).replaceAll('__SITE_KEY__', siteKey).replaceAll('__REPORT_KEY__', DEMO_REPORT_KEY).replaceAll('__PRODUCT_ID__', productId),
          );
        }
        res.writeHead(200, {
          'content-type': MIME[ext] ?? 'application/octet-stream',
          'cache-control': 'no-cache',
          'content-security-policy': `default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self' ${serverUrl}; img-src 'self' data: blob:; style-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'`,
          'x-content-type-options': 'nosniff',
        });
        res.end(body);
      } catch (error) {
        res.writeHead(500).end(String(error));
      }
    })();
  });
}

function listen(server, port) {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      done(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/**
 * Simulated shoppers for the experiments page, so its chart has a week of history: 7 daily
 * releases of 1,000 devices' 0/1 reports (add-to-cart 12 % with the bestsellers, 18 % with "For you";
 * purchase 4 % and 6 %), each through the server's own checks and noise.
 */
async function seedExperiment(aggregation) {
  const rounds = aggregation.experiments;
  if (!rounds) return;
  const entry = rounds.experiment('home-recs');
  let seed = 7;
  // mulberry32: reproducible simulated shoppers.
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const id = () => Array.from({ length: 22 }, () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[Math.floor(random() * 64)]).join('');
  for (let day = 0; day < 7; day++) {
    const roundId = rounds.roundId;
    const reports = Array.from({ length: 1_000 }, () => {
      const v = random() < 0.5 ? 0 : 1;
      const cells = new Array(rounds.layout.length).fill('0');
      const base = entry.offset + v * entry.rowCells;
      cells[base] = '1';
      if (random() < [0.12, 0.18][v]) cells[base + 1] = '1';
      if (random() < [0.04, 0.06][v]) cells[base + 2] = '1';
      return { reportId: id(), layoutId: rounds.layoutId, cells: cells.join('') };
    });
    // Submitted together, so the day's reports join one round before it releases (minClients is 1).
    await Promise.all(reports.map((report) => rounds.submitVector(roundId, report)));
    await rounds.flush();
  }
}

/**
 * Starts the whole demo. Resolves with the storefront URL, the aggregation server URL and `close()`.
 *
 * @example
 * ```js
 * const demo = await startDemo({ port: 0, serverPort: 0, minutes: 0.3 });
 * console.log(demo.url); await demo.close();
 * ```
 */
export async function startDemo(options = {}) {
  const log = options.log ?? ((line) => console.log(line));
  const port = options.port ?? Number(process.env.PORT ?? 8080);
  const serverPort = options.serverPort ?? Number(process.env.HEARTH_SERVER_PORT ?? 8787);
  const minutes = options.minutes ?? Number(process.env.HEARTH_DEMO_MINUTES ?? 1);
  const epochs = options.epochs ?? 8;
  const started = performance.now();

  if (options.build !== false) await build(log, process.env.HEARTH_DEMO_REBUILD === '1');
  else if (!existsSync(join(DIST_DIR, 'hearth.iife.js'))) throw new Error('dist/ is not built: run npm run build first');
  await prepareShop(log, { minutes, epochs, reuseModel: options.reuseModel === true });

  const config = { serverUrl: 'http://127.0.0.1', siteKey: DEMO_SITE_KEY };
  const staticServer = createStaticServer(() => config);
  const actualPort = await listen(staticServer, port);
  const origin = `http://127.0.0.1:${actualPort}`;

  // The aggregation server, seeded with the starting model. Its state is the demo's own: wiped on start.
  const dataDir = join(REPO_ROOT, '.hearth-data', `demo-server-${actualPort}`);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const { createAggregationServer, createExperimentMemoryStore } = await import(pathToFileURL(join(DIST_DIR, 'server/index.js')).href);
  const aggregation = await createAggregationServer({
    dataDir,
    modelDir: join(GENERATED, 'model'),
    siteKeys: [DEMO_SITE_KEY],
    origins: [origin],
    minClients: options.minClients ?? 2,
    // DP-FedAvg on the sum, so the federated panel has an ε to show.
    noiseMultiplier: 1,
    population: 100,
    clip: 1,
    clientNoise: 0.01,
    // The experiments page's A/B test: counted privately, read with the demo's report key.
    experiments: [{ name: 'home-recs', variants: ['bestsellers', 'model'], metrics: ['add_to_cart', 'purchase'], windowHours: 0.05, epsilon: 1 }],
    experimentsChannel: 'central',
    experimentsMinClients: 1,
    reportKeys: [DEMO_REPORT_KEY],
    // The demo's reports live in memory (it wipes its state on start anyway): seeding stays quick.
    experimentStore: createExperimentMemoryStore(),
  });
  await seedExperiment(aggregation);
  config.serverUrl = await aggregation.listen({ port: serverPort, host: '127.0.0.1' });

  const seconds = (performance.now() - started) / 1000;
  log(`demo: aggregation server on ${config.serverUrl} (site key ${DEMO_SITE_KEY}, ${aggregation.options.minClients} clients per round)`);
  log(`demo: ready in ${seconds.toFixed(1)} s`);
  log(`\n  Hearth demo shop:  ${origin}/\n`);

  let closed = false;
  return {
    url: `${origin}/`,
    origin,
    serverUrl: config.serverUrl,
    seconds,
    async close() {
      if (closed) return;
      closed = true;
      staticServer.closeAllConnections?.();
      await Promise.all([new Promise((done) => staticServer.close(() => done())), aggregation.close()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const demo = await startDemo();
    const stop = () => {
      console.log('\ndemo: stopping…');
      demo.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    console.log('  Press Ctrl-C to stop.');
  } catch (error) {
    console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
    if (error?.code === 'EADDRINUSE') console.error('demo: a port is taken; set PORT / HEARTH_SERVER_PORT to free ones.');
    process.exit(1);
  }
}
