/**
 * A federated round through the real engine worker (dist/hearth.worker.js) in Chromium, with the
 * real aggregation server on loopback: the device warm-starts from the server's model
 * (engine.modelUrl), `federatedRound()` trains the live SASRec recommender on the store's events
 * and uploads; every request is recorded by the browser and by the server. Fails if a request goes
 * anywhere but the page's origin and the configured server, or carries an item id, event type,
 * timestamp or session id from the device's store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { launchBrowser, requestsOutside, startEnginePageSite, errorsOf, type Browser, type StaticServer } from './harness.js';
import { createAggregationServer, type AggregationServer } from '../../src/server/index.js';
import { parseModelJson } from '../../src/protocol/model-file.js';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { createRecommender } from '../../src/model/sasrec-recommender.js';
import { saveModelArtifacts } from '../../src/model/model-artifacts.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';

const SITE_KEY = 'engine-e2e-site-key-42';
const VOCABULARY = Array.from({ length: 40 }, (_, i) => `SKU-${70210 + i * 7}`);
const SESSION = 'sess-9c1d2e3f4a5b';
const T0 = 1_763_100_000_321;
const EVENTS: StoredEvent[] = Array.from({ length: 12 }, (_, i) => {
  const id = VOCABULARY[(i * 3) % VOCABULARY.length] as string;
  const type = i === 5 ? 'add_to_cart' : i === 11 ? 'purchase' : 'view_item';
  return { eventId: `evt-federated-${i}`, type, time: T0 + i * 60_017, session: SESSION, items: [{ item_id: id }], itemIds: [id] };
});

let server: AggregationServer;
let serverUrl: string;
let site: StaticServer;
let browser: Browser;
let dataDir: string;
const serverSaw: { method: string; url: string; headers: string; body: Buffer | undefined }[] = [];

beforeAll(async () => {
  site = await startEnginePageSite('/engine-fl.html');
  await setupNodeRuntime('cpu');
  const model = createRecommender({ items: VOCABULARY.map((id) => ({ id })), config: { dims: 8, blocks: 1, heads: 1, maxLen: 10, attributeBuckets: 8, negatives: 8 }, seed: 2 });
  const { modelJson, weightData } = saveModelArtifacts(model);
  model.dispose();
  dataDir = await mkdtemp(join(tmpdir(), 'hearth-engine-fl-e2e-'));
  server = await createAggregationServer({
    dataDir,
    initialModel: { modelJson: parseModelJson(modelJson), weights: weightData },
    siteKeys: [SITE_KEY],
    origins: [site.origin],
    minClients: 1,
    clip: 1,
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

function secrets(): string[] {
  const out = new Set<string>([SESSION]);
  for (const e of EVENTS) {
    out.add(e.type);
    out.add(String(e.time));
    out.add(String(Math.floor(e.time / 1000)));
    out.add(new Date(e.time).toISOString().slice(0, 19));
    for (const id of e.itemIds) out.add(id);
  }
  return [...out];
}

describe('a federated round through the engine worker', () => {
  it('warm-starts from the server, trains the live recommender, uploads only the update, only to the server', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/engine-fl.html`);
    await page.waitForFunction(() => 'hearthTest' in window);
    const outcome = await page.evaluate(
      async ({ serverUrl, siteKey, events, vocabulary }) => {
        const { createEngineClient, openStore, createLogger } = (window as any).hearthTest;
        const logger = createLogger(() => false);
        const dbName = 'engine-fl-e2e';
        const store = await openStore({ name: dbName, logger });
        await store.replaceCatalog(vocabulary.map((id: string) => ({ id, title: 'Item', inStock: true })));
        await store.appendEvents(events);
        store.close();
        const consent = { personalise: true, contribute: true, updatedAt: 1 };
        const engine = createEngineClient({
          dbName,
          engine: { workerUrl: '/dist/hearth.worker.js', autoTrain: false, modelUrl: `${serverUrl}/v1/model` },
          federated: { serverUrl, siteKey, autoParticipate: false, retry: { attempts: 1 } },
          consent: () => consent,
          logger,
        });
        const before = await engine.info();
        const result = await engine.federatedRound();
        const upload = await engine.lastUpload();
        const after = await engine.info();
        await engine.reset();
        engine.dispose();
        return { before, result, upload, after };
      },
      { serverUrl, siteKey: SITE_KEY, events: EVENTS, vocabulary: VOCABULARY },
    );
    expect(outcome.before.globalModelVersion).toMatch(/v1\/model/);
    expect(outcome.result.status).toBe('uploaded');
    expect(outcome.upload?.bytes).toBeGreaterThan(0);
    expect(outcome.after.globalModelVersion).toBe('1');
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundId: 2, roundsPublished: 1 });

    expect(requestsOutside(browser.requests, [site.origin, serverUrl])).toEqual([]);
    const browserToServer = browser.requests.filter((r) => r.url().startsWith(serverUrl));
    expect(browserToServer.map((r) => `${r.method()} ${new URL(r.url()).pathname}`)).toContain('POST /v1/rounds/1/updates');
    const texts: string[] = [];
    for (const saw of serverSaw) {
      texts.push(saw.url, saw.headers);
      if (saw.body) texts.push(saw.body.toString('latin1'), gunzipSync(saw.body).toString('latin1'));
    }
    for (const request of browserToServer) {
      texts.push(request.url(), JSON.stringify(await request.allHeaders()));
      const body = request.postDataBuffer();
      if (body) texts.push(gunzipSync(body).toString('latin1'));
    }
    const leaks = secrets().filter((secret) => texts.some((text) => text.includes(secret)));
    expect(leaks).toEqual([]);
    for (const saw of serverSaw) {
      const headers = JSON.parse(saw.headers) as Record<string, string>;
      expect(headers.cookie).toBeUndefined();
      expect(headers.referer).toBeUndefined();
    }
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });
});
