// Leave-one-out data and the sampled-negatives protocol of ../shared/data/README.md, shared by
// benchmarks: last item = test, second-to-last = validation, the rest = training (users with
// < 3 interactions are training-only); the test input is training + validation, left-truncated;
// candidates are the test item plus 100 items drawn uniformly from all items, rejecting items in
// the user's training set; rank = negatives scoring >= the positive (pessimistic on ties).
import { readFileSync } from 'node:fs';

/** A small deterministic generator (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Reads `user item` lines (1-based, chronological per user). With `maxUsers`, keeps a seeded
 * random subset of users and renumbers their items 1..numItems (0 stays free for padding).
 */
export function loadInteractions(path, { maxUsers = Infinity, seed = 1 } = {}) {
  const byUser = new Map();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    const [u, i] = line.split(' ');
    let seq = byUser.get(u);
    if (!seq) byUser.set(u, (seq = []));
    seq.push(Number(i));
  }
  let users = [...byUser.values()];
  if (users.length > maxUsers) {
    const random = rng(seed);
    for (let k = users.length - 1; k > 0; k--) {
      const j = Math.floor(random() * (k + 1));
      [users[k], users[j]] = [users[j], users[k]];
    }
    users = users.slice(0, maxUsers);
  }
  const remap = new Map();
  const sequences = users.map((seq) =>
    seq.map((item) => {
      let id = remap.get(item);
      if (id === undefined) remap.set(item, (id = remap.size + 1));
      return id;
    }),
  );
  return { sequences, numItems: remap.size };
}

/** Splits every user's sequence leave-one-out. */
export function leaveOneOut(sequences) {
  return sequences.map((seq) => {
    if (seq.length < 3) return { train: seq.slice(), valid: undefined, test: undefined };
    return { train: seq.slice(0, -2), valid: seq[seq.length - 2], test: seq[seq.length - 1] };
  });
}

/** The evaluation cases: input, positive and 100 negatives per user (seeded, shared by every method). */
export function samplingCases(split, numItems, { maxUsers = 10_000, negatives = 100, maxLen = 50, seed = 7 } = {}) {
  const random = rng(seed);
  let users = split.map((s, u) => u).filter((u) => split[u].test !== undefined);
  if (users.length > maxUsers) {
    for (let k = users.length - 1; k > 0; k--) {
      const j = Math.floor(random() * (k + 1));
      [users[k], users[j]] = [users[j], users[k]];
    }
    users = users.slice(0, maxUsers);
  }
  return users.map((u) => {
    const { train, valid, test } = split[u];
    const seen = new Set(train);
    const candidates = [test];
    while (candidates.length < negatives + 1) {
      const item = 1 + Math.floor(random() * numItems);
      if (!seen.has(item)) candidates.push(item);
    }
    return { user: u, input: [...train, valid].slice(-maxLen), candidates };
  });
}

/** HR@10 and NDCG@10 over the cases; `score(input, candidates)` returns one score per candidate. */
export function evaluateSampled(cases, score, k = 10) {
  let hr = 0;
  let ndcg = 0;
  for (const { input, candidates } of cases) {
    const scores = score(input, candidates);
    const positive = scores[0];
    let rank = 0;
    for (let j = 1; j < scores.length; j++) if (scores[j] >= positive) rank++;
    if (rank < k) {
      hr += 1;
      ndcg += 1 / Math.log2(rank + 2);
    }
  }
  return { hr: hr / cases.length, ndcg: ndcg / cases.length, users: cases.length };
}
