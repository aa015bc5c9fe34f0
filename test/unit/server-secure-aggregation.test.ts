/**
 * Secure aggregation end to end in Node: the real federated client (runFederatedRound) against
 * the real server over HTTP on loopback, with stand-in models whose training adds a known update.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAggregationServer, createMemoryStore, type AggregationServer, type AggregationStore } from '../../src/server/index.js';
import { runFederatedRound, type FederatedModel, type FederatedRoundResult } from '../../src/federated/client.js';
import { seededRandom } from '../../src/shared/random.js';
import { gridParams, localVariance } from '../../src/federated/secure/params.js';
import { RdpAccountant } from '../../src/federated/accountant.js';
import { encodeToGrid } from '../../src/federated/secure/skellam.js';
import type { SecureUploadRecord } from '../../src/federated/secure/session.js';
import type { NamedWeight, TrainOptions } from '../../src/model/contract.js';
import { LAYOUT, SITE_KEY, tinyModel } from './server-fixtures.js';

const DIM = LAYOUT.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);

/** Training adds a fixed update of norm 0.4 (under the clip) derived from the client's seed. */
class ShiftModel implements FederatedModel {
  private weights: NamedWeight[] = [];
  readonly delta: Float32Array;
  constructor(seed: number) {
    const random = seededRandom(seed);
    this.delta = Float32Array.from({ length: DIM }, () => random() - 0.5);
    let norm = 0;
    for (const v of this.delta) norm += v * v;
    const f = 0.4 / Math.sqrt(norm);
    for (let i = 0; i < DIM; i++) this.delta[i] = (this.delta[i] as number) * f;
  }
  getWeights(): NamedWeight[] {
    return this.weights.length ? this.weights.map((w) => ({ ...w, shape: [...w.shape], values: w.values.slice() })) : tinyModel().tensors;
  }
  setWeights(weights: readonly NamedWeight[]): void {
    this.weights = weights.map((w) => ({ ...w, shape: [...w.shape], values: w.values.slice() }));
  }
  async train(_s: unknown, _o: TrainOptions): Promise<{ loss: number }> {
    let offset = 0;
    for (const w of this.weights) for (let i = 0; i < w.values.length; i++) w.values[i] = (w.values[i] as number) + (this.delta[offset++] as number);
    return { loss: 1 };
  }
}

let server: AggregationServer | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  dataDir = undefined;
});

async function start(options: {
  store?: AggregationStore;
  dataDir?: string;
  minClients?: number;
  cohortSize?: number;
  phaseTimeoutMs?: number;
  noiseMultiplier?: number;
  epsilonBudget?: number;
  port?: number;
}): Promise<{ server: AggregationServer; url: string }> {
  const { modelJson, weights } = tinyModel();
  const s = await createAggregationServer({
    ...(options.dataDir ? { dataDir: options.dataDir } : { store: options.store ?? createMemoryStore() }),
    initialModel: { modelJson, weights },
    siteKeys: [SITE_KEY],
    minClients: options.minClients ?? 4,
    clip: 1,
    secureAggregation: true,
    cohortSize: options.cohortSize ?? 6,
    phaseTimeoutMs: options.phaseTimeoutMs ?? 20_000,
    pollMs: 10,
    rateLimit: 1e9,
    ...(options.noiseMultiplier ? { noiseMultiplier: options.noiseMultiplier, population: 1000 } : {}),
    ...(options.epsilonBudget ? { epsilonBudget: options.epsilonBudget } : {}),
  });
  const url = await s.listen(options.port !== undefined ? { port: options.port } : {});
  return { server: s, url };
}

function client(url: () => string, model: FederatedModel, fetchImpl: typeof fetch = fetch): Promise<FederatedRoundResult> {
  return runFederatedRound({
    serverUrl: 'http://hearth.invalid',
    siteKey: SITE_KEY,
    model,
    sequences: [[{ itemId: '1', type: 'view_item', time: 0 }]],
    consent: { contribute: true },
    capabilities: { globalPrivacyControl: false, saveData: false },
    // Requests go to whichever server is current (a restart moves the port).
    fetch: (input, init) => fetchImpl(String(input).replace('http://hearth.invalid', url()), init),
    retry: { attempts: 3, baseDelayMs: 5 },
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
  });
}

async function publishedDelta(s: AggregationServer): Promise<Float32Array> {
  const initial = new Float32Array(tinyModel().weights.buffer.slice(0));
  const now = new Float32Array(new Uint8Array(s.coordinator.current().weights).buffer);
  return now.map((v, i) => v - (initial[i] as number));
}

function mean(models: ShiftModel[]): Float32Array {
  const out = new Float32Array(DIM);
  for (const m of models) for (let i = 0; i < DIM; i++) out[i] = (out[i] as number) + (m.delta[i] as number) / models.length;
  return out;
}

function maxError(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

describe('secure aggregation through the server', () => {
  it('publishes the mean of the cohort, and every client sent bodies of one size', async () => {
    const started = await start({});
    server = started.server;
    const models = Array.from({ length: 6 }, (_, i) => new ShiftModel(10 + i));
    const results = await Promise.all(models.map((m) => client(() => started.url, m)));
    expect(results.map((r) => r.status)).toEqual(Array(6).fill('uploaded'));
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundId: 2, modelVersion: '2', roundsPublished: 1 });
    const grid = gridParams({ dim: DIM, clip: 1, noiseMultiplier: 0, maxClients: 6 });
    expect(maxError(await publishedDelta(server), mean(models))).toBeLessThan(2 / grid.scale);
    const records = results.map((r) => r.upload?.header as SecureUploadRecord);
    for (const r of records) expect(r.bytes).toEqual((records[0] as SecureUploadRecord).bytes);
    expect((records[0] as SecureUploadRecord).bytes.masked).toBe(4 * DIM);
    expect(new Set(results.map((r) => r.upload?.bytes)).size).toBe(1);
  });

  it('never holds an individual update: every stored masked input is uncorrelated with every client’s encoded update', async () => {
    const store = createMemoryStore();
    const puts: { id: string; body: Uint8Array }[] = [];
    const spy: AggregationStore = { ...store, putUpdate: async (r, id, body) => (puts.push({ id, body: body.slice() }), store.putUpdate(r, id, body)) };
    const started = await start({ store: spy });
    server = started.server;
    const models = Array.from({ length: 6 }, (_, i) => new ShiftModel(20 + i));
    await Promise.all(models.map((m) => client(() => started.url, m)));
    await server.settled();
    const grid = gridParams({ dim: DIM, clip: 1, noiseMultiplier: 0, maxClients: 6 });
    const masked = puts.filter((p) => p.id.startsWith('m-'));
    expect(masked).toHaveLength(6);
    for (const m of models) {
      const plain = new Int32Array(encodeToGrid(m.delta, grid.scale, 0, seededRandom(1)).buffer);
      for (const { body } of masked) {
        const seen = new Int32Array(body.slice().buffer);
        // The masked words look uniform over 32 bits: nowhere near the grid values (|x| < 2^15 here).
        let close = 0;
        for (let i = 0; i < DIM; i++) if (Math.abs((seen[i] as number) - (plain[i] as number)) < 2 ** 16) close++;
        expect(close).toBeLessThan(3);
      }
    }
  });

  it('recovers the survivors’ mean when a third of the cohort drops after sending shares', async () => {
    const started = await start({ phaseTimeoutMs: 1500 });
    server = started.server;
    const models = Array.from({ length: 6 }, (_, i) => new ShiftModel(30 + i));
    const dropping = new Set([models[1], models[4]]);
    const results = await Promise.all(
      models.map((m) =>
        client(
          () => started.url,
          m,
          async (input, init) => {
            if (dropping.has(m) && String(input).endsWith('/secagg/masked')) throw new TypeError('offline');
            return fetch(input, init);
          },
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'uploaded')).toHaveLength(4);
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundId: 2, modelVersion: '2' });
    const survivors = models.filter((m) => !dropping.has(m));
    const grid = gridParams({ dim: DIM, clip: 1, noiseMultiplier: 0, maxClients: 6 });
    expect(maxError(await publishedDelta(server), mean(survivors))).toBeLessThan(2 / grid.scale);
  });

  it('abandons a round that falls below its threshold, publishes nothing and opens the next on the same model', async () => {
    const started = await start({ phaseTimeoutMs: 800 });
    server = started.server;
    const models = Array.from({ length: 6 }, (_, i) => new ShiftModel(40 + i));
    const results = await Promise.all(
      models.map((m, i) =>
        client(
          () => started.url,
          m,
          async (input, init) => {
            if (i >= 3 && String(input).endsWith('/secagg/shares')) throw new TypeError('offline');
            return fetch(input, init);
          },
        ),
      ),
    );
    expect(results.every((r) => r.status === 'missed')).toBe(true);
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundId: 2, modelVersion: '1', roundsPublished: 0, roundsAbandoned: 1 });
    const round = (await (await fetch(`${started.url}/v1/round`)).json()) as { roundId: number; secure: { phase: string } };
    expect(round).toMatchObject({ roundId: 2, secure: { phase: 'advertise' } });
  });

  it('survives a restart between masking and unmasking with nothing lost or counted twice', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'hearth-secagg-restart-'));
    let current = await start({ dataDir });
    server = current.server;
    const models = Array.from({ length: 6 }, (_, i) => new ShiftModel(50 + i));
    let restarting: Promise<void> | undefined;
    const results = await Promise.all(
      models.map((m) =>
        client(
          () => current.url,
          m,
          async (input, init) => {
            if (String(input).endsWith('/secagg/unmask')) {
              restarting ??= (async () => {
                await current.server.close();
                current = await start({ dataDir: dataDir as string });
                server = current.server;
              })();
              await restarting;
              return fetch(String(input).replace(/http:\/\/127\.0\.0\.1:[0-9]+/, current.url), init);
            }
            return fetch(input, init);
          },
        ),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(Array(6).fill('uploaded'));
    await current.server.settled();
    expect(current.server.coordinator.status()).toMatchObject({ roundId: 2, modelVersion: '2', roundsPublished: 1 });
    const grid = gridParams({ dim: DIM, clip: 1, noiseMultiplier: 0, maxClients: 6 });
    expect(maxError(await publishedDelta(current.server), mean(models))).toBeLessThan(2 / grid.scale);
  });

  it('adds distributed noise and refuses to publish past the budget', async () => {
    const started = await start({ noiseMultiplier: 0.8, epsilonBudget: 0.01 });
    server = started.server;
    const models = Array.from({ length: 6 }, (_, i) => new ShiftModel(60 + i));
    const results = await Promise.all(models.map((m) => client(() => started.url, m)));
    expect(results.every((r) => r.status === 'uploaded')).toBe(true);
    expect((results[0]?.upload?.header as SecureUploadRecord).noiseVariance).toBeGreaterThan(0);
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ status: 'budget_exhausted', modelVersion: '1', roundsPublished: 0 });
  });

  it('accounts for the noise the sum actually carries: ε of the survivors’ shares, not the planned noise', async () => {
    const z = 1;
    const grid = gridParams({ dim: DIM, clip: 1, noiseMultiplier: z, maxClients: 6 });
    const expected = (summed: number): number =>
      new RdpAccountant().epsilon(1e-5, { mechanism: 'skellam', q: summed / 1000, l1: grid.l1Sensitivity, l2: grid.l2Sensitivity, variance: summed * localVariance(grid, 6), steps: 1 });

    const whole = await start({ noiseMultiplier: z });
    server = whole.server;
    const models = Array.from({ length: 6 }, (_, i) => new ShiftModel(70 + i));
    const all = await Promise.all(models.map((m) => client(() => whole.url, m)));
    expect(all.map((r) => r.status)).toEqual(Array(6).fill('uploaded'));
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundsPublished: 1 });
    expect(server.coordinator.status().epsilon).toBeCloseTo(expected(6), 10);
    // The sum carries σ = z · clip = 1 per coordinate, so the mean of six is off by about 1/6.
    const published = await publishedDelta(server);
    const target = mean(models);
    let squares = 0;
    for (let i = 0; i < DIM; i++) squares += ((published[i] as number) - (target[i] as number)) ** 2;
    expect(Math.sqrt(squares / DIM)).toBeGreaterThan(0.6 / 6);
    expect(Math.sqrt(squares / DIM)).toBeLessThan(1.4 / 6);
    await server.close();

    // Two of six drop after sharing: the sum carries 4/6 of the planned variance.
    const partial = await start({ noiseMultiplier: z, phaseTimeoutMs: 1500 });
    server = partial.server;
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        client(
          () => partial.url,
          new ShiftModel(80 + i),
          async (input, init) => {
            if (i >= 4 && String(input).endsWith('/secagg/masked')) throw new TypeError('offline');
            return fetch(input, init);
          },
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'uploaded')).toHaveLength(4);
    await server.settled();
    const epsilon = server.coordinator.status().epsilon as number;
    expect(epsilon).toBeCloseTo(expected(4), 10);
    // Not what the planned noise would have given for four inputs.
    const planned = new RdpAccountant().epsilon(1e-5, { mechanism: 'skellam', q: 4 / 1000, l1: grid.l1Sensitivity, l2: grid.l2Sensitivity, variance: grid.targetVariance, steps: 1 });
    expect(epsilon).toBeGreaterThan(planned);
  });

  it('refuses plain uploads and tokens it did not hand out', async () => {
    const started = await start({});
    server = started.server;
    const plain = await fetch(`${started.url}/v1/rounds/1/updates`, {
      method: 'POST',
      headers: { 'x-hearth-site-key': SITE_KEY, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(40),
    });
    expect(plain.status).toBe(409);
    expect(((await plain.json()) as { error: { code: string } }).error.code).toBe('secure_aggregation_required');
    const state = await fetch(`${started.url}/v1/rounds/1/secagg/state`, { headers: { 'x-hearth-secagg-token': 'forged-token' } });
    expect(state.status).toBe(401);
  });
});
