import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAggregationServer, type AggregationServer } from '../../src/server/index.js';
import type { AggregationServerOptions } from '../../src/server/options.js';
import { LAYOUT, rawBody, SITE_KEY, tinyModel, updateBody } from './server-fixtures.js';
import { encodeUpdate } from '../../src/federated/wire.js';
import { seededRandom } from '../../src/shared/random.js';
import type { NamedWeight } from '../../src/model/contract.js';

/** The same tensors under a fresh update id (16-bit, seeded rounding). */
async function reencode(tensors: NamedWeight[], roundId: number, seed: number): Promise<{ body: Buffer }> {
  const { body } = await encodeUpdate(tensors, { modelVersion: String(roundId), roundId, bits: 16, random: seededRandom(seed) });
  return { body: Buffer.from(body) };
}

const servers: AggregationServer[] = [];
const dirs: string[] = [];

async function start(options: Partial<AggregationServerOptions> = {}): Promise<{ server: AggregationServer; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hearth-server-'));
  dirs.push(dataDir);
  const { modelJson, weights } = tinyModel();
  const server = await createAggregationServer({ dataDir, initialModel: { modelJson, weights }, siteKeys: [SITE_KEY], minClients: 3, clip: 1, origins: ['https://shop.example'], ...options });
  servers.push(server);
  return { server, dataDir };
}

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function post(server: AggregationServer, body: Buffer | string, options: { round?: string; key?: string | null; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', ...options.headers };
  if (options.key !== null) headers['x-hearth-site-key'] = options.key ?? SITE_KEY;
  return server.app.inject({ method: 'POST', url: `/v1/rounds/${options.round ?? '1'}/updates`, headers, payload: body });
}

describe('aggregation server endpoints', () => {
  it('serves health, the round and the model with an ETag and 304', async () => {
    const { server } = await start();
    expect((await server.app.inject('/health')).json()).toMatchObject({ status: 'ok', roundId: 1, modelVersion: '1', epsilon: null, roundsPublished: 0 });
    const round = (await server.app.inject('/v1/round')).json();
    expect(round).toMatchObject({ roundId: 1, modelVersion: '1', epochs: 1, clipBound: 1, noiseSigma: 0, bits: 8, minClients: 3, status: 'open' });
    expect(Date.parse(round.deadline)).toBeGreaterThan(Date.now());
    const model = await server.app.inject('/v1/model');
    expect(model.statusCode).toBe(200);
    const etag = model.headers.etag as string;
    expect(etag).toMatch(/^"1-[0-9a-f]{20}"$/);
    expect(model.headers['x-hearth-model-version']).toBe('1');
    expect(model.json().weightsManifest[0].paths).toEqual(['model/weights.bin?v=1']);
    const again = await server.app.inject({ url: '/v1/model', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    const weights = await server.app.inject('/v1/model/weights.bin?v=1');
    expect(weights.rawPayload.equals(Buffer.from(tinyModel().weights))).toBe(true);
    expect((await server.app.inject('/v1/model/weights.bin?v=99')).statusCode).toBe(404);
    expect((await server.app.inject('/nope')).json()).toEqual({ error: { code: 'not_found', message: 'no route GET /nope' } });
  });

  it('answers CORS only for the configured origins', async () => {
    const { server } = await start();
    const ok = await server.app.inject({ method: 'OPTIONS', url: '/v1/rounds/1/updates', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } });
    expect(ok.headers['access-control-allow-origin']).toBe('https://shop.example');
    const other = await server.app.inject({ url: '/v1/round', headers: { origin: 'https://evil.example' } });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('accepts updates, publishes at minClients and averages them into the next model', async () => {
    const { server } = await start();
    const before = tinyModel().tensors;
    const sent: Awaited<ReturnType<typeof updateBody>>[] = [];
    for (let i = 0; i < 3; i++) {
      const update = await updateBody({ seed: 10 + i, norm: 0.5 });
      sent.push(update);
      const res = await post(server, update.body);
      expect(res.statusCode).toBe(202);
      expect(res.json()).toMatchObject({ accepted: true, roundId: 1, updates: i + 1 });
    }
    await server.settled();
    const round = (await server.app.inject('/v1/round')).json();
    expect(round).toMatchObject({ roundId: 2, modelVersion: '2' });
    const weights = new Float32Array(new Uint8Array((await server.app.inject('/v1/model/weights.bin')).rawPayload).buffer);
    let offset = 0;
    LAYOUT.forEach((_, t) => {
      const n = (before[t] as { values: Float32Array }).values.length;
      for (let i = 0; i < n; i++) {
        const mean = sent.reduce((s, u) => s + ((u.tensors[t] as { values: Float32Array }).values[i] as number), 0) / 3;
        // 16-bit quantization: error well under 1e-4 here.
        expect(Math.abs((weights[offset + i] as number) - ((before[t] as { values: Float32Array }).values[i] as number) - mean)).toBeLessThan(1e-4);
      }
      offset += n;
    });
    // The old round's updates are never counted again: the new round starts empty.
    expect(server.coordinator.status().updates).toBe(0);
    const metrics = (await server.app.inject('/metrics')).body;
    expect(metrics).toContain('hearth_rounds_published_total 1');
    expect(metrics).toContain('hearth_updates_accepted_total 3');
  });

  it('rejects every kind of bad upload with the right 4xx and changes nothing', async () => {
    const { server } = await start({ bodyLimit: 4096 });
    const good = await updateBody({ seed: 1 });
    expect((await post(server, good.body)).statusCode).toBe(202);
    const cases: [string, Promise<{ statusCode: number; json(): { error: { code: string } } }>, number, string][] = [
      ['no key', post(server, good.body, { key: null }), 401, 'bad_site_key'],
      ['bad key', post(server, good.body, { key: 'not-the-key-123' }), 401, 'bad_site_key'],
      ['replay', post(server, good.body), 409, 'replay'],
      ['wrong round in the URL', post(server, (await updateBody({ seed: 2 })).body, { round: '2' }), 409, 'wrong_round'],
      ['round id not a number', post(server, good.body, { round: 'abc' }), 400, 'bad_round_id'],
      ['wrong round in the header', post(server, (await updateBody({ seed: 3, roundId: 5 })).body), 409, 'wrong_round'],
      ['wrong model version', post(server, (await updateBody({ seed: 4, modelVersion: '9' })).body), 409, 'wrong_model_version'],
      ['wrong shapes', post(server, (await updateBody({ seed: 5, layout: [{ name: 'item_embedding', shape: [21, 4] }, ...LAYOUT.slice(1)] })).body), 422, 'shape_mismatch'],
      ['missing tensor', post(server, (await updateBody({ seed: 6, layout: LAYOUT.slice(0, 2) })).body), 422, 'shape_mismatch'],
      ['norm over the bound', post(server, (await updateBody({ seed: 7, norm: 5 })).body), 422, 'norm_exceeded'],
      [
        'NaN scale',
        post(server, rawBody({ format: 1, modelVersion: '1', roundId: 1, updateId: 'aaaaaaaaaaaaaaaa', bits: 8, tensors: LAYOUT.map((t) => ({ ...t, scale: null })) }, 100)),
        422,
        'non_finite',
      ],
      ['truncated', post(server, good.body.subarray(0, good.body.length - 20)), 400, 'truncated'],
      ['not gzip', post(server, Buffer.from('hello world, this is not an update')), 400, 'malformed'],
      ['empty', post(server, Buffer.alloc(0)), 400, 'empty_body'],
      ['oversized', post(server, Buffer.alloc(5000, 1)), 413, 'body_too_large'],
      [
        'inflates past the model',
        post(server, rawBody({ format: 1, modelVersion: '1', roundId: 1, updateId: 'bbbbbbbbbbbbbbbb', bits: 8, tensors: LAYOUT.map((t) => ({ ...t, scale: 0.1 })) }, 2_000_000)),
        413,
        'too_large',
      ],
    ];
    for (const [name, response, status, code] of cases) {
      const res = await response;
      expect({ name, status: res.statusCode, code: res.json().error.code }).toEqual({ name, status, code });
    }
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundId: 1, updates: 1, roundsPublished: 0 });
    const metrics = (await server.app.inject('/metrics')).body;
    expect(metrics).toContain('hearth_updates_rejected_total{reason="replay"} 1');
    expect(metrics).toContain('hearth_updates_rejected_total{reason="bad_site_key"} 2');
  });

  it('with DP noise, reports epsilon after each round and refuses to publish past the budget', async () => {
    const { server } = await start({ minClients: 2, noiseMultiplier: 0.8, population: 4, epsilonBudget: 12, delta: 1e-5 });
    const epsilons: number[] = [];
    for (let round = 1; round <= 10; round++) {
      for (let i = 0; i < 2; i++) {
        const res = await post(server, (await updateBody({ seed: round * 10 + i, roundId: round, modelVersion: String(round) })).body, { round: String(round) });
        if (res.statusCode !== 202) {
          expect(res.statusCode).toBe(403);
          expect(res.json().error.code).toBe('budget_exhausted');
          break;
        }
      }
      await server.settled();
      const status = server.coordinator.status();
      if (status.status === 'budget_exhausted') break;
      epsilons.push(status.epsilon as number);
    }
    expect(epsilons.length).toBeGreaterThan(1);
    expect(epsilons.every((e, i) => i === 0 || e > (epsilons[i - 1] as number))).toBe(true);
    expect(epsilons.every((e) => e <= 12)).toBe(true);
    const final = server.coordinator.status();
    expect(final.status).toBe('budget_exhausted');
    expect(final.roundsPublished).toBe(epsilons.length);
    const metrics = (await server.app.inject('/metrics')).body;
    expect(metrics).toContain('hearth_budget_exhausted 1');
    expect(metrics).toMatch(/hearth_epsilon_spent \d/);
    const health = (await server.app.inject('/health')).json();
    expect(health).toMatchObject({ roundsPublished: epsilons.length, delta: 1e-5, epsilonBudget: 12 });
    expect(health.epsilon).toBeCloseTo(epsilons[epsilons.length - 1] as number, 6);
  });

  it('with --robust median, a poisoned minority barely moves the model', async () => {
    const { server } = await start({ minClients: 5, robust: 'median' });
    const honest = await updateBody({ seed: 60, norm: 0.5 });
    // Three honest clients send (nearly) the same direction; two attackers send its opposite, at the bound.
    for (let i = 0; i < 3; i++) expect((await post(server, (await reencode(honest.tensors, 1, i)).body)).statusCode).toBe(202);
    const flipped = honest.tensors.map((t) => ({ ...t, values: t.values.map((v) => -2 * v) }));
    for (let i = 0; i < 2; i++) expect((await post(server, (await reencode(flipped, 1, 10 + i)).body)).statusCode).toBe(202);
    await server.settled();
    const after = new Float32Array(new Uint8Array((await server.app.inject('/v1/model/weights.bin')).rawPayload).buffer);
    const before = tinyModel().tensors.flatMap((t) => Array.from(t.values));
    const honestFlat = honest.tensors.flatMap((t) => Array.from(t.values));
    before.forEach((w, j) => expect(Math.abs((after[j] as number) - w - (honestFlat[j] as number))).toBeLessThan(1e-3));
  });

  it('with --aggregator fedadam, applies one server Adam step per round', async () => {
    const { server } = await start({ minClients: 1, aggregator: 'fedadam', serverLr: 0.01 });
    const update = await updateBody({ seed: 70, norm: 0.5 });
    expect((await post(server, update.body)).statusCode).toBe(202);
    await server.settled();
    const after = new Float32Array(new Uint8Array((await server.app.inject('/v1/model/weights.bin')).rawPayload).buffer);
    const before = tinyModel().tensors.flatMap((t) => Array.from(t.values));
    const delta = update.tensors.flatMap((t) => Array.from(t.values));
    // First step: m = 0.1·d, v = 0.01·d², x += 0.01·m / (sqrt(v) + 1e-3).
    before.forEach((w, j) => {
      const d = delta[j] as number;
      expect((after[j] as number) - w).toBeCloseTo((0.01 * 0.1 * d) / (Math.sqrt(0.01 * d * d) + 1e-3), 3);
    });
  });

  it('never publishes a round with fewer than minClients', async () => {
    const { server } = await start({ minClients: 5 });
    for (let i = 0; i < 4; i++) expect((await post(server, (await updateBody({ seed: 40 + i })).body)).statusCode).toBe(202);
    await server.settled();
    expect(server.coordinator.status()).toMatchObject({ roundId: 1, roundsPublished: 0, updates: 4 });
  });

  it('fails fast on bad options, listing what is valid', async () => {
    await expect(start({ aggregator: 'fedsgd' as 'fedavg' })).rejects.toThrow(/expected one of: fedavg, fedadam/);
    await expect(start({ siteKeys: [] })).rejects.toThrow(/site key/);
    await expect(start({ noiseMultiplier: 1 })).rejects.toThrow(/population/);
    await expect(start({ noiseMultiplier: 1, population: 100, robust: 'median' })).rejects.toThrow(/cannot be combined/);
  });
});
