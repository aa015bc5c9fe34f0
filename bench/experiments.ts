/**
 * `npm run bench:experiments`: the statistics of private experiments on simulated shops, one run.
 *
 * Shoppers are sessions of the RetailRocket log (../shared/data/retailrocket-sessions): each
 * session's length sets its shopper's propensity to convert (p = min(0.6, 0.03 · clicks); the log
 * has no purchases, so conversions are simulated from it), which makes the shoppers as unequal as
 * real ones. An experiment draws shoppers at random, assigns them 50/50, and the treatment multiplies
 * each shopper's p by (1 + uplift). Shoppers arrive over 14 daily releases; each release goes
 * through the server's own code: noise calibrated to ε per experiment on every cell (`calibrate`:
 * the Gaussian σ of central rounds, or the Skellam μ a secure cohort's shares sum to), and the
 * results with the sequential test (`experimentResults`), looked at after every release.
 *
 * Prints: the false-positive rate of the sequential test over 200 A/A experiments, the coverage of
 * the 95 % interval of the uplift, the shoppers needed to detect +10 % with and without DP (and
 * with randomized response alone), and the regret of `optimise()`'s Thompson sampling.
 */
import { readFileSync } from 'node:fs';
import { buildLayout } from '../src/experiments/layout.js';
import { calibrate } from '../src/federated/experiment-privacy.js';
import { experimentResults, accumulate, type ExperimentData, type Release } from '../src/server/experiments/results.js';
import { compare, emptyTotals, estimatedCounts, initialSequentialState, look } from '../src/experiments/statistics.js';
import { randomize, rrParams, addToTally, emptyTally } from '../src/experiments/randomized-response.js';
import { categoryOf } from '../src/experiments/layout.js';
import { chooseArm, priorFromCounts } from '../src/experiments/thompson.js';
import { gaussianSampler, seededRandom, type RandomSource } from '../src/shared/random.js';
import { sampleSkellam } from '../src/federated/secure-aggregation.js';
import type { LayoutExperiment, RegistryExperiment } from '../src/protocol/experiments.js';

const DATA = '../shared/data/retailrocket-sessions/train_sessions.txt';
const DAYS = 14;
const EPSILON = 1;
const started = Date.now();

function propensities(): Float64Array {
  const lines = readFileSync(DATA, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  return Float64Array.from(lines, (line) => Math.min(0.6, 0.03 * line.split(' ').length));
}

const P = propensities();
const meanP = P.reduce((a, b) => a + b, 0) / P.length;

function entryFor(epsilon: number | null): LayoutExperiment {
  const registry: RegistryExperiment = {
    name: 'bench',
    kind: 'experiment',
    variants: ['control', 'treatment'],
    metrics: ['purchase'],
    windowHours: 168,
    revenueCap: 1,
    epsilon: epsilon ?? 1,
    delta: 1e-6,
  };
  const entry = buildLayout([registry], calibrate).experiments[0]!;
  return epsilon === null ? { ...entry, sigma: 0 } : entry;
}

/** One day's shoppers as a release: noisy cell sums [exposed, purchases] per variant. */
function dayRelease(entry: LayoutExperiment, shoppers: number, uplift: number, random: RandomSource, normal: () => number, day: number): Release {
  const sums = [0, 0, 0, 0];
  for (let i = 0; i < shoppers; i++) {
    const p = P[Math.floor(random() * P.length)]!;
    const v = random() < 0.5 ? 0 : 1;
    sums[v * 2]!++;
    if (random() < (v === 1 ? p * (1 + uplift) : p)) sums[v * 2 + 1]!++;
  }
  const noisy = entry.sigma > 0;
  return {
    at: day,
    roundId: day + 1,
    vectorReports: shoppers,
    cells: sums.map((s) => (noisy ? Math.round(s + entry.sigma * normal()) : s)),
    noiseVariance: sums.map(() => (noisy ? entry.sigma * entry.sigma + 1 / 12 : 0)),
    rrN: 0,
    rrCounts: [],
  };
}

/** 200 experiments of `shoppers` each over 14 releases: rejections and interval coverage. */
function experiments(uplift: number, count: number, shoppers: number, seed: number): { rejected: number; covered: number; coveredSequence: number } {
  const entry = entryFor(EPSILON);
  let rejected = 0;
  let covered = 0;
  let coveredSequence = 0;
  for (let k = 0; k < count; k++) {
    const random = seededRandom(seed + k);
    const normal = gaussianSampler(random);
    const data: ExperimentData = { experiment: entry, releases: [] };
    for (let day = 0; day < DAYS; day++) data.releases.push(dayRelease(entry, shoppers / DAYS, uplift, random, normal, day));
    const c = experimentResults(data).comparisons[0]!;
    if (c.sequential.significant) rejected++;
    if (c.uplift.ci95[0] <= uplift && uplift <= c.uplift.ci95[1]) covered++;
    const trueDifference = meanP * uplift;
    if (c.sequential.ci[0] <= trueDifference && trueDifference <= c.sequential.ci[1]) coveredSequence++;
  }
  return { rejected, covered, coveredSequence };
}

type Privacy = 'none' | 'central' | 'secure' | 'rr';

/** Shoppers until the sequential test detects `uplift` (daily looks of `perDay` new shoppers), or Infinity. */
function shoppersToDetect(uplift: number, privacy: Privacy, perDay: number, maxDays: number, seed: number): number {
  const random = seededRandom(seed);
  const normal = gaussianSampler(random);
  const entry = entryFor(privacy === 'none' ? null : EPSILON);
  const totals = emptyTotals(2, 1);
  let state = initialSequentialState();
  const params = rrParams(entry.rr.mechanism, entry.rr.epsilon, entry.rr.categories);
  for (let day = 0; day < maxDays; day++) {
    let release: Release;
    if (privacy === 'rr') {
      const tally = emptyTally(params.d);
      for (let i = 0; i < perDay; i++) {
        const p = P[Math.floor(random() * P.length)]!;
        const v = random() < 0.5 ? 0 : 1;
        const bought = random() < (v === 1 ? p * (1 + uplift) : p);
        addToTally(tally, randomize(params, categoryOf(1, { variant: v, bits: [bought] }), random));
      }
      release = { at: day, roundId: day + 1, vectorReports: 0, cells: [], noiseVariance: [], rrN: tally.n, rrCounts: tally.counts };
    } else if (privacy === 'secure') {
      // A secure round's release: the exact sums plus the cohort's Skellam shares, Sk(μ) in all per cell.
      const plain = dayRelease({ ...entry, sigma: 0 }, perDay, uplift, random, normal, day);
      release = { ...plain, cells: plain.cells.map((c) => c + sampleSkellam(entry.secureMu, random)), noiseVariance: plain.cells.map(() => 2 * entry.secureMu) };
    } else {
      release = dayRelease(entry, perDay, uplift, random, normal, day);
    }
    accumulate(totals, entry, release);
    const { conversions } = estimatedCounts(totals);
    state = look(state, compare(totals, 0, 1, 0), { control: conversions[0]![0]!, treatment: conversions[1]![0]! });
    if (state.significant) return (day + 1) * perDay;
  }
  return Number.POSITIVE_INFINITY;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * `optimise()` on many devices: each device shows one of the arms on each of its visits and learns
 * from its own rewards; every simulated day the devices' first-showing reports (noisy, at ε) become
 * the shop-wide priors of the next day's devices. Regret: expected rewards lost against always
 * showing the best arm.
 */
function banditRegret(policy: 'uniform' | 'local' | 'priors', seed: number): { perShowing: number; showings: number } {
  const rates = [0.05, 0.07, 0.09];
  const best = Math.max(...rates);
  const random = seededRandom(seed);
  const normal = gaussianSampler(random);
  const sigma = entryFor(EPSILON).sigma;
  const devicesPerDay = 400;
  const visits = 8;
  let priors: [number, number][] = rates.map(() => [1, 1]);
  const shop = rates.map((): [number, number] => [0, 0]);
  let regret = 0;
  let showings = 0;
  for (let day = 0; day < 10; day++) {
    const firsts = rates.map((): [number, number] => [0, 0]);
    for (let d = 0; d < devicesPerDay; d++) {
      const local = rates.map(() => [0, 0] as [number, number]);
      for (let s = 0; s < visits; s++) {
        let arm: number;
        if (policy === 'uniform') arm = Math.floor(random() * rates.length);
        else {
          const base = policy === 'priors' ? priors : rates.map((): [number, number] => [1, 1]);
          arm = chooseArm(
            base.map(([a, b], i) => [a + local[i]![0], b + local[i]![1]] as [number, number]),
            random,
          );
        }
        const rewarded = random() < rates[arm]!;
        local[arm]![rewarded ? 0 : 1]++;
        if (s === 0) {
          firsts[arm]![0]++;
          if (rewarded) firsts[arm]![1]++;
        }
        regret += best - rates[arm]!;
        showings++;
      }
    }
    // The day's release: noisy sums of first showings and their rewards, at ε.
    firsts.forEach(([shown, won], i) => {
      shop[i]![0] += Math.round(shown + sigma * normal());
      shop[i]![1] += Math.round(won + sigma * normal());
    });
    priors = shop.map(([shown, won]) => priorFromCounts(shown, won));
  }
  return { perShowing: regret / showings, showings };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)} %`;
}

function fmt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '> max';
}

const rows: string[][] = [];
const check = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');

console.log(
  `bench:experiments — ${P.length.toLocaleString('en-US')} RetailRocket sessions as shoppers (mean p = ${meanP.toFixed(3)}), ε = ${EPSILON}, δ = 1e-6, σ = ${entryFor(EPSILON).sigma.toFixed(2)} per cell per release, ${DAYS} daily looks\n`,
);

const aa = experiments(0, 200, 20_000, 1);
rows.push(['A/A false-positive rate, sequential test (200 × 20,000 shoppers, 14 looks)', pct(aa.rejected / 200), '≤ 5 %', check(aa.rejected / 200 <= 0.05)]);
for (const uplift of [0.05, 0.1]) {
  const planted = experiments(uplift, 200, 20_000, 1000 * (uplift * 100));
  rows.push([`+${uplift * 100} %: coverage of the 95 % uplift interval (200 experiments)`, pct(planted.covered / 200), '≥ 93 %', check(planted.covered / 200 >= 0.93)]);
  rows.push([`+${uplift * 100} %: coverage of the confidence sequence (always valid)`, pct(planted.coveredSequence / 200), '≥ 95 %', check(planted.coveredSequence / 200 >= 0.95)]);
  rows.push([`+${uplift * 100} %: power of the sequential test at 20,000 shoppers`, pct(planted.rejected / 200), '', '']);
}

const runs = 40;
const rrRuns = 10;
const detect = (privacy: Privacy, perRelease = 1_000): number =>
  privacy === 'rr'
    ? median(Array.from({ length: rrRuns }, (_, i) => shoppersToDetect(0.1, privacy, 20_000, 100, 5000 + i)))
    : median(Array.from({ length: runs }, (_, i) => shoppersToDetect(0.1, privacy, perRelease, 200_000 / perRelease, 5000 + i)));
const none = detect('none');
const central = detect('central');
const secure = detect('secure');
const rr = detect('rr');
const none5k = detect('none', 5_000);
const central5k = detect('central', 5_000);

const widths = [78, 10, 8, 5];
const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 10)).join('  ');
console.log(line(['statistic', 'measured', 'target', '']));
for (const row of rows) console.log(line(row));

console.log(
  `\nShoppers needed to detect +10 % purchase conversion (median of ${runs} runs, ${rrRuns} for randomized response; mSPRT at α = 0.05, a release and a look per 1,000 shoppers, 20,000 for randomized response):`,
);
console.log(line(['  without DP', fmt(none), '1.00×', '']));
console.log(line([`  ε = ${EPSILON} per experiment, central rounds (Gaussian noise)`, fmt(central), `${(central / none).toFixed(2)}×`, '']));
console.log(line([`  ε = ${EPSILON} per experiment, secure rounds (Skellam shares, μ = ${entryFor(EPSILON).secureMu.toFixed(1)})`, fmt(secure), `${(secure / none).toFixed(2)}×`, '']));
console.log(line([`  ε = ${EPSILON} per experiment, randomized response only (the fallback)`, fmt(rr), `${(rr / none).toFixed(2)}×`, '']));
console.log('Each release carries its own noise, so fewer, larger releases cost less. A release and a look per 5,000 shoppers:');
console.log(line(['  without DP', fmt(none5k), '1.00×', '']));
console.log(line([`  ε = ${EPSILON} per experiment, central rounds (Gaussian noise)`, fmt(central5k), `${(central5k / none5k).toFixed(2)}×`, '']));

const uniform = banditRegret('uniform', 9);
const local = banditRegret('local', 9);
const withPriors = banditRegret('priors', 9);
console.log(`\noptimise(): regret per showing against the best fixed arm (arms 5 %, 7 %, 9 %; 4,000 devices × 8 visits; priors released daily at ε = ${EPSILON}):`);
console.log(line(['  uniform random arm', uniform.perShowing.toFixed(4), '1.00×', '']));
console.log(line(['  Thompson sampling, this device’s rewards only', local.perShowing.toFixed(4), `${(local.perShowing / uniform.perShowing).toFixed(2)}×`, '']));
console.log(line(['  Thompson sampling with the shop-wide private priors', withPriors.perShowing.toFixed(4), `${(withPriors.perShowing / uniform.perShowing).toFixed(2)}×`, '']));
console.log(`\n${((Date.now() - started) / 1000).toFixed(1)} s`);
