/**
 * bench:reliability — the tracker under hostile conditions, in headless Chromium against the built
 * dist/ (run `npm run build` first): the same scenarios as test/e2e/tracker-reliability.test.ts,
 * with their figures printed for the README. Usage:
 *   npm run bench:reliability -- [--rounds 1000] [--runs 3]
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, startStaticServer } from '../test/e2e/harness.js';
import { reliabilityPages, runFuzz, runLeave, runQuota, type LeaveResult } from '../test/e2e/reliability-scenarios.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const rounds = option('rounds', 1_000);
const runs = option('runs', 3);

// run-ts.mjs bundles this file elsewhere: the repository is where npm runs it from.
const root = process.cwd();
if (!existsSync(join(root, 'dist/hearth.iife.js'))) {
  console.error('dist/hearth.iife.js is missing: run `npm run build` first.');
  process.exit(1);
}

const server = await startStaticServer({ root, handle: reliabilityPages });
const browser = await launchBrowser();
try {
  const fuzz = await runFuzz(browser, server.origin, rounds);
  console.log('Fuzz: hostile commands through every entry point, each followed by a valid event');
  console.log(
    `  commands tried: ${fuzz.total} (${Object.entries(fuzz.tried)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
  );
  console.log(`  valid events sent ${fuzz.sent}, stored ${fuzz.stored}, doubled ${fuzz.doubled.length}; page errors ${fuzz.pageErrors.length}; raw throws from track() ${fuzz.rawThrows.length}`);

  console.log(`\nLeaving the page (${runs} runs each; events tracked before the runtime loaded included)`);
  console.log('  left after load   | sent | stored | lost | doubled');
  const row = (label: string, results: LeaveResult[]): void => {
    const sum = (f: (r: LeaveResult) => number): number => results.reduce((n, r) => n + f(r), 0);
    console.log(
      `  ${label.padEnd(17)} | ${String(sum((r) => r.sent)).padStart(4)} | ${String(sum((r) => r.stored)).padStart(6)} | ${String(sum((r) => r.lost.length)).padStart(4)} | ${String(sum((r) => r.doubled.length)).padStart(7)}`,
    );
  };
  for (const delay of [0, 10, 50, 100] as const) {
    const results: LeaveResult[] = [];
    for (let i = 0; i < runs; i++) results.push(await runLeave(browser, server.origin, delay));
    row(`${delay} ms`, results);
  }
  const hops: LeaveResult[] = [];
  for (let i = 0; i < runs; i++) hops.push(await runLeave(browser, server.origin, 'two hops'));
  row('two hops, 0 ms', hops);
  const optIn: LeaveResult[] = [];
  for (let i = 0; i < runs; i++) optIn.push(await runLeave(browser, server.origin, 0, 'opt-in'));
  row('0 ms, opt-in', optIn);

  const quota = await runQuota(browser, server.origin);
  console.log(`\nQuota (${(quota.quotaBytes / 1024 / 1024).toFixed(0)} MB, filled with Hearth's own events)`);
  console.log(`  stored at full ${quota.storedAtFull}, after the new events ${quota.storedAfter}; evicted ${quota.evictedReally}, counted in exportData() ${quota.evictionsCounted}`);
  console.log(`  new events ${quota.newSent}: kept in memory while full ${quota.newKeptInMemory}, stored once room returned ${quota.newStoredAfterLift}, doubled ${quota.newDoubled}`);
} finally {
  await browser.close();
  await server.close();
}
