/**
 * The tracker under hostile conditions in Chromium (scenarios in reliability-scenarios.ts; the
 * figures of the same runs are printed by `npm run bench:reliability`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, startStaticServer, type Browser, type StaticServer } from './harness.js';
import { readStored, reliabilityPages, runFuzz, runLeave, runQuota } from './reliability-scenarios.js';

let server: StaticServer;
let browser: Browser;

beforeAll(async () => {
  server = await startStaticServer({ handle: reliabilityPages });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the tracker under hostile conditions', () => {
  it('contains over a thousand hostile commands through every entry point and stores every valid event between them exactly once', async () => {
    const result = await runFuzz(browser, server.origin, 1_000);
    console.log(
      `fuzz: ${result.total} hostile commands (${JSON.stringify(result.tried)}); valid events sent ${result.sent}, stored ${result.stored}, doubled ${result.doubled.length}; page errors ${result.pageErrors.length}`,
    );
    expect(result.total).toBeGreaterThanOrEqual(1_000);
    expect(result.pageErrors).toEqual([]);
    expect(result.rawThrows).toEqual([]);
    expect(result.lost).toEqual([]);
    expect(result.doubled).toEqual([]);
  });

  for (const delay of [0, 10, 50, 100] as const) {
    it(`loses no event when the page is left ${delay} ms after load, and stores each once`, async () => {
      const result = await runLeave(browser, server.origin, delay);
      console.log(`left at ${delay} ms: sent ${result.sent}, stored ${result.stored}, doubled ${result.doubled.length}`);
      expect(result.lost).toEqual([]);
      expect(result.doubled).toEqual([]);
      expect(result.pageErrors).toEqual([]);
    });
  }

  it('loses no event over two quick hops in a row', async () => {
    const result = await runLeave(browser, server.origin, 'two hops');
    console.log(`two hops: sent ${result.sent}, stored ${result.stored}, doubled ${result.doubled.length}`);
    expect(result.lost).toEqual([]);
    expect(result.doubled).toEqual([]);
  });

  it('opt-in with an earlier grant: a page left at once keeps its events (the tag knows the decision before the store opens)', async () => {
    const result = await runLeave(browser, server.origin, 0, 'opt-in');
    expect(result.lost).toEqual([]);
    expect(result.doubled).toEqual([]);
  });

  it('opt-in without a decision: a page left at once stashes nothing in localStorage and nothing is stored', async () => {
    const page = await browser.newPage();
    const db = `undecided-${Date.now()}`;
    const stashes: string[][] = [];
    await page.exposeFunction('reportStashes', (keys: string[]) => stashes.push(keys));
    await page.addInitScript((name) => {
      addEventListener('pagehide', () => {
        const keys = Object.keys(localStorage).filter((k) => k.startsWith('hearth-') && k.includes(name));
        (window as unknown as { reportStashes(k: string[]): void }).reportStashes(keys);
      });
    }, db);
    await page.goto(`${server.origin}/reliability/leave?db=${db}&consent=opt-in&tag=undecided&delay=0&next=${encodeURIComponent(`/reliability/final?db=${db}&consent=opt-in`)}`, {
      waitUntil: 'commit',
    });
    await page.waitForURL(/\/reliability\/final/);
    await page.waitForFunction(() => typeof (window as unknown as { hearth?: { ready?: unknown } }).hearth?.ready === 'object');
    await page.evaluate(() => (window as unknown as { hearth: { ready: Promise<void>; flush(): Promise<void> } }).hearth.ready);
    expect(await page.evaluate((name) => Object.keys(localStorage).filter((k) => k.startsWith('hearth-') && k.includes(name)), db)).toEqual([]);
    expect(stashes.flat()).toEqual([]);
    expect(await readStored(page, db)).toEqual([]);
    await page.close();
  });

  it('when its own data fills the quota: evicts a bounded share of the oldest, counts it in exportData(), keeps the new events and writes them once room returns', async () => {
    const result = await runQuota(browser, server.origin);
    console.log(`quota: ${JSON.stringify(result)}`);
    expect(result.storedAtFull).toBeGreaterThan(10);
    // History is not wiped: at most three steps of 10 % per write, fewer where evicting frees nothing.
    expect(result.storedAfter).toBeGreaterThanOrEqual(Math.floor(result.storedAtFull * 0.7));
    expect(result.evictionsCounted).toBe(result.evictedReally);
    // The newest events are kept (stored, or in memory until there is room) and written once.
    expect(result.newKeptInMemory).toBe(result.newSent);
    expect(result.newStoredAfterLift).toBe(result.newSent);
    expect(result.newDoubled).toBe(0);
    expect(result.pageErrors).toEqual([]);
  });
});
