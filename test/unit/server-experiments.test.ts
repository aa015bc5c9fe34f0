import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAggregationServer, type AggregationServer } from '../../src/server/index.js';
import type { AggregationServerOptions } from '../../src/server/options.js';
import { runExperimentReport } from '../../src/federated/experiment-reporter.js';
import { reportCommand } from '../../src/server/experiments/report-command.js';
import { seededRandom } from '../../src/shared/random.js';
import { EXPERIMENTS_META_KEY, type ExperimentsMeta } from '../../src/experiments/device-records.js';
import { SITE_KEY, tinyModel } from './server-fixtures.js';
import { event, HOUR, injectFetch, simulatedDevice, T0 } from './experiment-fixtures.js';

const REGISTRY = [{ name: 'home-recs', variants: ['model', 'bestsellers'], metrics: ['add_to_cart', 'purchase', 'revenue'], windowHours: 1, revenueCap: 200, epsilon: 1 }];
const PLANTED = { model: { add_to_cart: 0.3, purchase: 0.12 }, bestsellers: { add_to_cart: 0.45, purchase: 0.2 } } as const;

const servers: AggregationServer[] = [];
const dirs: string[] = [];

async function start(options: Partial<AggregationServerOptions> = {}): Promise<{ server: AggregationServer; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hearth-exp-'));
  dirs.push(dataDir);
  const { modelJson, weights } = tinyModel();
  const server = await createAggregationServer({
    dataDir,
    initialModel: { modelJson, weights },
    siteKeys: [SITE_KEY],
    minClients: 3,
    rateLimit: 1_000_000,
    experiments: REGISTRY,
    experimentsMinClients: 100,
    random: seededRandom(1234),
    ...options,
  });
  servers.push(server);
  return { server, dataDir };
}

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** `count` devices with the planted rates, each reporting once through the real device code. */
async function simulate(server: AggregationServer, count: number, seed: number): Promise<{ statuses: Record<string, number> }> {
  const random = seededRandom(seed);
  const statuses: Record<string, number> = {};
  const fetch = injectFetch(server);
  for (let i = 0; i < count; i++) {
    const variant = random() < 0.5 ? 'model' : 'bestsellers';
    const rates = PLANTED[variant];
    const exposedAt = T0 + i * 1000;
    const events = [];
    if (random() < rates.add_to_cart) events.push(event('add_to_cart', exposedAt + 60_000));
    if (random() < rates.purchase) events.push(event('purchase', exposedAt + 120_000, { value: 40 + 100 * random() }));
    const store = await simulatedDevice({ experiment: 'home-recs', variants: ['model', 'bestsellers'], variant, exposedAt, events });
    // A device whose round closed while it reported tries again at its next idle time.
    let result = { status: 'missed' } as Awaited<ReturnType<typeof runExperimentReport>>;
    for (let attempt = 0; attempt < 3 && result.status === 'missed'; attempt++) {
      result = await runExperimentReport({
        serverUrl: 'http://fl.test',
        siteKey: SITE_KEY,
        store,
        consent: { personalise: true, contribute: true },
        capabilities: { globalPrivacyControl: false, saveData: false },
        fetch,
        random: seededRandom(seed * 1000 + i),
        now: () => exposedAt + 2 * HOUR,
      });
    }
    const key = `${result.status}${result.reported?.[0] ? `:${result.reported[0].channel}` : ''}`;
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  await server.experiments!.flush();
  return { statuses };
}

function expectPlantedWithin(server: AggregationServer): void {
  const results = server.experiments!.results('home-recs')!;
  for (const row of results.perVariant) {
    for (const metric of ['add_to_cart', 'purchase'] as const) {
      const estimate = row.rates[metric]!;
      const planted = PLANTED[row.variant as 'model' | 'bestsellers'][metric];
      expect(estimate.ci95[0], `${row.variant} ${metric}`).toBeLessThanOrEqual(planted);
      expect(estimate.ci95[1], `${row.variant} ${metric}`).toBeGreaterThanOrEqual(planted);
    }
  }
}

describe('private experiment reports through the aggregation server', () => {
  it('recovers the planted rates of 400 simulated devices within the printed 95 % intervals (central DP)', async () => {
    const { server } = await start();
    const { statuses } = await simulate(server, 400, 17);
    expect(statuses).toEqual({ 'reported:central': 400 });
    const results = server.experiments!.results('home-recs')!;
    expect(results.releases).toBe(4);
    expect(results.reports).toEqual({ vector: 400, randomizedResponse: 0 });
    expectPlantedWithin(server);
    // The noise is in the interval: it is wider than the sampling error alone.
    const p = results.perVariant[0]!.rates.purchase!;
    const n = results.perVariant[0]!.exposed.estimate;
    expect(p.se).toBeGreaterThan(Math.sqrt((p.estimate * (1 - p.estimate)) / n));
  });

  it('recovers them from randomized-response reports alone (the local channel)', async () => {
    const { server } = await start({ experimentsChannel: 'local' });
    const { statuses } = await simulate(server, 400, 23);
    expect(statuses).toEqual({ 'reported:randomized-response': 400 });
    expect(server.experiments!.results('home-recs')!.reports).toEqual({ vector: 0, randomizedResponse: 400 });
    expectPlantedWithin(server);
  });

  it('reports each experiment once: a second run sends nothing', async () => {
    const { server } = await start({ experimentsMinClients: 1 });
    const seen: { method: string; url: string; body: string }[] = [];
    const store = await simulatedDevice({ experiment: 'home-recs', variants: ['model', 'bestsellers'], variant: 'model', exposedAt: T0, events: [event('purchase', T0 + 1000, { value: 10 })] });
    const deps = {
      serverUrl: 'http://fl.test',
      siteKey: SITE_KEY,
      store,
      consent: { personalise: true, contribute: true },
      capabilities: { globalPrivacyControl: false, saveData: false },
      fetch: injectFetch(server, seen),
      now: () => T0 + 2 * HOUR,
    };
    expect((await runExperimentReport(deps)).status).toBe('reported');
    const record = (await store.getMeta<ExperimentsMeta>(EXPERIMENTS_META_KEY))!.records['home-recs']!;
    expect(record.report).toMatchObject({ channel: 'central', roundId: 1 });
    expect(record.report!.epsilon).toBeLessThanOrEqual(1);
    const requests = seen.length;
    expect(await runExperimentReport(deps)).toEqual({ status: 'skipped', reason: 'nothing_to_report' });
    expect(seen.length).toBe(requests);
  });

  it('waits for the attribution window, and sends nothing without contribute', async () => {
    const { server } = await start();
    const seen: { method: string; url: string; body: string }[] = [];
    const store = await simulatedDevice({ experiment: 'home-recs', variants: ['model', 'bestsellers'], variant: 'model', exposedAt: T0, events: [] });
    const base = { serverUrl: 'http://fl.test', siteKey: SITE_KEY, store, capabilities: { globalPrivacyControl: false, saveData: false }, fetch: injectFetch(server, seen) };
    expect(await runExperimentReport({ ...base, consent: { personalise: true, contribute: false }, now: () => T0 + 2 * HOUR })).toEqual({ status: 'skipped', reason: 'no_consent' });
    expect(
      await runExperimentReport({ ...base, consent: { personalise: true, contribute: true }, capabilities: { globalPrivacyControl: true, saveData: false }, now: () => T0 + 2 * HOUR }),
    ).toMatchObject({ status: 'skipped' });
    expect(seen).toEqual([]);
    expect(await runExperimentReport({ ...base, consent: { personalise: true, contribute: true }, now: () => T0 + 0.5 * HOUR })).toEqual({ status: 'skipped', reason: 'nothing_ready' });
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /v1/experiments']);
  });

  it('refuses reports a device could not honestly send, for another registry, or twice', async () => {
    const { server } = await start();
    const info = (await server.app.inject('/v1/experiments')).json();
    expect(info).toMatchObject({ roundId: 1, channel: 'central', minClients: 100, fallbackAfter: 2 });
    expect(info.layout.length).toBe(8);
    const send = (body: unknown, url = '/v1/experiments/rounds/1/reports') =>
      server.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', 'x-hearth-site-key': SITE_KEY }, payload: JSON.stringify(body) });
    const id = 'AAAAAAAAAAAAAAAAAAAAAA';
    expect((await send({ reportId: id, layoutId: info.layoutId, cells: '10001000' })).json().error.code).toBe('bad_report');
    expect((await send({ reportId: id, layoutId: info.layoutId, cells: '01000000' })).json().error.code).toBe('bad_report');
    expect((await send({ reportId: id, layoutId: 'ffffffffffffffff', cells: '11010000' })).json().error.code).toBe('wrong_layout');
    expect((await send({ reportId: id, layoutId: info.layoutId, cells: '110100' })).json().error.code).toBe('bad_report');
    expect((await send({ reportId: id, layoutId: info.layoutId, cells: '11010000' }, '/v1/experiments/rounds/7/reports')).json().error.code).toBe('wrong_round');
    expect((await send({ reportId: id, layoutId: info.layoutId, cells: '11010000' })).statusCode).toBe(202);
    expect((await send({ reportId: id, layoutId: info.layoutId, cells: '11010000' })).json().error.code).toBe('replay');
    const rr = { reportId: 'BBBBBBBBBBBBBBBBBBBBBB', layoutId: info.layoutId, experiment: 'home-recs', mechanism: info.layout.experiments[0].rr.mechanism };
    expect((await send({ ...rr, bits: '1' }, '/v1/experiments/rr')).json().error.code).toBe('bad_report');
    expect((await send({ ...rr, experiment: 'nope', bits: '0'.repeat(16) }, '/v1/experiments/rr')).json().error.code).toBe('unknown_experiment');
    expect((await send({ ...rr, bits: '0'.repeat(16) }, '/v1/experiments/rr')).statusCode).toBe(202);
    const noKey = await server.app.inject({ method: 'POST', url: '/v1/experiments/rr', headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(noKey.json().error.code).toBe('bad_site_key');
    expect((await server.app.inject('/v1/experiments/home-recs/results')).json().error.code).toBe('results_disabled');
  });

  it('keeps reports across a restart, refuses a changed experiment, and prints results from the data folder', async () => {
    const { server, dataDir } = await start({ experimentsMinClients: 1000 });
    await simulate(server, 150, 5);
    expect(server.experiments!.waiting).toBe(0);
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    const { modelJson, weights } = tinyModel();
    const base = { dataDir, initialModel: { modelJson, weights }, siteKeys: [SITE_KEY] };
    await expect(createAggregationServer({ ...base, experiments: [{ ...REGISTRY[0]!, variants: ['model', 'trending'] }] })).rejects.toThrow(/changed its variants/);
    const again = await createAggregationServer({ ...base, experiments: REGISTRY, reportKeys: ['reader-key-123'] });
    servers.push(again);
    expect(again.experiments!.results('home-recs')!.reports.vector).toBe(150);
    const http = await again.app.inject({ url: '/v1/experiments/home-recs/results', headers: { 'x-hearth-report-key': 'reader-key-123' } });
    expect(http.json()).toMatchObject({ name: 'home-recs', releases: 1 });
    expect((await again.app.inject({ url: '/v1/experiments/home-recs/results', headers: { 'x-hearth-report-key': 'wrong-key-000' } })).statusCode).toBe(401);
    let out = '';
    expect(
      await reportCommand(
        ['home-recs', '--data-dir', dataDir],
        {},
        (t) => (out += t),
        () => undefined,
      ),
    ).toBe(0);
    expect(out).toMatch(/bestsellers vs model, purchase: difference/);
    expect(out).toMatch(/always-valid p/);
    out = '';
    expect(
      await reportCommand(
        ['--data-dir', dataDir],
        {},
        (t) => (out += t),
        () => undefined,
      ),
    ).toBe(0);
    expect(out).toMatch(/^home-recs\texperiment\tmodel,bestsellers\t1 releases/);
    let err = '';
    expect(
      await reportCommand(
        ['nope', '--data-dir', dataDir],
        {},
        () => undefined,
        (t) => (err += t),
      ),
    ).toBe(1);
    expect(err).toMatch(/known: home-recs/);
  });
});
