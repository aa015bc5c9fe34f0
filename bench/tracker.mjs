#!/usr/bin/env node
// bench:tracker — how long `track()` takes on the main thread, in headless Chromium, against the
// built script tag (run `npm run build` first). Prints the figures; the budget (median < 0.05 ms)
// is enforced by test/e2e/tracker-browser.test.ts.
//
// performance.now() is clamped to 100 µs on pages that are not cross-origin isolated, so single
// calls cannot be timed; each sample times a batch of calls and divides. Usage:
//   node bench/tracker.mjs [--calls 10000] [--batch 100]
import { createServer } from 'node:http';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const calls = option('calls', 10_000);
const batch = option('batch', 100);
const chromiumPath = process.env.HEARTH_CHROMIUM ?? '/usr/bin/chromium';

if (!existsSync(join(root, 'dist/hearth.iife.js'))) {
  console.error('dist/hearth.iife.js is missing: run `npm run build` first.');
  process.exit(1);
}

const mime = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };
const server = createServer((req, res) => {
  const path = normalize(join(root, decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname)));
  if (!path.startsWith(root)) return void res.writeHead(403).end();
  readFile(path).then(
    (body) => res.writeHead(200, { 'content-type': mime[extname(path)] ?? 'application/octet-stream' }).end(body),
    () => res.writeHead(404).end(),
  );
});
await new Promise((done) => server.listen(0, '127.0.0.1', done));
const origin = `http://127.0.0.1:${server.address().port}`;
const profile = await mkdtemp(join(tmpdir(), 'hearth-bench-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

/** Runs `calls` track() calls on a page of the fixture shop and returns per-call figures in ms. */
async function measure(label, path, prepare) {
  const page = await context.newPage();
  await page.goto(`${origin}${path}`);
  await page.waitForFunction(() => window.hearth && !Array.isArray(window.hearth));
  await page.evaluate(() => window.hearth.ready);
  if (prepare) await page.evaluate(prepare);
  const result = await page.evaluate(
    ({ calls, batch }) => {
      const hearth = window.hearth;
      const event = (i) => ({ type: 'view_item', items: [{ item_id: `sku-${i % 500}`, price: 10 + (i % 7), item_category: 'mugs' }] });
      for (let i = 0; i < 1_000; i++) hearth.track(event(i)); // warm-up
      const perCall = [];
      const started = performance.now();
      for (let done = 0; done < calls; done += batch) {
        const t0 = performance.now();
        for (let i = 0; i < batch; i++) hearth.track(event(done + i));
        perCall.push((performance.now() - t0) / batch);
      }
      const total = performance.now() - started;
      perCall.sort((a, b) => a - b);
      const at = (q) => perCall[Math.min(perCall.length - 1, Math.floor(q * perCall.length))];
      return { median: at(0.5), p95: at(0.95), max: perCall[perCall.length - 1], total };
    },
    { calls, batch },
  );
  const flushStart = Date.now();
  await page.evaluate(() => window.hearth.flush());
  result.flushMs = Date.now() - flushStart;
  await page.close();
  const fmt = (ms) => `${(ms * 1000).toFixed(2)} µs`;
  console.log(`${label.padEnd(34)} median ${fmt(result.median)}  p95 ${fmt(result.p95)}  max ${fmt(result.max)}  ` + `${calls} calls in ${result.total.toFixed(1)} ms; flush ${result.flushMs} ms`);
  return result;
}

try {
  console.log(`track() in ${(await context.browser()?.version()) ?? 'Chromium'}: ${calls} calls, timed in batches of ${batch}`);
  const tag = await readFile(join(root, 'dist/hearth.iife.js'));
  const runtime = await readFile(join(root, 'dist/hearth.runtime.js')).catch(() => undefined);
  console.log(
    `dist/hearth.iife.js ${tag.length} B, ${gzipSync(tag, { level: 9 }).length} B gzipped` +
      (runtime ? `; dist/hearth.runtime.js ${runtime.length} B, ${gzipSync(runtime, { level: 9 }).length} B gzipped` : ''),
  );
  const consented = await measure('consented (written in batches)', '/test/fixtures/tracker/bulk.html?bench');
  await measure('listener attached (on("event"))', '/test/fixtures/tracker/bulk.html?bench-listener', () => {
    window.hearth.on('event', () => undefined);
  });
  await measure('no consent (held in memory)', '/test/fixtures/tracker/bulk.html?bench-revoked', () => window.hearth.consent.revoke());
  const budget = 0.05;
  console.log(`budget: median < ${budget} ms → ${consented.median < budget ? 'within' : 'OVER'} (${((consented.median / budget) * 100).toFixed(1)}% of it)`);
} finally {
  await context.close();
  await rm(profile, { recursive: true, force: true });
  server.close();
}
