/**
 * A secure round in Chromium through the real engine worker (dist/hearth.worker.js): the worker
 * trains the live SASRec recommender on the store's events and takes part in secure aggregation
 * with two simulated devices in Node, against the real server on loopback. Everything the server
 * receives is recorded. Fails if any masked input it holds (received or stored) looks like an
 * individual update rather than uniform noise, if bodies of one kind differ in size, if the round
 * does not publish, or if a request leaks store data or goes anywhere but the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, requestsOutside, startEnginePageSite, errorsOf, type Browser, type StaticServer } from './harness.js';
import { createAggregationServer, type AggregationServer } from '../../src/server/index.js';
import { manifestLayout, parseModelJson } from '../../src/protocol/model-file.js';
import { runFederatedRound, type FederatedModel } from '../../src/federated/client.js';
import { seededRandom } from '../../src/shared/random.js';
import { setupNodeRuntime } from '../../src/train/node-runtime.js';
import { createRecommender } from '../../src/model/sasrec-recommender.js';
import { saveModelArtifacts } from '../../src/model/model-artifacts.js';
import type { NamedWeight } from '../../src/model/contract.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';

const SITE_KEY = 'secure-e2e-site-key-7';
const VOCABULARY = Array.from({ length: 40 }, (_, i) => `SKU-${50210 + i * 7}`);
const SESSION = 'sess-5e6f7a8b9c0d';
const T0 = 1_763_200_000_777;
const EVENTS: StoredEvent[] = Array.from({ length: 12 }, (_, i) => {
  const id = VOCABULARY[(i * 5) % VOCABULARY.length] as string;
  const type = i === 4 ? 'add_to_cart' : i === 11 ? 'purchase' : 'view_item';
  return { eventId: `evt-secure-${i}`, type, time: T0 + i * 60_013, session: SESSION, items: [{ item_id: id }], itemIds: [id] };
});

let server: AggregationServer;
let serverUrl: string;
let site: StaticServer;
let browser: Browser;
let dataDir: string;
let layout: { name: string; shape: number[] }[];
const serverSaw: { method: string; path: string; body: Buffer | undefined }[] = [];
const storedMasked: Uint8Array[] = [];

beforeAll(async () => {
  site = await startEnginePageSite('/secure-fl.html');
  await setupNodeRuntime('cpu');
  const model = createRecommender({ items: VOCABULARY.map((id) => ({ id })), config: { dims: 8, blocks: 1, heads: 1, maxLen: 10, attributeBuckets: 8, negatives: 8 }, seed: 3 });
  const { modelJson, weightData } = saveModelArtifacts(model);
  model.dispose();
  const parsed = parseModelJson(modelJson);
  layout = manifestLayout(parsed);
  dataDir = await mkdtemp(join(tmpdir(), 'hearth-secure-e2e-'));
  server = await createAggregationServer({
    dataDir,
    initialModel: { modelJson: parsed, weights: weightData },
    siteKeys: [SITE_KEY],
    origins: [site.origin],
    minClients: 3,
    clip: 1,
    secureAggregation: true,
    cohortSize: 3,
    phaseTimeoutMs: 60_000,
    pollMs: 50,
    noiseMultiplier: 0.5,
    population: 1000,
    rateLimit: 1e6,
  });
  server.app.addHook('preHandler', async (request) => {
    serverSaw.push({ method: request.method, path: request.url.split('?')[0] ?? '', body: Buffer.isBuffer(request.body) ? request.body : undefined });
  });
  // Everything the server writes for a round passes here: keep the masked inputs it stores.
  const store = server.coordinator.options.store;
  const put = store.putUpdate.bind(store);
  store.putUpdate = async (roundId, id, body) => {
    if (id.startsWith('m-')) storedMasked.push(body.slice());
    return put(roundId, id, body);
  };
  serverUrl = await server.listen();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await site?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** A simulated device: training moves every weight a little. */
class NudgeModel implements FederatedModel {
  private weights: NamedWeight[];
  constructor(private readonly seed: number) {
    this.weights = layout.map((t) => ({ name: t.name, shape: [...t.shape], values: new Float32Array(t.shape.reduce((a, b) => a * b, 1)) }));
  }
  getWeights(): NamedWeight[] {
    return this.weights.map((w) => ({ ...w, shape: [...w.shape], values: w.values.slice() }));
  }
  setWeights(weights: readonly NamedWeight[]): void {
    this.weights = weights.map((w) => ({ ...w, shape: [...w.shape], values: w.values.slice() }));
  }
  async train(): Promise<{ loss: number }> {
    const random = seededRandom(this.seed);
    for (const w of this.weights) for (let i = 0; i < w.values.length; i++) w.values[i] = (w.values[i] as number) + (random() - 0.5) * 1e-3;
    return { loss: 1 };
  }
}

/** Share of 32-bit words within ±2^20 of zero: ~0.05 % for uniform masks, ~100 % for a grid-encoded update. */
function smallWordShare(bytes: Uint8Array): number {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const words = new Int32Array(copy.buffer);
  let small = 0;
  for (const w of words) if (Math.abs(w) < 2 ** 20) small++;
  return small / words.length;
}

function secrets(): string[] {
  const out = new Set<string>([SESSION]);
  for (const e of EVENTS) {
    out.add(e.type);
    out.add(String(e.time));
    out.add(String(Math.floor(e.time / 1000)));
    for (const id of e.itemIds) out.add(id);
  }
  return [...out];
}

describe('a secure round through the engine worker in Chromium', () => {
  it('publishes the cohort’s sum while the server never holds an individual update', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/secure-fl.html`);
    await page.waitForFunction(() => 'hearthTest' in window);
    const inBrowser = page.evaluate(
      async ({ serverUrl, siteKey, events, vocabulary }) => {
        const { createEngineClient, openStore, createLogger } = (window as any).hearthTest;
        const logger = createLogger(() => false);
        const dbName = 'secure-fl-e2e';
        const store = await openStore({ name: dbName, logger });
        await store.replaceCatalog(vocabulary.map((id: string) => ({ id, title: 'Item', inStock: true })));
        await store.appendEvents(events);
        store.close();
        const consent = { personalise: true, contribute: true, updatedAt: 1 };
        // Long tasks on the main thread while the worker runs the round (reported, not asserted).
        const longTasks: number[] = [];
        const observer = new PerformanceObserver((list) => list.getEntries().forEach((e) => longTasks.push(e.duration)));
        observer.observe({ type: 'longtask', buffered: false });
        const engine = createEngineClient({
          dbName,
          engine: { workerUrl: '/dist/hearth.worker.js', autoTrain: false, modelUrl: `${serverUrl}/v1/model` },
          federated: { serverUrl, siteKey, autoParticipate: false, retry: { attempts: 2 } },
          consent: () => consent,
          logger,
        });
        const result = await engine.federatedRound();
        const upload = await engine.lastUpload();
        observer.disconnect();
        await engine.reset();
        engine.dispose();
        return { result, upload, longTasks };
      },
      { serverUrl, siteKey: SITE_KEY, events: EVENTS, vocabulary: VOCABULARY },
    );
    const simulated = [1, 2].map((seed) =>
      runFederatedRound({
        serverUrl,
        siteKey: SITE_KEY,
        model: new NudgeModel(seed),
        sequences: [[{ itemId: '1', type: 'view_item', time: 0 }]],
        consent: { contribute: true },
        capabilities: { globalPrivacyControl: false, saveData: false },
      }),
    );
    const [outcome, ...others] = await Promise.all([inBrowser, ...simulated]);
    expect(outcome.result.status).toBe('uploaded');
    expect(others.map((r) => r.status)).toEqual(['uploaded', 'uploaded']);
    expect(outcome.upload?.header).toMatchObject({ format: 'secagg', cohort: 3, threshold: 3, modulusBits: 32 });
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundId: 2, modelVersion: '2', roundsPublished: 1 });
    expect(server.coordinator.status().epsilon).toBeGreaterThan(0);

    // What the server received: every masked input looks uniform, and every kind of body has one size.
    const bodiesOf = (suffix: string): Buffer[] => serverSaw.filter((s) => s.method === 'POST' && s.path.endsWith(suffix)).map((s) => s.body as Buffer);
    const dim = layout.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
    const masked = bodiesOf('/secagg/masked');
    expect(masked).toHaveLength(3);
    for (const body of masked) {
      expect(body.length).toBe(4 * dim);
      expect(smallWordShare(body)).toBeLessThan(0.01);
    }
    for (const suffix of ['/secagg/join', '/secagg/shares', '/secagg/unmask']) {
      const bodies = bodiesOf(suffix);
      expect(bodies).toHaveLength(3);
      expect(new Set(bodies.map((b) => b.length)).size).toBe(1);
    }
    // What it stored for the round (written before answering, pruned after publication): the same.
    expect(storedMasked).toHaveLength(3);
    for (const body of storedMasked) expect(smallWordShare(body)).toBeLessThan(0.01);

    // Where requests went and what they carried.
    expect(requestsOutside(browser.requests, [site.origin, serverUrl])).toEqual([]);
    const texts = serverSaw.map((s) => `${s.path} ${s.body?.toString('latin1') ?? ''}`);
    expect(secrets().filter((secret) => texts.some((text) => text.includes(secret)))).toEqual([]);
    expect(errorsOf(page)).toEqual([]);
    console.log(
      `secure round in Chromium: ${outcome.upload?.bytes} bytes sent by the worker, ${(outcome.upload?.header as { cpuMs: number }).cpuMs.toFixed(0)} ms of protocol computation, main-thread long tasks: ${JSON.stringify(outcome.longTasks.map(Math.round))}`,
    );
    await page.close();
  });
});
