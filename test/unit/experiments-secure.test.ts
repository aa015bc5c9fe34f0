import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { createAggregationServer, type AggregationServer } from '../../src/server/index.js';
import { runExperimentReport, SECURE_META_KEY } from '../../src/federated/experiment-reporter.js';
import { decodeWords, encodeWords, generateCohortKey, maskReport, maskSalt, pairwiseMask, sampleSkellam } from '../../src/federated/secure-aggregation.js';
import { calibrate, gaussianEpsilon, reportEpsilon, skellamEpsilon, skellamMuFor } from '../../src/federated/experiment-privacy.js';
import { buildLayout } from '../../src/experiments/layout.js';
import { seededRandom } from '../../src/shared/random.js';
import { EXPERIMENTS_META_KEY, type ExperimentsMeta } from '../../src/experiments/device-records.js';
import type { RegistryExperiment } from '../../src/protocol/experiments.js';
import type { MemoryStore } from '../../src/store/memory-store.js';
import { SITE_KEY, tinyModel } from './server-fixtures.js';
import { event, HOUR, injectFetch, simulatedDevice, T0 } from './experiment-fixtures.js';

const subtle = webcrypto.subtle as unknown as SubtleCrypto;
const REGISTRY = [{ name: 'home-recs', variants: ['model', 'bestsellers'], metrics: ['add_to_cart', 'purchase'], windowHours: 1, revenueCap: 200, epsilon: 1 }];
const PLANTED = { model: { add_to_cart: 0.3, purchase: 0.12 }, bestsellers: { add_to_cart: 0.45, purchase: 0.2 } } as const;

const servers: AggregationServer[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('secure aggregation of experiment reports', () => {
  it('makes one device’s report unreadable on its own: masked words are uniform, and only the whole cohort’s sum is the data', async () => {
    const length = 2_000;
    const members = await Promise.all([0, 1, 2].map(async (i) => ({ keyId: `member-${i}-`.padEnd(22, 'x'), ...(await generateCohortKey(subtle)) })));
    const cohort = members.map(({ keyId, publicKey }) => ({ keyId, publicKey }));
    // Three devices' 0/1 vectors.
    const vectors = members.map((_, i) => Uint8Array.from({ length }, (_, c) => ((c + i) % 3 === 0 ? 1 : 0)));
    const salt = maskSalt(1, '0123456789abcdef');
    const masked = await Promise.all(
      members.map((m, i) => maskReport({ subtle, vector: vectors[i]!, keyId: m.keyId, privateKey: m.privateKey, cohort, salt, noiseMu: () => 0, random: seededRandom(i) })),
    );
    for (const [i, words] of masked.entries()) {
      // Nothing of the 0/1 vector shows: no cell equals its value, and the words fill the 32-bit range.
      expect(words.filter((w, c) => w === vectors[i]![c]).length).toBe(0);
      const high = words.filter((w) => w >= 2 ** 31).length / length;
      expect(Math.abs(high - 0.5)).toBeLessThan(0.05);
      // The two devices with different vectors are indistinguishable by their words' distribution.
      const mean = words.reduce((a, w) => a + w, 0) / length / 2 ** 32;
      expect(Math.abs(mean - 0.5)).toBeLessThan(0.03);
    }
    // Any two members' sum is still masked by the third's pairwise masks.
    const partial = masked[0]!.map((w, c) => (w + masked[1]![c]!) >>> 0);
    expect(partial.filter((w, c) => w === vectors[0]![c]! + vectors[1]![c]!).length).toBeLessThan(5);
    // The whole cohort's sum is exactly the sum of the vectors: the masks cancel.
    const sum = masked[0]!.map((w, c) => (w + masked[1]![c]! + masked[2]![c]!) >>> 0);
    expect(Array.from(sum)).toEqual(Array.from({ length }, (_, c) => vectors[0]![c]! + vectors[1]![c]! + vectors[2]![c]!));
    // Both ends of a pair derive the same mask; another round's salt gives another.
    const ab = await pairwiseMask(subtle, members[0]!.privateKey, members[1]!.publicKey, salt, 8);
    const ba = await pairwiseMask(subtle, members[1]!.privateKey, members[0]!.publicKey, salt, 8);
    expect(Array.from(ab)).toEqual(Array.from(ba));
    expect(Array.from(await pairwiseMask(subtle, members[0]!.privateKey, members[1]!.publicKey, maskSalt(2, '0123456789abcdef'), 8))).not.toEqual(Array.from(ab));
    expect(decodeWords(encodeWords(sum), length)).toEqual(sum);
  });

  it('calibrates the cohort’s Skellam noise to the experiment’s ε, close to the Gaussian’s variance, and samples it right', () => {
    const experiment: RegistryExperiment = {
      name: 'e',
      kind: 'experiment',
      variants: ['a', 'b'],
      metrics: ['add_to_cart', 'purchase', 'revenue'],
      windowHours: 1,
      revenueCap: 1,
      epsilon: 1,
      delta: 1e-6,
    };
    const mu = skellamMuFor(experiment);
    expect(skellamEpsilon(mu, 4, 2, 1e-6)).toBeLessThanOrEqual(1);
    expect(skellamEpsilon(mu * 0.95, 4, 2, 1e-6)).toBeGreaterThan(1);
    const entry = buildLayout([experiment], calibrate).experiments[0]!;
    // Variance 2μ against the Gaussian's σ²: the price of integer noise is a few per cent.
    expect(2 * mu).toBeGreaterThan(entry.sigma ** 2);
    expect(2 * mu).toBeLessThan(1.1 * entry.sigma ** 2);
    expect(gaussianEpsilon(entry.sigma / 2, 1e-6)).toBeLessThanOrEqual(1.001);
    expect(reportEpsilon(entry, 'secure')).toBeLessThanOrEqual(1);
    // Fifty shares of Sk(μ/50) sum to Sk(μ): variance 2μ.
    const random = seededRandom(5);
    const sums = Array.from({ length: 2_000 }, () => Array.from({ length: 50 }, () => sampleSkellam(mu / 50, random)).reduce((a, b) => a + b, 0));
    const mean = sums.reduce((a, b) => a + b, 0) / sums.length;
    const variance = sums.reduce((a, b) => a + (b - mean) ** 2, 0) / sums.length;
    expect(Math.abs(mean)).toBeLessThan(1);
    expect(variance / (2 * mu)).toBeGreaterThan(0.9);
    expect(variance / (2 * mu)).toBeLessThan(1.1);
  });

  it('recovers the planted rates of 300 devices in cohorts of 50 through the real device code and server, within the printed intervals', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'hearth-secure-'));
    dirs.push(dataDir);
    const { modelJson, weights } = tinyModel();
    const server = await createAggregationServer({
      dataDir,
      initialModel: { modelJson, weights },
      siteKeys: [SITE_KEY],
      minClients: 3,
      rateLimit: 1_000_000,
      experiments: REGISTRY,
      experimentsChannel: 'secure',
      experimentsMinClients: 50,
      random: seededRandom(99),
    });
    servers.push(server);
    const seen: { method: string; url: string; body: string }[] = [];
    const fetch = injectFetch(server, seen);
    const random = seededRandom(31);
    const devices: { store: MemoryStore; now: number }[] = [];
    for (let i = 0; i < 300; i++) {
      const variant = random() < 0.5 ? 'model' : 'bestsellers';
      const exposedAt = T0 + i * 1000;
      const events = [];
      if (random() < PLANTED[variant].add_to_cart) events.push(event('add_to_cart', exposedAt + 60_000));
      if (random() < PLANTED[variant].purchase) events.push(event('purchase', exposedAt + 120_000, { value: 50 }));
      devices.push({ store: await simulatedDevice({ experiment: 'home-recs', variants: ['model', 'bestsellers'], variant, exposedAt, events }), now: exposedAt + 2 * HOUR });
    }
    const run = (d: { store: MemoryStore; now: number }, i: number) =>
      runExperimentReport({
        serverUrl: 'http://fl.test',
        siteKey: SITE_KEY,
        store: d.store,
        consent: { personalise: true, contribute: true },
        capabilities: { globalPrivacyControl: false, saveData: false },
        fetch,
        subtle,
        random: seededRandom(1000 + i),
        now: () => d.now,
      });
    const statuses: Record<string, number> = {};
    for (let start = 0; start < 300; start += 50) {
      const cohort = devices.slice(start, start + 50);
      // First run: each device joins the cohort with a one-round key…
      for (const [j, d] of cohort.entries()) expect(await run(d, start + j)).toEqual({ status: 'waiting', reason: 'enrolled' });
      // …next run, the cohort is full: each sends its masked vector.
      for (const [j, d] of cohort.entries()) {
        const result = await run(d, start + j);
        statuses[`${result.status}:${result.reported?.[0]?.channel}`] = (statuses[`${result.status}:${result.reported?.[0]?.channel}`] ?? 0) + 1;
        expect(await d.store.getMeta(SECURE_META_KEY)).toBeUndefined();
      }
      await server.experiments!.settled();
    }
    expect(statuses).toEqual({ 'reported:secure': 300 });
    const results = server.experiments!.results('home-recs')!;
    expect(results.releases).toBe(6);
    expect(results.reports.vector).toBe(300);
    for (const row of results.perVariant) {
      for (const metric of ['add_to_cart', 'purchase'] as const) {
        const estimate = row.rates[metric]!;
        const planted = PLANTED[row.variant as 'model' | 'bestsellers'][metric];
        expect(estimate.ci95[0], `${row.variant} ${metric}`).toBeLessThanOrEqual(planted);
        expect(estimate.ci95[1], `${row.variant} ${metric}`).toBeGreaterThanOrEqual(planted);
      }
    }
    // What the server received of a device: a key, then uniform-looking words, never a 0/1 vector.
    const bodies = seen.filter((r) => r.url.endsWith('/masked')).map((r) => JSON.parse(r.body) as { masked: string; keyId: string });
    expect(bodies).toHaveLength(300);
    for (const body of bodies.slice(0, 20)) {
      const words = decodeWords(body.masked, server.experiments!.layout.length)!;
      expect(words.every((w) => w > 1)).toBe(true);
    }
  }, 120_000);

  it('abandons a cohort that does not complete by its deadline; the absent member counts a failed attempt and joins the next cohort', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'hearth-secure-'));
    dirs.push(dataDir);
    const { modelJson, weights } = tinyModel();
    const server = await createAggregationServer({
      dataDir,
      initialModel: { modelJson, weights },
      siteKeys: [SITE_KEY],
      minClients: 3,
      rateLimit: 1_000_000,
      experiments: REGISTRY,
      experimentsChannel: 'secure',
      experimentsMinClients: 2,
      experimentsRoundHours: 0.2 / 3600,
      random: seededRandom(7),
    });
    servers.push(server);
    const fetch = injectFetch(server);
    const stores = await Promise.all(
      [0, 1].map((i) => simulatedDevice({ experiment: 'home-recs', variants: ['model', 'bestsellers'], variant: 'model', exposedAt: T0 + i, events: [event('purchase', T0 + 5000)] })),
    );
    const run = (store: MemoryStore) =>
      runExperimentReport({
        serverUrl: 'http://fl.test',
        siteKey: SITE_KEY,
        store,
        consent: { personalise: true, contribute: true },
        capabilities: { globalPrivacyControl: false, saveData: false },
        fetch,
        subtle,
        now: () => T0 + 2 * HOUR,
      });
    expect((await run(stores[0]!)).status).toBe('waiting');
    expect((await run(stores[1]!)).status).toBe('waiting');
    // One member sends; the other does not come back before the deadline.
    expect((await run(stores[0]!)).status).toBe('reported');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await server.experiments!.settled();
    expect(server.experiments!.roundId).toBe(2);
    expect(server.experiments!.results('home-recs')!.reports.vector).toBe(0);
    expect(await run(stores[1]!)).toEqual({ status: 'waiting', reason: 'enrolled' });
    const record = (await stores[1]!.getMeta<ExperimentsMeta>(EXPERIMENTS_META_KEY))!.records['home-recs']!;
    expect(record.attempts).toBe(1);
  });

  it('refuses keys and masked reports that do not belong to the open cohort', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'hearth-secure-'));
    dirs.push(dataDir);
    const { modelJson, weights } = tinyModel();
    const server = await createAggregationServer({
      dataDir,
      initialModel: { modelJson, weights },
      siteKeys: [SITE_KEY],
      minClients: 3,
      rateLimit: 1_000_000,
      experiments: REGISTRY,
      experimentsChannel: 'secure',
      experimentsMinClients: 2,
    });
    servers.push(server);
    const rounds = server.experiments!;
    const post = async (path: string, body: unknown) => {
      const res = await server.app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json', 'x-hearth-site-key': SITE_KEY }, payload: JSON.stringify(body) });
      return { status: res.statusCode, code: (res.json() as { error?: { code?: string } }).error?.code };
    };
    const key = async (i: number) => ({ keyId: `k${i}`.padEnd(22, '0'), publicKey: (await generateCohortKey(subtle)).publicKey, layoutId: rounds.layoutId });
    const words = encodeWords(new Uint32Array(rounds.layout.length));
    // A masked report before the cohort is fixed, or from outside it.
    expect(await post('/v1/experiments/rounds/1/masked', { keyId: 'k0'.padEnd(22, '0'), layoutId: rounds.layoutId, masked: words })).toEqual({ status: 403, code: 'not_in_cohort' });
    expect((await post('/v1/experiments/rounds/1/keys', await key(0))).status).toBe(202);
    expect(await post('/v1/experiments/rounds/1/keys', await key(0))).toEqual({ status: 409, code: 'replay' });
    expect((await post('/v1/experiments/rounds/1/keys', await key(1))).status).toBe(202);
    // The cohort is full: a third key waits for the next round.
    expect(await post('/v1/experiments/rounds/1/keys', await key(2))).toEqual({ status: 409, code: 'cohort_closed' });
    expect(await post('/v1/experiments/rounds/2/keys', await key(3))).toEqual({ status: 409, code: 'wrong_round' });
    expect(await post('/v1/experiments/rounds/1/masked', { keyId: 'k2'.padEnd(22, '0'), layoutId: rounds.layoutId, masked: words })).toEqual({ status: 403, code: 'not_in_cohort' });
    expect(await post('/v1/experiments/rounds/1/masked', { keyId: 'k0'.padEnd(22, '0'), layoutId: rounds.layoutId, masked: 'AAAA' })).toEqual({ status: 422, code: 'bad_report' });
    expect(await post('/v1/experiments/rounds/1/masked', { keyId: 'k0'.padEnd(22, '0'), layoutId: rounds.layoutId, masked: words })).toMatchObject({ status: 202 });
    expect(await post('/v1/experiments/rounds/1/masked', { keyId: 'k0'.padEnd(22, '0'), layoutId: rounds.layoutId, masked: words })).toEqual({ status: 409, code: 'replay' });
    expect(await post('/v1/experiments/rounds/1', {})).toMatchObject({ status: 404 });
    const info = (await server.app.inject({ method: 'GET', url: '/v1/experiments' })).json() as { secure: { phase: string; keys: unknown[] } };
    expect(info.secure).toMatchObject({ phase: 'submit', cohortSize: 2 });
    expect(info.secure.keys).toHaveLength(2);
  });
});
