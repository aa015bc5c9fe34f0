import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAggregationServer, type AggregationServer } from '../../src/server/index.js';
import { runFederatedRound, GLOBAL_MODEL_CHECKPOINT, LAST_UPLOAD_META, type FederatedModel, type FederatedRoundDeps } from '../../src/federated/client.js';
import { seededRandom } from '../../src/shared/random.js';
import type { HistoryStep, NamedWeight, TrainOptions } from '../../src/model/contract.js';
import type { ModelCheckpoint } from '../../src/store/types.js';
import { SITE_KEY, tinyModel } from './server-fixtures.js';

/** A stand-in model: training nudges the embedding rows of the items it saw. */
class FakeModel implements FederatedModel {
  weights: NamedWeight[];
  trained: { sequences: number; epochs: number }[] = [];
  constructor(seed = 3) {
    this.weights = tinyModel(seed).tensors;
  }
  getWeights(): NamedWeight[] {
    return this.weights.map((w) => ({ name: w.name, shape: [...w.shape], values: w.values.slice() }));
  }
  setWeights(weights: readonly NamedWeight[]): void {
    this.weights = weights.map((w) => ({ name: w.name, shape: [...w.shape], values: w.values.slice() }));
  }
  async train(sequences: readonly (readonly HistoryStep[])[], options: TrainOptions): Promise<{ loss: number }> {
    this.trained.push({ sequences: sequences.length, epochs: options.epochs });
    const table = this.weights[0] as NamedWeight;
    for (let e = 0; e < options.epochs; e++)
      for (const seq of sequences) for (const step of seq) for (let d = 0; d < 4; d++) table.values[Number(step.itemId) * 4 + d] = (table.values[Number(step.itemId) * 4 + d] as number) + 0.05;
    return { loss: 1 };
  }
}

class FakeStore {
  checkpoints = new Map<string, ModelCheckpoint>();
  meta = new Map<string, unknown>();
  async getCheckpoint(name: string) {
    return this.checkpoints.get(name);
  }
  async putCheckpoint(c: ModelCheckpoint) {
    this.checkpoints.set(c.name, c);
  }
  async setMeta(key: string, value: unknown) {
    this.meta.set(key, value);
  }
}

interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
  init: RequestInit | undefined;
}

/** A fetch that answers from the server in-process and records every request. */
function injectFetch(server: AggregationServer, recorded: Recorded[], fail?: (n: number, url: string) => 'throw' | 503 | undefined): typeof fetch {
  let n = 0;
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const headers = Object.fromEntries(new Headers(init?.headers).entries());
    const body = init?.body instanceof Uint8Array ? init.body : undefined;
    recorded.push({ method: init?.method ?? 'GET', url: url.toString(), headers, body, init });
    const failure = fail?.(n++, url.toString());
    if (failure === 'throw') throw new TypeError('fetch failed');
    if (failure === 503) return new Response(JSON.stringify({ error: { code: 'unavailable', message: 'try later' } }), { status: 503 });
    const res = await server.app.inject({ method: (init?.method ?? 'GET') as 'GET' | 'POST', url: url.pathname + url.search, headers, ...(body ? { payload: Buffer.from(body) } : {}) });
    const responseHeaders = new Headers();
    for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') responseHeaders.set(k, v);
    return new Response(res.statusCode === 304 ? null : new Uint8Array(res.rawPayload), { status: res.statusCode, headers: responseHeaders });
  }) as typeof fetch;
}

const servers: AggregationServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function start(minClients = 2, clientNoise = 0): Promise<AggregationServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hearth-client-'));
  dirs.push(dataDir);
  const { modelJson, weights } = tinyModel();
  const server = await createAggregationServer({ dataDir, initialModel: { modelJson, weights }, siteKeys: [SITE_KEY], minClients, clip: 0.2, epochs: 2, clientNoise });
  servers.push(server);
  return server;
}

const history: HistoryStep[][] = [
  [
    { itemId: '3', type: 'view_item', time: 1_700_000_000_123 },
    { itemId: '17', type: 'add_to_cart', time: 1_700_000_000_456 },
  ],
];

function deps(server: AggregationServer, recorded: Recorded[], extra: Partial<FederatedRoundDeps> = {}): FederatedRoundDeps {
  return {
    serverUrl: 'http://127.0.0.1:9/',
    siteKey: SITE_KEY,
    model: new FakeModel(),
    sequences: history,
    store: new FakeStore(),
    consent: { contribute: true },
    capabilities: { globalPrivacyControl: false, saveData: false },
    fetch: injectFetch(server, recorded),
    random: seededRandom(1),
    sleep: async () => undefined,
    ...extra,
  };
}

describe('federated client round', () => {
  it('stays out without consent, under GPC, with save-data, when not idle or without data', async () => {
    const server = await start();
    const recorded: Recorded[] = [];
    const cases: [Partial<FederatedRoundDeps>, string][] = [
      [{ consent: { contribute: null } }, 'no_consent'],
      [{ consent: { contribute: false } }, 'no_consent'],
      [{ capabilities: { globalPrivacyControl: true, saveData: false } }, 'global_privacy_control'],
      [{ capabilities: { globalPrivacyControl: false, saveData: true } }, 'save_data'],
      [{ idle: false }, 'not_idle'],
      [{ sequences: [] }, 'no_data'],
    ];
    for (const [extra, reason] of cases) expect(await runFederatedRound(deps(server, recorded, extra))).toEqual({ status: 'skipped', reason });
    expect(recorded).toEqual([]);
  });

  it('runs a full round against the real server and records exactly what it sent', async () => {
    const server = await start(1);
    const recorded: Recorded[] = [];
    const store = new FakeStore();
    const model = new FakeModel();
    const result = await runFederatedRound(deps(server, recorded, { store, model }));
    expect(result).toMatchObject({ status: 'uploaded', roundId: 1, modelVersion: '1' });
    expect(model.trained).toEqual([{ sequences: 1, epochs: 2 }]);
    const upload = result.upload!;
    expect(upload.normBeforeClip).toBeGreaterThan(0.2);
    expect(upload.normAfterClip).toBeLessThanOrEqual(0.2);
    expect(upload.tensors.map((t) => t.name)).toEqual(['item_embedding', 'dense/kernel', 'dense/bias']);
    expect(upload.bytes).toBe(recorded.at(-1)!.body!.length);
    expect(store.meta.get(LAST_UPLOAD_META)).toEqual(upload);
    expect(store.checkpoints.get(GLOBAL_MODEL_CHECKPOINT)?.config).toMatchObject({ version: '1' });
    // Requests: round, model, weights, upload — all to the server, none with cookies or referrer.
    expect(recorded.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual(['GET /v1/round', 'GET /v1/model', 'GET /v1/model/weights.bin', 'POST /v1/rounds/1/updates']);
    for (const r of recorded) expect(r.init).toMatchObject({ credentials: 'omit', referrerPolicy: 'no-referrer' });
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundId: 2, modelVersion: '2' });
  });

  it('sends nothing from the history: no item id, event type, timestamp or session', async () => {
    const server = await start(5);
    const recorded: Recorded[] = [];
    expect((await runFederatedRound(deps(server, recorded))).status).toBe('uploaded');
    const upload = recorded.at(-1)!;
    const { gunzipSync } = await import('node:zlib');
    const raw = gunzipSync(upload.body!);
    const headerText = raw.subarray(8, 8 + raw.readUInt32LE(4)).toString('utf8');
    for (const needle of ['view_item', 'add_to_cart', '1700000000', 'session', '"17"', '"3"']) {
      expect(headerText).not.toContain(needle);
      expect(upload.url).not.toContain(needle);
      expect(JSON.stringify(upload.headers)).not.toContain(needle);
    }
    expect(Object.keys(JSON.parse(headerText)).sort()).toEqual(['bits', 'format', 'modelVersion', 'roundId', 'tensors', 'updateId']);
  });

  it('uses the cached global model (conditional GET, no weight download) in the next round', async () => {
    const server = await start(5);
    const store = new FakeStore();
    const first: Recorded[] = [];
    await runFederatedRound(deps(server, first, { store }));
    const second: Recorded[] = [];
    expect((await runFederatedRound(deps(server, second, { store }))).status).toBe('uploaded');
    expect(second.map((r) => new URL(r.url).pathname)).toEqual(['/v1/round', '/v1/rounds/1/updates']);
    // A cache with a stale version asks with If-None-Match.
    const cached = store.checkpoints.get(GLOBAL_MODEL_CHECKPOINT)!;
    store.checkpoints.set(GLOBAL_MODEL_CHECKPOINT, { ...cached, config: { ...(cached.config as object), version: '0' } });
    const third: Recorded[] = [];
    await runFederatedRound(deps(server, third, { store }));
    expect(third[1]?.headers['if-none-match']).toMatch(/^"1-/);
    expect(third.map((r) => new URL(r.url).pathname)).toEqual(['/v1/round', '/v1/model', '/v1/rounds/1/updates']);
  });

  it('retries failed uploads with bounded, jittered exponential back-off', async () => {
    const server = await start(5);
    const recorded: Recorded[] = [];
    const delays: number[] = [];
    const fail = (_n: number, url: string): 'throw' | 503 | undefined => {
      if (!url.includes('/updates')) return undefined;
      const uploads = recorded.filter((r) => r.url.includes('/updates')).length;
      return uploads === 1 ? 'throw' : uploads <= 3 ? 503 : undefined;
    };
    const result = await runFederatedRound(
      deps(server, recorded, { fetch: injectFetch(server, recorded, fail), retry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 250 }, sleep: async (ms) => void delays.push(ms) }),
    );
    expect(result.status).toBe('uploaded');
    expect(result.upload?.attempts).toBe(4);
    expect(delays).toHaveLength(3);
    [100, 200, 250].forEach((cap, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(0);
      expect(delays[i]).toBeLessThanOrEqual(cap);
    });
    // Every attempt sent the same bytes (the same update id): the server counts it once.
    const bodies = recorded.filter((r) => r.url.includes('/updates')).map((r) => Buffer.from(r.body!).toString('base64'));
    expect(new Set(bodies).size).toBe(1);
  });

  it('gives up after the last attempt and reports a missed round, not an error', async () => {
    const server = await start(5);
    const recorded: Recorded[] = [];
    const delays: number[] = [];
    const result = await runFederatedRound(
      deps(server, recorded, {
        fetch: injectFetch(server, recorded, (_n, url) => (url.includes('/updates') ? 'throw' : undefined)),
        retry: { attempts: 3, baseDelayMs: 10 },
        sleep: async (ms) => void delays.push(ms),
      }),
    );
    expect(result).toMatchObject({ status: 'missed', reason: 'network' });
    expect(delays).toHaveLength(2);
    const offline = await runFederatedRound(deps(server, [], { fetch: (async () => Promise.reject(new TypeError('offline'))) as typeof fetch }));
    expect(offline).toEqual({ status: 'missed', reason: 'network' });
  });

  it('reports a lost answer followed by a replay as uploaded, and a moved-on round as missed', async () => {
    const server = await start(5);
    const recorded: Recorded[] = [];
    let dropped = false;
    const base = injectFetch(server, recorded);
    const dropFirstAnswer = (async (input: string | URL | Request, init?: RequestInit) => {
      const response = await base(input, init);
      if (String(input).includes('/updates') && !dropped) {
        dropped = true;
        throw new TypeError('connection reset');
      }
      return response;
    }) as typeof fetch;
    expect(await runFederatedRound(deps(server, recorded, { fetch: dropFirstAnswer }))).toMatchObject({ status: 'uploaded', reason: 'replay' });
    expect(server.coordinator.status().updates).toBe(1);
    const moved = injectFetch(server, [], undefined);
    const stale = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input).replace('/v1/rounds/1/', '/v1/rounds/1/');
      if (url.endsWith('/v1/round')) return new Response(JSON.stringify({ ...server.coordinator.roundInfo(), roundId: 0 }), { status: 200 });
      return moved(url, init);
    }) as typeof fetch;
    expect(await runFederatedRound(deps(server, [], { fetch: stale }))).toMatchObject({ status: 'missed', reason: 'wrong_round' });
  });

  it('skips when the local model does not match the global one', async () => {
    const server = await start(5);
    const model = new FakeModel();
    model.weights = model.weights.slice(0, 2);
    expect(await runFederatedRound(deps(server, [], { model }))).toMatchObject({ status: 'skipped', reason: 'incompatible_model' });
  });

  it('adds on-device noise when the round asks for it, and the server still accepts it', async () => {
    const server = await start(5, 0.001);
    const result = await runFederatedRound(deps(server, []));
    expect(result.status).toBe('uploaded');
    expect(result.upload?.noiseSigma).toBe(0.001);
  });
});
