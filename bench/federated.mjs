#!/usr/bin/env node
// npm run bench:federated -- [--minutes 20] [--users 5000] [--clients-per-round 50] [--noise 0.5,1.0]
//                            [--local-epochs 1] [--aggregator fedavg|fedadam] [--server-lr X]
//
// Simulates the shop on ../shared/data/amazon-games/games.txt: each user is one client that holds
// only their own history. The real federated client (src/federated/client.ts) talks over HTTP on
// 127.0.0.1 to the real aggregation server (src/server), in rounds of sampled clients. Printed side
// by side, on one leave-one-out split with 100 sampled negatives (HR@10, NDCG@10): centralised
// training, FedAvg without noise, DP-FedAvg at two or more noise levels with the epsilon each
// reaches (delta 1e-5); bytes uploaded per client per round; server throughput; and the attack
// test (a curious server guessing a shopper's items from one upload).
//
// The quality comparison uses a small plain-JS next-item model (bench/federated-model.mjs) so that
// thousands of simulated clients fit in minutes on two shared cores; the upload sizes of the real
// SASRec recommender (default demo model and games-sized model) are measured with the real model.
import { build } from 'esbuild';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadInteractions, leaveOneOut, samplingCases, evaluateSampled, rng } from './sampled-eval.mjs';
import { BagModel } from './federated-model.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(REPO, '../shared/data/amazon-games/games.txt');
const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '20' },
    users: { type: 'string', default: '5000' },
    'eval-users': { type: 'string', default: '1000' },
    'clients-per-round': { type: 'string', default: '50' },
    'max-rounds': { type: 'string', default: '100' },
    noise: { type: 'string', default: '0.5,1.0' },
    clip: { type: 'string', default: '0.2' },
    dims: { type: 'string', default: '32' },
    'local-epochs': { type: 'string', default: '1' },
    aggregator: { type: 'string', default: 'fedavg' },
    // Default: K for FedAvg (see below), the server's own default (0.01) for FedAdam.
    'server-lr': { type: 'string' },
    'skip-sasrec': { type: 'boolean', default: false },
  },
});
const minutes = Number(args.minutes);
const budgetMs = minutes * 60_000;
const started = Date.now();
const K = Number(args['clients-per-round']);
const clip = Number(args.clip);
const noiseLevels = args.noise
  .split(',')
  .map(Number)
  .filter((z) => z > 0);
const dims = Number(args.dims);
const log = (...m) => console.error(`[${((Date.now() - started) / 1000).toFixed(0)}s]`, ...m);

// --- The real TypeScript code, bundled once for Node (dependencies stay in node_modules).
const LIB = join(REPO, 'node_modules/.cache/hearth-bench/federated-lib.mjs');
await build({
  stdin: {
    contents: `
      export { runFederatedRound } from './src/federated/client.ts';
      export { decodeUpdate, encodeUpdate } from './src/federated/wire.ts';
      export { withManifest, weightsToBuffer } from './src/protocol/model-file.ts';
      export { subtractWeights } from './src/federated/update-math.ts';
      export { createAggregationServer } from './src/server/index.ts';`,
    resolveDir: REPO,
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  packages: 'external',
  outfile: LIB,
  logLevel: 'silent',
});
const lib = await import(LIB);

// --- Data: one split, one set of evaluation cases, shared by every method.
const { sequences, numItems } = loadInteractions(DATA, { maxUsers: Number(args.users), seed: 1 });
const split = leaveOneOut(sequences);
const cases = samplingCases(split, numItems, { maxUsers: Number(args['eval-users']) });
const clients = split.map((s) => s.train).filter((s) => s.length >= 2);
log(`data: ${sequences.length} users (${clients.length} clients with >= 2 training items), ${numItems} items, ${cases.length} evaluation users`);
const modelOptions = { numItems, dims, negatives: 50, learningRate: 0.05 };
const initial = new BagModel({ ...modelOptions, seed: 1 });
const initialWeights = initial.getWeights();
const evaluate = (weights) => {
  const m = new BagModel({ ...modelOptions, seed: 2 });
  m.setWeights(weights);
  return evaluateSampled(cases, (input, candidates) => m.score(input, candidates));
};
const toHistory = (seq) => seq.map((item) => ({ itemId: String(item), type: 'view_item', time: 0 }));
const SITE_KEY = 'bench-site-key-0001';
const phaseMs = {
  central: budgetMs * 0.05,
  fedavg: budgetMs * 0.4,
  dp: (budgetMs * 0.4) / Math.max(1, noiseLevels.length),
};

/** One federated run: a real server on 127.0.0.1, rounds of K sampled clients running the real client. */
async function federatedRun(name, { noiseMultiplier = 0, timeMs, captureAttack = false }) {
  const dataDir = await mkdtemp(join(tmpdir(), 'hearth-bench-fl-'));
  const modelJson = lib.withManifest({ format: 'hearth-bench', modelTopology: null }, initialWeights, 'weights.bin');
  const server = await lib.createAggregationServer({
    dataDir,
    initialModel: { modelJson, weights: lib.weightsToBuffer(initialWeights) },
    siteKeys: [SITE_KEY],
    minClients: K,
    aggregator: args.aggregator,
    // A row of an item table is touched by few clients per round, so the mean dilutes its update
    // by ~K; a server learning rate of K makes FedAvg's step the sum of the clients' steps.
    ...(args['server-lr'] !== undefined ? { serverLr: Number(args['server-lr']) } : args.aggregator === 'fedavg' ? { serverLr: K } : {}),
    clip,
    noiseMultiplier,
    ...(noiseMultiplier > 0 ? { population: clients.length, delta: 1e-5 } : {}),
    epochs: Number(args['local-epochs']),
    rateLimit: 1e9,
    bodyLimit: 64 << 20,
  });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  const random = rng(noiseMultiplier * 1000 + 11);
  // Simulated devices share one cache of the global model (each real device would download it once per version).
  const cache = new Map();
  const store = { getCheckpoint: async (n) => cache.get(n), putCheckpoint: async (c) => void cache.set(c.name, c), setMeta: async () => undefined };
  const pool = Array.from({ length: 4 }, (_, i) => new BagModel({ ...modelOptions, seed: 100 + i }));
  const bytes = [];
  const uploads = [];
  const t0 = Date.now();
  let rounds = 0;
  let uploadMs = 0;
  while (rounds < Number(args['max-rounds']) && Date.now() - t0 < timeMs) {
    const roundId = server.coordinator.status().roundId;
    const chosen = Array.from({ length: K }, () => Math.floor(random() * clients.length));
    let next = 0;
    const worker = async (model) => {
      while (next < chosen.length) {
        const c = chosen[next++];
        const capture = captureAttack && uploads.length < 200;
        const fetchRecorded = capture
          ? async (input, init) => {
              if (init?.method === 'POST') uploads.push({ client: c, body: init.body });
              return fetch(input, init);
            }
          : fetch;
        const u0 = Date.now();
        const result = await lib.runFederatedRound({
          serverUrl: url,
          siteKey: SITE_KEY,
          model,
          sequences: [toHistory(clients[c])],
          store,
          consent: { contribute: true },
          capabilities: { globalPrivacyControl: false, saveData: false },
          fetch: fetchRecorded,
          retry: { attempts: 3, baseDelayMs: 50 },
        });
        uploadMs += Date.now() - u0;
        if (result.status !== 'uploaded') throw new Error(`${name}: client ${c} ${result.status} ${result.reason}`);
        bytes.push(result.upload.bytes);
      }
    };
    await Promise.all(pool.map(worker));
    await server.settled();
    const status = server.coordinator.status();
    if (status.roundId === roundId) throw new Error(`${name}: round ${roundId} did not publish (${status.status})`);
    rounds++;
    if (rounds % 10 === 0) log(`${name}: round ${rounds}, epsilon ${status.epsilon?.toFixed(2) ?? '-'}`);
  }
  const weights = new Float32Array(await (await fetch(`${url}/v1/model/weights.bin`)).arrayBuffer());
  const status = server.coordinator.status();
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
  let offset = 0;
  const global = initialWeights.map((w) => {
    const values = weights.slice(offset, offset + w.values.length);
    offset += w.values.length;
    return { ...w, values };
  });
  bytes.sort((a, b) => a - b);
  return { name, rounds, clientUpdates: rounds * K, epsilon: status.epsilon, metrics: evaluate(global), bytes, uploads, msPerClient: uploadMs / Math.max(1, bytes.length) };
}

const rows = [];
// --- 1. Centralised training on every client's history, same model, same split.
{
  const model = new BagModel({ ...modelOptions, seed: 1 });
  const random = rng(5);
  const t0 = Date.now();
  let epochs = 0;
  while (Date.now() - t0 < phaseMs.central && epochs < 30) {
    const order = clients.map((_, i) => i);
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.floor(random() * (k + 1));
      [order[k], order[j]] = [order[j], order[k]];
    }
    await model.train(
      order.map((i) => clients[i]),
      { epochs: 1 },
    );
    epochs++;
  }
  rows.push({ method: `centralised (${epochs} epochs)`, ...evaluateSampled(cases, (i, c) => model.score(i, c)), epsilon: '-', rounds: '-', updates: '-' });
  log('centralised done', rows.at(-1));
}
rows.push({ method: 'untrained (initial global model)', ...evaluate(initialWeights), epsilon: '-', rounds: '-', updates: '-' });

// --- 2. FedAvg without noise (its uploads feed the attack test).
const fedavg = await federatedRun('fedavg', { timeMs: phaseMs.fedavg, captureAttack: true });
rows.push({
  method: args.aggregator === 'fedavg' ? 'FedAvg, no noise' : `${args.aggregator}, no noise`,
  ...fedavg.metrics,
  epsilon: 'inf (no DP)',
  rounds: fedavg.rounds,
  updates: fedavg.clientUpdates,
});
log('fedavg done', fedavg.metrics, `${fedavg.msPerClient.toFixed(0)} ms per client`);
// The same number of sequence visits as FedAvg made, centrally: separates the cost of federation
// from the cost of the smaller compute budget the simulation could afford.
{
  const model = new BagModel({ ...modelOptions, seed: 1 });
  const random = rng(31);
  const visits = Array.from({ length: fedavg.clientUpdates }, () => clients[Math.floor(random() * clients.length)]);
  await model.train(visits, { epochs: 1 });
  rows.push({
    method: `centralised, same ${fedavg.clientUpdates} sequence visits as FedAvg`,
    ...evaluateSampled(cases, (i, c) => model.score(i, c)),
    epsilon: '-',
    rounds: '-',
    updates: fedavg.clientUpdates,
  });
}

// --- 3. DP-FedAvg at each noise level.
for (const z of noiseLevels) {
  const run = await federatedRun(`dp-z${z}`, { noiseMultiplier: z, timeMs: phaseMs.dp });
  rows.push({ method: `DP-FedAvg z=${z}, clip ${clip}`, ...run.metrics, epsilon: run.epsilon.toFixed(2), rounds: run.rounds, updates: run.clientUpdates });
  log(`dp z=${z} done`, run.metrics, `epsilon ${run.epsilon}`);
}

// --- 4. Server throughput: pre-encoded real updates fired over HTTP, 8 in flight.
let throughput;
{
  const dataDir = await mkdtemp(join(tmpdir(), 'hearth-bench-tp-'));
  const modelJson = lib.withManifest({ format: 'hearth-bench', modelTopology: null }, initialWeights, 'weights.bin');
  const server = await lib.createAggregationServer({
    dataDir,
    initialModel: { modelJson, weights: lib.weightsToBuffer(initialWeights) },
    siteKeys: [SITE_KEY],
    minClients: 1_000_000,
    clip,
    rateLimit: 1e9,
    bodyLimit: 64 << 20,
  });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  const model = new BagModel({ ...modelOptions, seed: 9 });
  const random = rng(17);
  const bodies = [];
  const encodeUntil = Date.now() + Math.min(60_000, budgetMs * 0.05);
  while (bodies.length < 300 && Date.now() < encodeUntil) {
    model.setWeights(initialWeights);
    await model.train([clients[Math.floor(random() * clients.length)]], { epochs: 1 });
    const update = lib.subtractWeights(model.getWeights(), initialWeights);
    bodies.push((await lib.encodeUpdate(update, { modelVersion: '1', roundId: 1 })).body);
  }
  let next = 0;
  let accepted = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        const res = await fetch(`${url}/v1/rounds/1/updates`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-hearth-site-key': SITE_KEY }, body });
        if (res.status === 202) accepted++;
        await res.arrayBuffer();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  throughput = { accepted, seconds, perSecond: accepted / seconds, meanBytes: bodies.reduce((n, b) => n + b.length, 0) / bodies.length };
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
  log('throughput', throughput);
}

// --- 5. The attack: a curious server ranks embedding rows by how much one upload changed them.
const attack = [];
{
  const rowsChanged = (tensors) => {
    const score = new Float64Array(numItems + 1);
    for (const t of tensors) {
      const width = t.shape.length === 2 ? t.shape[1] : 1;
      for (let r = 1; r <= numItems; r++) for (let k = 0; k < width; k++) score[r] += t.values[r * width + k] ** 2;
    }
    return score;
  };
  const normal = (() => {
    const random = rng(23);
    return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  })();
  for (const sigma of [0, 0.001, 0.01]) {
    let precision = 0;
    let chance = 0;
    let n = 0;
    for (const { client, body } of fedavg.uploads) {
      const { tensors } = await lib.decodeUpdate(new Uint8Array(body));
      if (sigma > 0) for (const t of tensors) for (let i = 0; i < t.values.length; i++) t.values[i] += sigma * normal();
      const touched = new Set(clients[client]);
      const k = touched.size;
      const score = rowsChanged(tensors);
      const guess = Array.from({ length: numItems }, (_, i) => i + 1)
        .sort((a, b) => score[b] - score[a])
        .slice(0, k);
      precision += guess.filter((r) => touched.has(r)).length / k;
      chance += k / numItems;
      n++;
    }
    attack.push({ sigma, precision: precision / n, chance: chance / n, uploads: n });
  }
  log('attack', attack);
}

// --- 6. Upload size of the real SASRec recommender: the default demo model (~500 items) and a games-sized one.
const sasrecBytes = [];
if (!args['skip-sasrec'] && Date.now() - started < budgetMs * 0.95)
  try {
    const MODEL_LIB = join(REPO, 'node_modules/.cache/hearth-bench/model-lib.mjs');
    await build({
      stdin: { contents: `export { createRecommender } from './src/model/sasrec-recommender.ts'; export { setupNodeRuntime } from './src/train/node-runtime.ts';`, resolveDir: REPO, loader: 'ts' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      outfile: MODEL_LIB,
      logLevel: 'silent',
    });
    const modelLib = await import(MODEL_LIB);
    const backend = await modelLib.setupNodeRuntime('wasm');
    for (const items of [500, numItems, 23_715]) {
      const model = modelLib.createRecommender({ items: Array.from({ length: items }, (_, i) => ({ id: String(i + 1), category: `c${i % 20}`, brand: `b${i % 50}`, price: 10 + (i % 90) })) });
      const before = model.getWeights();
      const random = rng(items);
      const seq = Array.from({ length: 20 }, (_, i) => ({ itemId: String(1 + Math.floor(random() * items)), type: i % 5 === 4 ? 'add_to_cart' : 'view_item', time: 1_700_000_000_000 + i * 60_000 }));
      const t0 = Date.now();
      await model.train([seq], { epochs: 1 });
      const trainMs = Date.now() - t0;
      const update = lib.subtractWeights(model.getWeights(), before);
      const int8 = await lib.encodeUpdate(update, { modelVersion: '1', roundId: 1, bits: 8 });
      const int16 = await lib.encodeUpdate(update, { modelVersion: '1', roundId: 1, bits: 16 });
      // With on-device noise every value changes: the dense worst case of the wire format.
      const noiseRandom = rng(items + 1);
      for (const t of update) for (let i = 0; i < t.values.length; i++) t.values[i] += 0.001 * Math.sqrt(-2 * Math.log(1 - noiseRandom())) * Math.cos(2 * Math.PI * noiseRandom());
      const dense = await lib.encodeUpdate(update, { modelVersion: '1', roundId: 1, bits: 8 });
      sasrecBytes.push({
        items,
        parameters: model.parameterCount(),
        int8: int8.body.length,
        int16: int16.body.length,
        dense: dense.body.length,
        float32: 4 * model.parameterCount(),
        trainMs,
        backend,
      });
      model.dispose();
      log('sasrec bytes', sasrecBytes.at(-1));
    }
  } catch (error) {
    log('the SASRec upload-size measurement failed:', error);
  }

// --- The table.
const f3 = (x) => (typeof x === 'number' ? x.toFixed(4) : String(x));
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
console.log(`\nFederated benchmark — ${DATA}`);
console.log(`split: leave-one-out on ${sequences.length} sampled users (${numItems} items); ${cases.length} evaluation users; HR@10 / NDCG@10 with 100 sampled negatives`);
console.log(
  `model: plain-JS next-item model (mean of last 20 input embeddings · output embeddings + bias, ${dims} dims, sampled softmax 50 negatives), ${initialWeights.reduce((n, w) => n + w.values.length, 0)} parameters`,
);
console.log(
  `federated: ${K} clients per round, 1 sequence per client, ${args['local-epochs']} local epoch(s), ${args.aggregator}, server lr ${args['server-lr'] ?? (args.aggregator === 'fedavg' ? K : '0.01 (server default)')}, clip ${clip}, int8 updates; delta 1e-5; population ${clients.length}\n`,
);
console.log('| method | HR@10 | NDCG@10 | NDCG vs centralised | rounds | client updates | epsilon (delta 1e-5) |');
console.log('|---|---|---|---|---|---|---|');
const central = rows[0].ndcg;
for (const r of rows) console.log(`| ${r.method} | ${f3(r.hr)} | ${f3(r.ndcg)} | ${((100 * r.ndcg) / central).toFixed(1)}% | ${r.rounds} | ${r.updates} | ${r.epsilon} |`);
const b = fedavg.bytes;
console.log(
  `\nbytes uploaded per client per round (this model, int8 + gzip): median ${kb(b[b.length >> 1])}, p95 ${kb(b[Math.floor(b.length * 0.95)])}, max ${kb(b[b.length - 1])} over ${b.length} uploads`,
);
console.log(`client round time (download cached, train, clip, quantize, gzip, upload over HTTP): ${fedavg.msPerClient.toFixed(0)} ms mean`);
if (sasrecBytes.length > 0) {
  console.log('\nreal SASRec recommender (default config), one client update after one local step on 20 events:');
  console.log('| items | parameters | float32 | int8 + gzip | int16 + gzip | int8 + gzip, dense (on-device noise 1e-3) | local step |');
  console.log('|---|---|---|---|---|---|---|');
  for (const s of sasrecBytes) console.log(`| ${s.items} | ${s.parameters} | ${kb(s.float32)} | ${kb(s.int8)} | ${kb(s.int16)} | ${kb(s.dense)} | ${s.trainMs} ms (${s.backend}) |`);
}
console.log(
  `\nserver throughput: ${throughput.accepted} updates accepted in ${throughput.seconds.toFixed(2)} s = ${throughput.perSecond.toFixed(1)} updates/s (8 in flight over HTTP on 127.0.0.1, mean body ${kb(throughput.meanBytes)}, each fsync'd before 202)`,
);
console.log('\nattack test (curious server; guess = the k rows whose embeddings changed most, k = items the shopper touched):');
console.log('| on-device noise sigma | precision@k | chance | uploads |');
console.log('|---|---|---|---|');
for (const a of attack) console.log(`| ${a.sigma} | ${a.precision.toFixed(3)} | ${a.chance.toFixed(5)} | ${a.uploads} |`);
console.log(`\ntotal time ${((Date.now() - started) / 60000).toFixed(1)} min (budget ${minutes} min)`);
