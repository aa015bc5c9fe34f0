/**
 * The quality benchmark (run through bench/quality.mjs). For each dataset, on one split, side by
 * side: Hearth as the engine serves it (the Transformer blended with its item neighbours), the
 * Transformer alone, item-to-item co-occurrence and most-popular; full-catalogue HR@k / NDCG@k
 * (and MRR@20 for RetailRocket), the sampled Games figures of the SASRec paper's protocol,
 * training time, epochs, positions/s and cores. Hearth trains with `fitRecommender`, the code
 * `hearth-train` runs, and every setting it chooses (best epoch, neighbour weight) is chosen on a
 * validation split carved out of the training data; the test split is only ever scored.
 *
 * Amazon Games (../shared/data/README.md): leave-one-out; validation = each user's second-to-last
 * item from the rest, test = the last item from everything before it, the user's own items
 * excluded from the ranking. RetailRocket: the given test prefixes; validation = every prefix of
 * the last 5 % of the training sessions (in file order), which the Transformer does not train on.
 * The counting models — co-occurrence, most popular and Hearth's item neighbours — all count the
 * same data: everything before the test items (Games), every training session (RetailRocket),
 * as `hearth-train` counts a shop's whole log after choosing its settings on validation; the
 * Transformer, too, trains a few more epochs on that data once its settings are chosen.
 */
import { readFileSync, existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { setupNodeRuntime, type NodeBackend } from '../src/train/node-runtime.js';
import { SasRecommender } from '../src/model/sasrec-recommender.js';
import { chooseLoss } from '../src/model/defaults.js';
import { seededRandom } from '../src/model/random.js';
import { fitRecommender } from '../src/train/fit.js';
import { DataParallelTrainer } from '../src/train/data-parallel.js';
import { blendedRanks, metricsOf, rankOf, type RankingCase } from '../src/train/evaluate.js';
import { TRAINING_DEFAULTS } from '../src/train/training-defaults.js';
import { contributions } from '../src/model/contributions.js';
import type { HistoryStep, RecommenderConfig } from '../src/model/contract.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'rr-minutes': { type: 'string', default: '10' },
    users: { type: 'string', default: '0' },
    sessions: { type: 'string', default: '0' },
    'eval-users': { type: 'string', default: '10000' },
    'rr-tests': { type: 'string', default: '0' },
    threads: { type: 'string', default: String(availableParallelism()) },
    backend: { type: 'string', default: 'wasm' },
    dims: { type: 'string' },
    blocks: { type: 'string' },
    heads: { type: 'string' },
    'max-len': { type: 'string' },
    dropout: { type: 'string' },
    negatives: { type: 'string' },
    lr: { type: 'string' },
    'batch-tokens': { type: 'string', default: String(TRAINING_DEFAULTS.batchTokens) },
    'throughput-seconds': { type: 'string', default: '40' },
    data: { type: 'string', default: '../shared/data' },
    skip: { type: 'string', default: '' },
    seed: { type: 'string', default: '42' },
  },
});
const num = (name: keyof typeof args): number => Number(args[name]);
const opts = {
  minutes: num('minutes'),
  rrMinutes: num('rr-minutes'),
  threads: Math.max(1, num('threads')),
  backend: args.backend as NodeBackend,
  batchTokens: num('batch-tokens'),
  seed: num('seed'),
  skip: String(args.skip).split(',').filter(Boolean),
};
/** The model settings: hearth-train's defaults, overridden by flags. */
function modelConfig(items: number): Partial<RecommenderConfig> {
  const config: Partial<RecommenderConfig> = { ...TRAINING_DEFAULTS.config, loss: chooseLoss(items) };
  const set = (flag: keyof typeof args, key: 'dims' | 'blocks' | 'heads' | 'maxLen' | 'dropout' | 'negatives' | 'learningRate'): void => {
    if (args[flag] !== undefined) config[key] = Number(args[flag]);
  };
  set('dims', 'dims');
  set('blocks', 'blocks');
  set('heads', 'heads');
  set('max-len', 'maxLen');
  set('dropout', 'dropout');
  set('negatives', 'negatives');
  set('lr', 'learningRate');
  return config;
}

// ---------- baselines (the "what a shop already has" side) ----------
/** A scorer gets the history as 0-based item indices and returns a score for every item. */
type Scorer = (history: readonly number[]) => Float32Array;

function popularityScorer(train: readonly number[][], items: number): Scorer {
  const pop = new Float32Array(items);
  for (const s of train) for (const i of s) pop[i]! += 1;
  return () => pop;
}

/**
 * "Customers also viewed": items within 3 steps of each other in a training sequence (the next
 * ones count double), unpruned; a history scores candidates from its last 3 items (weights 1, 1/2,
 * 1/3), ties broken by popularity.
 */
function cooccurrenceScorer(train: readonly number[][], items: number): Scorer {
  const window = 3;
  const co = new Map<number, Map<number, number>>();
  const pop = new Float32Array(items);
  for (const s of train) {
    for (let a = 0; a < s.length; a++) {
      pop[s[a] as number]! += 1;
      for (let b = Math.max(0, a - window); b <= Math.min(s.length - 1, a + window); b++) {
        if (b === a) continue;
        const x = s[a] as number;
        const y = s[b] as number;
        let row = co.get(x);
        if (!row) co.set(x, (row = new Map()));
        row.set(y, (row.get(y) ?? 0) + (b > a ? 2 : 1));
      }
    }
  }
  let maxPop = 1;
  for (const p of pop) maxPop = Math.max(maxPop, p);
  const base = Float32Array.from(pop, (p) => (p / maxPop) * 1e-3);
  return (history) => {
    const scores = base.slice();
    for (let k = 1; k <= Math.min(3, history.length); k++) {
      const row = co.get(history[history.length - k] as number);
      if (!row) continue;
      for (const [j, c] of row) scores[j]! += c / k;
    }
    return scores;
  };
}

// ---------- helpers ----------
const steps = (items: readonly number[], type: HistoryStep['type']): HistoryStep[] => items.map((i, t) => ({ itemId: String(i + 1), type, time: t }));
const fmt = (x: number): string => x.toFixed(4);

interface Row {
  name: string;
  values: Record<string, number>;
}
const table: Row[] = [];
const notes: string[] = [];

/** Rank lists of the baselines on test cases (0-based items). */
function baselineRanks(scorer: Scorer, cases: readonly { history: number[]; target: number; exclude: boolean }[]): Int32Array {
  return Int32Array.from(cases, (c) => {
    const excluded = c.exclude ? new Set(c.history) : null;
    excluded?.delete(c.target);
    return rankOf(scorer(c.history), c.target, excluded);
  });
}

async function trainHearth(
  label: string,
  items: number,
  sequences: HistoryStep[][],
  validation: RankingCase[],
  wholeLog: HistoryStep[][],
  minutes: number,
  k: number,
): Promise<{ model: SasRecommender; summary: string }> {
  const config = modelConfig(items);
  const fit = await fitRecommender({
    items: Array.from({ length: items }, (_, i) => ({ id: String(i + 1) })),
    config,
    seed: opts.seed,
    sequences,
    validation,
    wholeLog,
    k,
    minutes,
    maxEpochs: 1_000,
    threads: opts.threads,
    backend: opts.backend === 'cpu' ? 'cpu' : 'wasm',
    batchTokens: opts.batchTokens,
    log: (line) => console.log(`  [${label}] ${line}`),
  });
  const v = fit.validation;
  const curve = fit.curve.map((p) => `${p.seconds.toFixed(0)}s:${p.ndcg.toFixed(4)}`).join(' ');
  const summary =
    `${label}: ${fit.model.parameterCount()} parameters, loss ${fit.model.config.loss}${fit.model.config.loss === 'sampled-softmax' ? ` (${fit.model.config.negatives} negatives)` : ''}, ` +
    `${fit.trainSeconds.toFixed(0)} s of training in a ${minutes}-min budget, ${fit.epochs} epochs (best ${fit.bestEpoch}, stopped by ${fit.stoppedBy}) + ${fit.finalEpochs} over the whole log, ` +
    `${fit.positionsPerSecond.toFixed(0)} positions/s on ${fit.threads} cores; neighbour weight ${v?.neighbourWeight ?? '-'} chosen on validation ` +
    `(validation NDCG@${k}: Transformer ${v ? fmt(v.model.ndcg) : '-'}, blended ${v ? fmt(v.blended.ndcg) : '-'})\n    validation curve (time → NDCG@${k}): ${curve}`;
  return { model: fit.model, summary };
}

/**
 * Are explanations faithful? For each user's top 10 (history excluded), delete the top-explained
 * event from the history (really delete it, not hide it as explanations measure) and, separately,
 * a random other event of the explained window; faithful when the first lowers the item's served
 * probability more.
 */
function explanationFaithfulness(model: SasRecommender, users: readonly { history: number[] }[], random: () => number): string {
  let cases = 0;
  let faithful = 0;
  for (const user of users) {
    const read = steps(user.history.slice(-model.config.maxLen), 'purchase');
    const seen = new Set(user.history);
    const {
      rows,
      steps: explained,
      drops,
    } = contributions(model, read, 6, (p) => {
      const order = Array.from(p.keys()).filter((i) => !seen.has(i));
      order.sort((a, b) => (p[b] as number) - (p[a] as number));
      return order.slice(0, 10);
    });
    if (explained.length < 2) continue;
    const offset = read.length - explained.length;
    rows.forEach((row, c) => {
      const d = drops[c] as Float32Array;
      let best = 0;
      for (let e = 1; e < d.length; e++) if ((d[e] as number) > (d[best] as number)) best = e;
      const others = explained.map((_, e) => e).filter((e) => e !== best && explained[e]?.itemId !== explained[best]?.itemId);
      if (!((d[best] as number) > 0) || others.length === 0) return;
      const other = others[Math.floor(random() * others.length)] as number;
      const without = (e: number): number => model.probabilities(read.filter((_, i) => i !== offset + e))[row] as number;
      cases++;
      if (without(best) < without(other)) faithful++;
    });
  }
  return `explanations (Games, ${users.length} test users × top 10): deleting the top-explained event lowers the item's served probability more than deleting a random other event in ${((100 * faithful) / Math.max(1, cases)).toFixed(1)} % of ${cases} cases (target ≥ 80 %)`;
}

// ---------- Amazon Games ----------
async function games(): Promise<void> {
  const path = `${args.data}/amazon-games/games.txt`;
  if (!existsSync(path)) throw new Error(`${path} not found (run from the repository root)`);
  const byUser = new Map<string, number[]>();
  let items = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    const [u, i] = line.split(' ');
    const item = Number(i) - 1;
    items = Math.max(items, item + 1);
    let s = byUser.get(u as string);
    if (!s) byUser.set(u as string, (s = []));
    s.push(item);
  }
  const random = seededRandom(opts.seed);
  let users = [...byUser.values()];
  if (num('users') > 0 && num('users') < users.length)
    users = users
      .map((s) => ({ s, r: random() }))
      .sort((a, b) => a.r - b.r)
      .slice(0, num('users'))
      .map((x) => x.s);
  const train: number[][] = [];
  /** Everything before each user's test item: what the counting baselines and Hearth's neighbours see. */
  const known: number[][] = [];
  const validation: RankingCase[] = [];
  const tests: { history: number[]; target: number; exclude: boolean; trainSet: Set<number> }[] = [];
  for (const s of users) {
    if (s.length < 3) {
      train.push(s);
      known.push(s);
      continue;
    }
    const t = s.slice(0, -2);
    train.push(t);
    known.push(s.slice(0, -1));
    validation.push({ history: steps(t, 'purchase'), target: String((s[s.length - 2] as number) + 1), excludeHistory: true });
    tests.push({ history: s.slice(0, -1), target: s[s.length - 1] as number, exclude: true, trainSet: new Set(t) });
  }
  const evalTests =
    tests.length > num('eval-users')
      ? tests
          .map((c) => ({ c, r: random() }))
          .sort((a, b) => a.r - b.r)
          .slice(0, num('eval-users'))
          .map((x) => x.c)
      : tests;
  console.log(
    `Amazon Games: ${users.length} users, ${items} items, ${train.reduce((n, s) => n + s.length, 0)} training interactions, ${validation.length} validation and ${evalTests.length} test users`,
  );

  const { model, summary } = await trainHearth(
    'games',
    items,
    train.map((s) => steps(s, 'purchase')),
    validation,
    // As hearth-train ships it: settings chosen on the training split, then the whole log learnt
    // (here everything before the test items, the same data the baselines count).
    known.map((s) => steps(s, 'purchase')),
    opts.minutes,
    10,
  );
  notes.push(summary);
  // The same 100 sampled negatives for every model (items outside the user's training set).
  const candidates = evalTests.map((c) =>
    Array.from({ length: 100 }, () => {
      let t = Math.floor(random() * items);
      while (c.trainSet.has(t)) t = Math.floor(random() * items);
      return t;
    }),
  );
  const hearthCases: RankingCase[] = evalTests.map((c) => ({ history: steps(c.history, 'purchase'), target: String(c.target + 1), excludeHistory: true }));
  const started = performance.now();
  const weight = model.config.neighbourWeight;
  const full = blendedRanks(model, hearthCases, [weight, 0]);
  // Sampled ranks: the engine's scores at the test item and at its 100 negatives.
  const sampled = { blended: new Int32Array(evalTests.length), alone: new Int32Array(evalTests.length) };
  evalTests.forEach((c, u) => {
    const history = steps(c.history, 'purchase');
    const scored = model.score(history);
    const p = model.probabilities(history, scored);
    for (const [scores, into] of [
      [p, sampled.blended],
      [scored.scores, sampled.alone],
    ] as const) {
      const pos = scores[c.target] as number;
      into[u] = (candidates[u] as number[]).reduce((r, n) => r + ((scores[n] as number) >= pos ? 1 : 0), 0);
    }
  });
  console.log(`  Hearth scored in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  const column = (ranks: ArrayLike<number>, sampledRanks: ArrayLike<number>): Record<string, number> => {
    const s = metricsOf(sampledRanks, 10);
    const f = metricsOf(ranks, 10);
    return { 'HR@10 full': f.hr, 'NDCG@10 full': f.ndcg, 'HR@10 (100 neg)': s.hr, 'NDCG@10 (100 neg)': s.ndcg };
  };
  const pick = (ranks: Int32Array, j: number): Int32Array => Int32Array.from({ length: hearthCases.length }, (_, c) => ranks[c * 2 + j] as number);
  table.push({ name: 'games  Hearth (blend)', values: column(pick(full, 0), sampled.blended) });
  table.push({ name: 'games  Hearth Transformer', values: column(pick(full, 1), sampled.alone) });
  notes.push(explanationFaithfulness(model, evalTests.slice(0, 300), random));
  for (const [name, scorer] of [
    ['Co-occurrence', cooccurrenceScorer(known, items)],
    ['Most popular', popularityScorer(known, items)],
  ] as const) {
    const ranks = baselineRanks(scorer, evalTests);
    const sampledRanks = Int32Array.from(evalTests, (c, u) => {
      const scores = scorer(c.history);
      const pos = scores[c.target] as number;
      return (candidates[u] as number[]).reduce((r, n) => r + ((scores[n] as number) >= pos ? 1 : 0), 0);
    });
    table.push({ name: `games  ${name}`, values: column(ranks, sampledRanks) });
  }
  model.dispose();
}

// ---------- RetailRocket ----------
async function retailrocket(): Promise<void> {
  const dir = `${args.data}/retailrocket-sessions`;
  const random = seededRandom(opts.seed + 1);
  let sessions = readFileSync(`${dir}/train_sessions.txt`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ').map((x) => Number(x) - 1));
  let tests = readFileSync(`${dir}/test_prefix_target.tsv`, 'utf8')
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((l) => {
      const [, prefix, target] = l.split('\t');
      return { history: (prefix as string).split(' ').map((x) => Number(x) - 1), target: Number(target) - 1, exclude: false };
    });
  let items = 0;
  for (const s of sessions) for (const i of s) items = Math.max(items, i + 1);
  for (const t of tests) for (const i of [...t.history, t.target]) items = Math.max(items, i + 1);
  if (num('sessions') > 0 && num('sessions') < sessions.length) sessions = sessions.slice(-num('sessions'));
  if (num('rr-tests') > 0 && num('rr-tests') < tests.length)
    tests = tests
      .map((t) => ({ t, r: random() }))
      .sort((a, b) => a.r - b.r)
      .slice(0, num('rr-tests'))
      .map((x) => x.t);
  // The newest 5 % of the training sessions validate; every prefix of ≥ 2 clicks, like the test file.
  const cut = Math.floor(sessions.length * 0.95);
  const train = sessions.slice(0, cut);
  const validation: RankingCase[] = [];
  for (const s of sessions.slice(cut)) for (let p = 2; p < s.length; p++) validation.push({ history: steps(s.slice(0, p), 'view_item'), target: String((s[p] as number) + 1), excludeHistory: false });
  console.log(`RetailRocket: ${train.length} training sessions, ${validation.length} validation prefixes, ${items} items, ${tests.length} test cases`);

  const { model, summary } = await trainHearth(
    'retailrocket',
    items,
    train.map((s) => steps(s, 'view_item')),
    validation,
    // Settings chosen with the first 95 %; then every training session learnt (the baselines count them all too).
    sessions.map((s) => steps(s, 'view_item')),
    opts.rrMinutes,
    20,
  );
  notes.push(summary);
  const weight = model.config.neighbourWeight;
  const full = blendedRanks(
    model,
    tests.map((c) => ({ history: steps(c.history, 'view_item'), target: String(c.target + 1), excludeHistory: false })),
    [weight, 0],
  );
  const pick = (j: number): Int32Array => Int32Array.from({ length: tests.length }, (_, c) => full[c * 2 + j] as number);
  const column = (ranks: ArrayLike<number>): Record<string, number> => {
    const m = metricsOf(ranks, 20);
    return { 'HR@20': m.hr, 'MRR@20': m.mrr, 'NDCG@20': m.ndcg };
  };
  table.push({ name: 'rr     Hearth (blend)', values: column(pick(0)) });
  table.push({ name: 'rr     Hearth Transformer', values: column(pick(1)) });
  table.push({ name: 'rr     Co-occurrence', values: column(baselineRanks(cooccurrenceScorer(sessions, items), tests)) });
  table.push({ name: 'rr     Most popular', values: column(baselineRanks(popularityScorer(sessions, items), tests)) });
  model.dispose();
}

// ---------- training throughput: one thread (model.train) against every core ----------
async function throughput(): Promise<void> {
  const seconds = num('throughput-seconds');
  const lines = readFileSync(`${args.data}/amazon-games/games.txt`, 'utf8').split('\n');
  const byUser = new Map<string, number[]>();
  let items = 0;
  for (const line of lines) {
    if (!line) continue;
    const [u, i] = line.split(' ');
    items = Math.max(items, Number(i));
    let s = byUser.get(u as string);
    if (!s) byUser.set(u as string, (s = []));
    s.push(Number(i) - 1);
  }
  const sequences = [...byUser.values()].map((s) => steps(s.slice(0, -2), 'purchase'));
  const itemList = Array.from({ length: items }, (_, i) => ({ id: String(i + 1) }));
  const config = modelConfig(items);
  // One thread: the model's own train(), tfjs's Adam, as the worker and earlier versions train.
  const single = new SasRecommender({ items: itemList, config, seed: opts.seed });
  let positions = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await single
    .train(sequences, {
      epochs: 1,
      batchTokens: opts.batchTokens,
      batchSize: 100_000,
      signal: AbortSignal.timeout(seconds * 1000),
      onProgress: (p) => {
        positions = p.fraction * sequences.reduce((n, s) => n + Math.max(0, s.length - 1), 0);
      },
    })
    .catch(() => undefined);
  const singleRate = positions / ((performance.now() - start) / 1000);
  const parameters = single.parameterCount();
  single.dispose();
  const trainer = await DataParallelTrainer.start({ items: itemList, config, seed: opts.seed, sequences, threads: opts.threads, parameters, batchTokens: opts.batchTokens, batchSize: 100_000 });
  const parallelStart = performance.now();
  const result = await trainer.epoch(1, parallelStart + seconds * 1000);
  const parallelRate = result.positions / ((performance.now() - parallelStart) / 1000);
  await trainer.close();
  void deadline;
  notes.push(
    `throughput (Games model, ${seconds} s each): one thread ${singleRate.toFixed(0)} positions/s, ${opts.threads} threads ${parallelRate.toFixed(0)} positions/s — ${(parallelRate / singleRate).toFixed(2)}×`,
  );
}

// ---------- main ----------
const backend = await setupNodeRuntime(opts.backend);
console.log(`Hearth quality benchmark — backend ${backend}, ${opts.threads} training threads, options ${JSON.stringify(args)}`);
const t0 = performance.now();
if (!opts.skip.includes('games')) await games();
if (!opts.skip.includes('rr')) await retailrocket();
if (!opts.skip.includes('throughput')) await throughput();
const columns = [...new Set(table.flatMap((r) => Object.keys(r.values)))];
console.log('\n' + ['model'.padEnd(28), ...columns.map((c) => c.padStart(18))].join(''));
for (const r of table) console.log([r.name.padEnd(28), ...columns.map((c) => (r.values[c] === undefined ? '' : fmt(r.values[c] as number)).padStart(18))].join(''));
const ratio = (a: string, b: string, column: string): string => {
  const x = table.find((r) => r.name === a)?.values[column];
  const y = table.find((r) => r.name === b)?.values[column];
  return x !== undefined && y !== undefined && y > 0 ? `${(x / y).toFixed(2)}×` : '-';
};
console.log(
  `\nHearth ÷ co-occurrence: Games NDCG@10 full ${ratio('games  Hearth (blend)', 'games  Co-occurrence', 'NDCG@10 full')} (Transformer alone ${ratio('games  Hearth Transformer', 'games  Co-occurrence', 'NDCG@10 full')}); ` +
    `RetailRocket MRR@20 ${ratio('rr     Hearth (blend)', 'rr     Co-occurrence', 'MRR@20')}, HR@20 ${ratio('rr     Hearth (blend)', 'rr     Co-occurrence', 'HR@20')} (Transformer alone ${ratio('rr     Hearth Transformer', 'rr     Co-occurrence', 'MRR@20')}, ${ratio('rr     Hearth Transformer', 'rr     Co-occurrence', 'HR@20')})`,
);
console.log('SASRec paper (Games, 100 neg): HR@10 0.7410, NDCG@10 0.5360');
for (const n of notes) console.log(n);
console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
