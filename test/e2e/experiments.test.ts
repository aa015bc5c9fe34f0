/**
 * An A/B test end to end, in Chromium against the built script tag (dist/hearth.iife.js, its
 * runtime and worker) and the real aggregation server on loopback (secure rounds):
 *
 * - the shop declares the experiment in markup; a device without consent sees the control and
 *   nothing is stored or sent;
 * - with `personalise`, the device is assigned at random, the same variant across reloads and tabs,
 *   and the exposure is recorded when the variant is on screen — still nothing leaves the page;
 * - with `contribute`, the device joins a secure round's cohort and sends a masked report;
 *   simulated devices (the same device code in Node, over HTTP) fill the cohorts;
 * - the shop reads the uplift, its interval and the sequential test from the server.
 *
 * Every request of the browser is recorded: nothing but the page's own files and the experiment
 * endpoints may be requested, and no body carries an experiment, variant, event or item name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import type { Page } from 'playwright-core';
import { writeFile, mkdir } from 'node:fs/promises';
import { launchBrowser, requestsOutside, startStaticServer, errorsOf, REPO_ROOT, ARTIFACTS_DIR, type Browser, type StaticServer } from './harness.js';
import { createAggregationServer, formatResults, type AggregationServer } from '../../src/server/index.js';
import { runExperimentReport } from '../../src/federated/experiment-reporter.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { EXPERIMENTS_META_KEY, type ExperimentsMeta } from '../../src/experiments/device-records.js';
import { seededRandom } from '../../src/shared/random.js';
import { withManifest, weightsToBuffer } from '../../src/protocol/model-file.js';
import type { ExperimentResults } from '../../src/protocol/experiments.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';

const SITE_KEY = 'experiments-e2e-site-key';
const REPORT_KEY = 'shop-analyst-key-123';
const COHORT = 50;
/** Add-to-cart rates planted in the simulated shoppers: the model's "For you" doubles it. */
const PLANTED = { bestsellers: 0.25, model: 0.5 } as const;
const VARIANTS = ['bestsellers', 'model'] as const;
const SKU = 'SKU-731905';

let server: AggregationServer;
let serverUrl: string;
let site: StaticServer;
let browser: Browser;
let dataDir: string;

const PAGE = (db: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>shop</title><link rel="icon" href="data:,">
<script src="/dist/hearth.iife.js" data-auto-init="false"></script>
<script src="/exp-page.js?db=${db}"></script>
</head><body>
<h1>Home</h1>
<div id="recs" data-hearth-experiment="home-recs">
  <section data-hearth-variant="bestsellers" hidden>Bestsellers</section>
  <section data-hearth-variant="model" hidden>For you</section>
</div>
</body></html>`;

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist/hearth.iife.js')) || !existsSync(join(REPO_ROOT, 'dist/hearth.worker.js'))) throw new Error('dist/ is missing: run `npx rollup -c` first');
  site = await startStaticServer({
    handle: (req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/shop.html') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE(url.searchParams.get('db') ?? 'exp'));
        return true;
      }
      if (url.pathname === '/exp-page.js') {
        const db = JSON.stringify(url.searchParams.get('db') ?? 'exp');
        res
          .writeHead(200, { 'content-type': 'text/javascript' })
          .end(
            `Hearth.init({ consent: 'opt-in', dbName: ${db}, autocapture: false, engine: { autoTrain: false }, federated: { serverUrl: ${JSON.stringify(serverUrl)}, siteKey: ${JSON.stringify(SITE_KEY)}, autoParticipate: false } });`,
          );
        return true;
      }
      return false;
    },
  });
  dataDir = await mkdtemp(join(tmpdir(), 'hearth-experiments-e2e-'));
  const layout = [{ name: 'w', shape: [4] }];
  server = await createAggregationServer({
    dataDir,
    initialModel: {
      modelJson: withManifest({ format: 'hearth-test', modelTopology: null }, layout, 'weights.bin'),
      weights: weightsToBuffer([{ name: 'w', shape: [4], values: new Float32Array(4) }]),
    },
    siteKeys: [SITE_KEY],
    origins: [site.origin],
    minClients: 1,
    rateLimit: 1_000_000,
    // A one-second attribution window, so the test does not wait a week. ε = 4 (the most a device
    // spends): each release's noise is calibrated to ε whatever the cohort's size, and eight releases
    // of 50 at ε = 1 would bury a 25-point uplift (bench:experiments shows the cost at shop scale).
    experiments: [{ name: 'home-recs', variants: [...VARIANTS], metrics: ['add_to_cart', 'purchase'], windowHours: 1 / 3600, epsilon: 4 }],
    experimentsChannel: 'secure',
    experimentsMinClients: COHORT,
    reportKeys: [REPORT_KEY],
    random: seededRandom(2026),
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

/** The page's experiment state: what the markup shows, and what `experiments.list()` says. */
async function state(page: Page): Promise<{ shown: string[]; assigned: string | undefined; list: { variant: string | null; exposedAt: number | null; report: unknown }[] }> {
  return page.evaluate(async () => {
    const hearth = (window as any).hearth;
    await hearth.ready;
    const container = document.getElementById('recs')!;
    return {
      shown: Array.from(container.querySelectorAll<HTMLElement>('[data-hearth-variant]'))
        .filter((e) => !e.hidden)
        .map((e) => e.dataset.hearthVariant!),
      assigned: container.dataset.hearthAssigned,
      list: await hearth.experiments.list(),
    };
  });
}

async function open(db: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${site.origin}/shop.html?db=${db}`);
  await page.waitForFunction(() => (document.getElementById('recs')?.dataset.hearthAssigned ?? '') !== '');
  return page;
}

/** A simulated shopper in Node: assigned and exposed at `at`, converting at the planted rate. */
async function simulatedShopper(i: number, random: () => number, at: number): Promise<MemoryStore> {
  const variant = random() < 0.5 ? 'bestsellers' : 'model';
  const store = new MemoryStore();
  const meta: ExperimentsMeta = {
    version: 1,
    records: { 'home-recs': { kind: 'experiment', variants: [...VARIANTS], variant, assignedAt: at - 1000, exposedAt: at, report: null, attempts: 0 } },
  };
  await store.setMeta(EXPERIMENTS_META_KEY, meta);
  const events: StoredEvent[] = [];
  if (random() < PLANTED[variant]) events.push({ eventId: `sim-${i}`, type: 'add_to_cart', time: at + 200, session: `s-${i}`, items: [{ item_id: 'SKU-1' }], itemIds: ['SKU-1'] });
  await store.appendEvents(events);
  return store;
}

function reportFrom(store: MemoryStore, i: number, at: number): ReturnType<typeof runExperimentReport> {
  return runExperimentReport({
    serverUrl,
    siteKey: SITE_KEY,
    store,
    consent: { personalise: true, contribute: true },
    capabilities: { globalPrivacyControl: false, saveData: false },
    subtle: webcrypto.subtle as unknown as SubtleCrypto,
    random: seededRandom(10_000 + i),
    now: () => at + 5_000,
  });
}

describe('an A/B test end to end, privately', () => {
  it('assigns, shows, counts and reports on the device; the shop reads the uplift from the server', async () => {
    // CORS preflights (if the browser reports them) carry nothing of the device's.
    const toServer = (): string[] => browser.requests.filter((r) => r.url().startsWith(serverUrl) && r.method() !== 'OPTIONS').map((r) => `${r.method()} ${new URL(r.url()).pathname}`);

    // 1. No consent: the control is shown, nothing is stored, nothing is sent.
    const first = await open('device-a');
    expect(await state(first)).toEqual({ shown: ['bestsellers'], assigned: 'bestsellers', list: [] });

    // 2. personalise: a random, sticky assignment, recorded exposure — and still no request anywhere.
    await first.evaluate(() => (window as any).hearth.consent.grant(['personalise']));
    await first.reload();
    await first.waitForFunction(() => (document.getElementById('recs')?.dataset.hearthAssigned ?? '') !== '');
    await first.waitForFunction(async () => ((await (window as any).hearth.experiments.list())[0]?.exposedAt ?? null) !== null);
    const assigned = await state(first);
    const variant = assigned.assigned!;
    expect(VARIANTS).toContain(variant);
    expect(assigned.shown).toEqual([variant]);
    for (let reload = 0; reload < 2; reload++) {
      await first.reload();
      await first.waitForFunction(() => (document.getElementById('recs')?.dataset.hearthAssigned ?? '') !== '');
      expect((await state(first)).assigned).toBe(variant);
    }
    const secondTab = await open('device-a');
    expect((await state(secondTab)).assigned).toBe(variant);
    // The queue's command gets the same sticky assignment.
    const queued = await secondTab.evaluate(
      (variants) =>
        new Promise((resolve) => {
          (window as any).hearth.push(['experiment', 'home-recs', { variants }, (test: { variant: string; enrolled: boolean }) => resolve(test)]);
        }),
      [...VARIANTS],
    );
    expect(queued).toMatchObject({ variant, enrolled: true });
    await secondTab.close();
    await first.evaluate((sku) => {
      const hearth = (window as any).hearth;
      hearth.track({ type: 'add_to_cart', items: [{ item_id: sku, price: 30, quantity: 1 }] });
      return hearth.flush();
    }, SKU);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // the one-second window passes
    expect(await first.evaluate(() => (window as any).hearth.experiments.report())).toMatchObject({ status: 'skipped', reason: 'no_consent' });
    expect(toServer()).toEqual([]);

    // 3. contribute: the device joins the secure round's cohort.
    const second = await open('device-b');
    for (const page of [first, second]) {
      await page.evaluate(() => (window as any).hearth.consent.grant(['personalise', 'contribute']));
    }
    await second.reload();
    await second.waitForFunction(async () => ((await (window as any).hearth.experiments.list())[0]?.exposedAt ?? null) !== null);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (const page of [first, second]) expect(await page.evaluate(() => (window as any).hearth.experiments.report())).toEqual({ status: 'waiting', reason: 'enrolled' });

    // Simulated shoppers (the same device code, in Node, over HTTP) fill this cohort and seven more.
    const random = seededRandom(77);
    const at = Date.now() - 60_000;
    const shoppers = await Promise.all(Array.from({ length: 8 * COHORT - 2 }, (_, i) => simulatedShopper(i, random, at)));
    const cohorts = [shoppers.slice(0, COHORT - 2), ...Array.from({ length: 7 }, (_, c) => shoppers.slice(COHORT - 2 + c * COHORT, COHORT - 2 + (c + 1) * COHORT))];
    for (const [c, cohort] of cohorts.entries()) {
      for (const [j, store] of cohort.entries()) expect((await reportFrom(store, c * COHORT + j, at)).status).toBe('waiting');
      for (const [j, store] of cohort.entries()) expect((await reportFrom(store, c * COHORT + j, at)).reported?.[0]?.channel).toBe('secure');
      if (c === 0) {
        for (const page of [first, second]) {
          const result = await page.evaluate(() => (window as any).hearth.experiments.report());
          expect(result).toMatchObject({ status: 'reported', reported: [{ name: 'home-recs', channel: 'secure' }] });
          expect(result.reported[0].epsilon).toBeLessThanOrEqual(4);
        }
        // Reported once: a second run sends nothing.
        const before = toServer().length;
        expect(await first.evaluate(() => (window as any).hearth.experiments.report())).toEqual({ status: 'skipped', reason: 'nothing_to_report' });
        expect(toServer().length).toBe(before);
      }
      await server.experiments!.settled();
    }
    expect(server.experiments!.roundId).toBe(9);

    // 4. The shop reads the results: rates, the uplift with its interval, the sequential test.
    const response = await fetch(`${serverUrl}/v1/experiments/home-recs/results`, { headers: { 'x-hearth-report-key': REPORT_KEY } });
    expect(response.status).toBe(200);
    const results = (await response.json()) as ExperimentResults;
    // What `hearth-server report home-recs` prints, kept for the README.
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    await writeFile(join(ARTIFACTS_DIR, 'experiments-report.txt'), formatResults(results));
    expect(results.releases).toBe(8);
    expect(results.reports).toEqual({ vector: 8 * COHORT, randomizedResponse: 0 });
    const cart = results.comparisons.find((c) => c.metric === 'add_to_cart')!;
    expect(cart.variant).toBe('model');
    expect(cart.difference.ci95[0]).toBeGreaterThan(0);
    expect(cart.difference.ci95[0]).toBeLessThanOrEqual(PLANTED.model - PLANTED.bestsellers);
    expect(cart.difference.ci95[1]).toBeGreaterThanOrEqual(PLANTED.model - PLANTED.bestsellers);
    expect(cart.uplift.ci95[0]).toBeGreaterThan(0);
    // The always-valid test has looked after the releases, and its confidence sequence holds the truth.
    expect(cart.sequential.looks).toBeGreaterThan(0);
    expect(cart.sequential.ci[0]).toBeLessThanOrEqual(PLANTED.model - PLANTED.bestsellers);
    expect(cart.sequential.ci[1]).toBeGreaterThanOrEqual(PLANTED.model - PLANTED.bestsellers);
    expect(results.history).toHaveLength(8);

    // What left the browser: its own files, and the experiment endpoints of the configured server only.
    expect(requestsOutside(browser.requests, [site.origin, serverUrl])).toEqual([]);
    expect(new Set(toServer().map((r) => r.replace(/rounds\/\d+/, 'rounds/N')))).toEqual(
      new Set(['GET /v1/experiments', 'POST /v1/experiments/rounds/N/keys', 'POST /v1/experiments/rounds/N/masked']),
    );
    // Bodies carry a public key or uniform-looking words: no experiment, variant, event, item or consent.
    const bodies = browser.requests.filter((r) => r.url().startsWith(serverUrl)).map((r) => r.postData() ?? '');
    for (const body of bodies) for (const secret of ['home-recs', 'bestsellers', 'add_to_cart', SKU, 'personalise', 'device-a']) expect(body).not.toContain(secret);
    const masked = bodies.filter((b) => b.includes('"masked"')).map((b) => JSON.parse(b) as { masked: string });
    expect(masked).toHaveLength(2);
    for (const page of [first, second]) expect(errorsOf(page)).toEqual([]);

    // forget() erases the assignment: the next page sees a fresh device.
    await first.evaluate(() => (window as any).hearth.forget());
    expect(await first.evaluate(() => (window as any).hearth.experiments.list())).toEqual([]);
  });
});
