/**
 * Privacy of a federated round, in Chromium: with the real aggregation server on loopback, a full
 * round runs in a module worker while every request is recorded (by the browser and by the
 * server). Fails if any request goes anywhere but the configured server (and the page's own
 * origin, which serves the test files), or if any request URL, header or body — decompressed —
 * contains an item id, event type, timestamp or session id from the device's store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { launchBrowser, requestsOutside, startStaticServer, errorsOf, REPO_ROOT, type Browser, type StaticServer } from './harness.js';
import { createAggregationServer, type AggregationServer } from '../../src/server/index.js';
import { withManifest, weightsToBuffer } from '../../src/protocol/model-file.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';

const SITE_KEY = 'e2e-site-key-000123';
const VOCABULARY = Array.from({ length: 40 }, (_, i) => `SKU-${90210 + i * 7}`);
const LAYOUT = [
  { name: 'item_embedding', shape: [VOCABULARY.length, 8] },
  { name: 'block/kernel', shape: [8, 8] },
  { name: 'block/bias', shape: [8] },
];
const SESSION = 'sess-7f3a9c2e1b44';
const EVENTS: StoredEvent[] = [
  { eventId: 'evt-privacy-0', type: 'view_item', time: 1_763_000_000_123, session: SESSION, items: [{ item_id: 'SKU-90217' }], itemIds: ['SKU-90217'] },
  { eventId: 'evt-privacy-1', type: 'add_to_cart', time: 1_763_000_060_456, session: SESSION, items: [{ item_id: 'SKU-90224' }], itemIds: ['SKU-90224'] },
  { eventId: 'evt-privacy-2', type: 'view_item', time: 1_763_000_120_789, session: SESSION, items: [{ item_id: 'SKU-90231' }], itemIds: ['SKU-90231'] },
  {
    eventId: 'evt-privacy-3',
    type: 'purchase',
    time: 1_763_000_180_012,
    session: SESSION,
    items: [{ item_id: 'SKU-90224' }],
    itemIds: ['SKU-90224'],
    transaction_id: 'T-55501',
    value: 59.99,
    currency: 'EUR',
  },
];

let server: AggregationServer;
let serverUrl: string;
let site: StaticServer;
let browser: Browser;
let dataDir: string;
const serverSaw: { method: string; url: string; headers: string; body: Buffer | undefined }[] = [];
let workerBundle = '';

beforeAll(async () => {
  const bundled = await build({
    entryPoints: [join(REPO_ROOT, 'test/e2e/federated-privacy-worker.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  workerBundle = bundled.outputFiles[0]?.text ?? '';
  site = await startStaticServer({
    handle: (req, res) => {
      if (req.url === '/fl-privacy.html') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>fl privacy</title><p>shop page</p>');
        return true;
      }
      if (req.url === '/favicon.ico') {
        res.writeHead(204).end();
        return true;
      }
      if (req.url === '/fl-privacy-worker.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(workerBundle);
        return true;
      }
      return false;
    },
  });
  dataDir = await mkdtemp(join(tmpdir(), 'hearth-fl-e2e-'));
  const weights = LAYOUT.map((t) => ({ name: t.name, shape: t.shape, values: Float32Array.from({ length: t.shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i) * 0.05) }));
  server = await createAggregationServer({
    dataDir,
    initialModel: { modelJson: withManifest({ format: 'hearth-test', modelTopology: null }, LAYOUT, 'weights.bin'), weights: weightsToBuffer(weights) },
    siteKeys: [SITE_KEY],
    origins: [site.origin],
    minClients: 1,
    clip: 0.5,
  });
  server.app.addHook('preHandler', async (request) => {
    serverSaw.push({ method: request.method, url: request.url, headers: JSON.stringify(request.headers), body: Buffer.isBuffer(request.body) ? request.body : undefined });
  });
  serverUrl = await server.listen();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await site?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Every string from the device's store that must never leave it. */
function secrets(): string[] {
  const out = new Set<string>([SESSION, 'T-55501']);
  for (const e of EVENTS) {
    out.add(e.type);
    out.add(String(e.time));
    // Timestamps also in seconds and as ISO text.
    out.add(String(Math.floor(e.time / 1000)));
    out.add(new Date(e.time).toISOString().slice(0, 19));
    for (const id of e.itemIds) out.add(id);
  }
  return [...out];
}

describe('federated round privacy in Chromium', () => {
  it('sends only the update and round identifiers, only to the configured server', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/fl-privacy.html`);
    const outcome = (await page.evaluate(
      async (job) =>
        new Promise((resolve) => {
          const worker = new Worker('/fl-privacy-worker.js', { type: 'module' });
          worker.onmessage = (event) => resolve(event.data);
          worker.onerror = (event) => resolve({ ok: false, error: event.message });
          worker.postMessage(job);
        }),
      { serverUrl, siteKey: SITE_KEY, vocabulary: VOCABULARY, events: EVENTS, layout: LAYOUT },
    )) as { ok: boolean; error?: string; result?: { status: string; upload?: { bytes: number } }; persistent?: boolean; cached?: boolean; events?: number };
    expect(outcome.ok, outcome.error).toBe(true);
    expect(outcome.result?.status).toBe('uploaded');
    expect(outcome).toMatchObject({ persistent: true, cached: true, events: 4 });
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundId: 2, roundsPublished: 1 });

    // Where requests went: the page's own origin (test files) and the configured server only.
    expect(requestsOutside(browser.requests, [site.origin, serverUrl])).toEqual([]);
    const browserToServer = browser.requests.filter((r) => r.url().startsWith(serverUrl));
    expect(browserToServer.map((r) => `${r.method()} ${new URL(r.url()).pathname}`)).toContain('POST /v1/rounds/1/updates');

    // What they carried, as the server received it (bodies decompressed) and as the browser sent it.
    const texts: string[] = [];
    for (const saw of serverSaw) {
      texts.push(saw.url, saw.headers);
      if (saw.body) {
        texts.push(saw.body.toString('latin1'));
        texts.push(gunzipSync(saw.body).toString('latin1'));
      }
    }
    for (const request of browserToServer) {
      texts.push(request.url(), JSON.stringify(await request.allHeaders()));
      const body = request.postDataBuffer();
      if (body) texts.push(gunzipSync(body).toString('latin1'));
    }
    expect(serverSaw.some((s) => s.method === 'POST' && s.body !== undefined)).toBe(true);
    const leaks = secrets().filter((secret) => texts.some((text) => text.includes(secret)));
    expect(leaks).toEqual([]);
    // No cookies and no referrer (the page URL could name a product).
    for (const saw of serverSaw) {
      const headers = JSON.parse(saw.headers) as Record<string, string>;
      expect(headers.cookie).toBeUndefined();
      expect(headers.referer).toBeUndefined();
    }
    expect(errorsOf(page)).toEqual([]);
    console.log(`federated privacy: ${browser.requests.length} requests: ${browser.requests.map((r) => `${r.method()} ${r.url()}`).join(', ')}`);
  });
});
