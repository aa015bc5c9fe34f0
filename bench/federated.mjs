#!/usr/bin/env node
// npm run bench:federated -- [--minutes 20] [--users 3000] [--clients-per-round 50] [--rounds 40]
//                            [--noise 0.5,1.0] [--dp-cohort 20] [--dp-rounds 20] [--cost-cohorts 10,50,200]
//
// Simulates the shop on ../shared/data/amazon-games/games.txt: each user is one device that
// holds only their own history and trains the real SASRec recommender (src/model, the model the
// engine worker runs) on tfjs WASM, in worker_threads on every core. The real federated client
// (src/federated/client.ts) uploads each device's update over HTTP on 127.0.0.1 to the real
// aggregation server (src/server): plain uploads for FedAvg and FedAdam, secure aggregation with
// distributed Skellam noise for DP. Printed side by side on one leave-one-out split with 100
// sampled negatives (HR@10, NDCG@10): centralised training (full, and at the same number of
// client visits), FedAvg and FedAdam, DP at each noise level with its epsilon (delta 1e-5) and the
// epsilon the same noise gives at a cohort of 1,000 in a population of 1M; the curious-server
// attack without and with secure aggregation; upload bytes; server throughput; and the costs of
// secure aggregation at cohorts of 10, 50 and 200.
import { build } from 'esbuild';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir, availableParallelism, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { loadInteractions, leaveOneOut, samplingCases, rng } from './sampled-eval.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(REPO, '../shared/data/amazon-games/games.txt');
const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '20' },
    users: { type: 'string', default: '3000' },
    'eval-users': { type: 'string', default: '1000' },
    'clients-per-round': { type: 'string', default: '50' },
    rounds: { type: 'string', default: '30' },
    noise: { type: 'string', default: '0.5,1.0' },
    'dp-cohort': { type: 'string', default: '20' },
    'dp-rounds': { type: 'string', default: '10' },
    clip: { type: 'string', default: '1' },
    dims: { type: 'string', default: '32' },
    'local-epochs': { type: 'string', default: '1' },
    'local-lr': { type: 'string', default: '0.003' },
    // A device's Adam step touches few item rows, and the mean divides each row's step by the cohort.
    'server-lr': { type: 'string', default: '40' },
    'fedadam-lr': { type: 'string', default: '0.01' },
    'central-minutes': { type: 'string', default: '1.5' },
    'cost-cohorts': { type: 'string', default: '10,50,200' },
    threads: { type: 'string', default: String(availableParallelism()) },
    // For tuning: any of central, fedavg, fedadam, dp, cost.
    skip: { type: 'string', default: '' },
  },
});
const skip = new Set(args.skip.split(','));
const minutes = Number(args.minutes);
const started = Date.now();
const K = Number(args['clients-per-round']);
const ROUNDS = Number(args.rounds);
const clip = Number(args.clip);
const noiseLevels = args.noise
  .split(',')
  .map(Number)
  .filter((z) => z > 0);
const DP_K = Number(args['dp-cohort']);
const DP_ROUNDS = Number(args['dp-rounds']);
const log = (...m) => console.error(`[${((Date.now() - started) / 1000).toFixed(0)}s]`, ...m);
const loadAtStart = loadavg()[0];

// --- The real TypeScript code, bundled once for Node (dependencies stay in node_modules).
const LIB = join(REPO, 'node_modules/.cache/hearth-bench/federated-lib.mjs');
await build({
  stdin: {
    contents: `
      export { runFederatedRound, GLOBAL_MODEL_CHECKPOINT } from './src/federated/client.ts';
      export { parseModelJson, weightsFromBuffer } from './src/protocol/model-file.ts';
      export { decodeUpdate, encodeUpdate } from './src/federated/wire.ts';
      export { withManifest, weightsToBuffer } from './src/protocol/model-file.ts';
      export { computeRdpSkellam, epsilonFromRdp, DEFAULT_ORDERS } from './src/federated/accountant.ts';
      export { gridParams, localVariance, sharingThreshold } from './src/federated/secure/params.ts';
      export { SecureParticipant } from './src/federated/secure/participant.ts';
      export { encodeToGrid } from './src/federated/secure/skellam.ts';
      export { secureRandom } from './src/shared/random.ts';
      export { centred } from './src/federated/secure/masking.ts';
      export { createAggregationServer, createMemoryStore } from './src/server/index.ts';
      export { createRecommender } from './src/model/sasrec-recommender.ts';
      export { setupNodeRuntime } from './src/train/node-runtime.ts';`,
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
const MAX_LEN = 20;
const cases = samplingCases(split, numItems, { maxUsers: Number(args['eval-users']), maxLen: MAX_LEN });
const clients = split.map((s) => s.train.slice(-MAX_LEN - 1)).filter((s) => s.length >= 2);
const population = clients.length;
const config = { dims: Number(args.dims), blocks: 1, heads: 1, maxLen: MAX_LEN, dropout: 0.1, negatives: 256, learningRate: Number(args['local-lr']), attributeBuckets: 8 };
log(
  `data: ${sequences.length} users (${population} devices with >= 2 training items), ${numItems} items, ${cases.length} evaluation users; load average ${loadAtStart.toFixed(1)} on ${availableParallelism()} cores`,
);

// --- The training threads.
class Pool {
  constructor(count) {
    this.threads = Array.from({ length: count }, (_, i) => {
      const worker = new Worker(new URL('./federated-worker.mjs', import.meta.url), { workerData: { lib: LIB, numItems, config, seed: 1 } });
      const pending = [];
      const thread = { worker, pending, ready: null };
      worker.on('message', (m) => pending.shift()?.(m));
      worker.on('error', (e) => {
        console.error('training thread failed', e);
        process.exit(1);
      });
      thread.ready = new Promise((resolve) => pending.push(resolve));
      return thread;
    });
  }
  async ready() {
    const first = await Promise.all(this.threads.map((t) => t.ready));
    return first[0];
  }
  call(thread, message, transfer = []) {
    return new Promise((resolve, reject) => {
      thread.pending.push((m) => (m.ok ? resolve(m) : reject(new Error(m.error))));
      thread.worker.postMessage(message, transfer);
    });
  }
  split(items) {
    const n = this.threads.length;
    return this.threads.map((_, i) => items.slice(Math.floor((i * items.length) / n), Math.floor(((i + 1) * items.length) / n)));
  }
  /** Splits `items` across the threads and concatenates the answers in order. */
  async map(items, message) {
    const parts = this.split(items);
    return Promise.all(this.threads.map((t, i) => this.call(t, message(parts[i]))));
  }
  async clients(global, seqs, epochs) {
    const replies = await this.map(seqs, (part) => ({ cmd: 'clients', global, clients: part, epochs }));
    return { updates: replies.flatMap((r) => r.updates), trainMs: replies.reduce((n, r) => n + r.trainMs, 0) };
  }
  async evaluate(weights) {
    const replies = await this.map(cases, (part) => ({ cmd: 'eval', weights, cases: part }));
    const n = replies.reduce((a, r) => a + r.metrics.n, 0);
    return { hr: replies.reduce((a, r) => a + r.metrics.hr * r.metrics.n, 0) / n, ndcg: replies.reduce((a, r) => a + r.metrics.ndcg * r.metrics.n, 0) / n };
  }
  close() {
    return Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
const pool = new Pool(Math.max(1, Number(args.threads)));
const { parameters, layout } = await pool.ready();
// The main thread only makes the initial weights (the threads train): the CPU backend is enough.
await lib.setupNodeRuntime('cpu');
const initialModel = lib.createRecommender({ items: Array.from({ length: numItems }, (_, i) => ({ id: String(i + 1) })), config, seed: 1 });
const initialWeights = initialModel.getWeights();
const initialFlat = new Float32Array(parameters);
{
  let o = 0;
  for (const w of initialWeights) {
    initialFlat.set(w.values, o);
    o += w.values.length;
  }
}
log(
  `model: the real SASRec recommender, ${parameters} parameters (${config.dims} dims, ${config.blocks} block, maxLen ${MAX_LEN}, sampled softmax with ${config.negatives} negatives), ${pool.threads.length} training threads`,
);
const SITE_KEY = 'bench-site-key-0001';

const flatOf = (bytes) => new Float32Array(new Uint8Array(bytes).slice().buffer);

/** One federated run: the real server on 127.0.0.1, rounds of `cohort` sampled devices running the real client. */
async function federatedRun(name, { aggregator = 'fedavg', serverLr, noiseMultiplier = 0, secure = false, cohort = K, rounds, capture = false }) {
  // Simulated rounds keep the server's data on tmpfs where there is one (fsync costs nothing there):
  // the benchmark measures learning and protocol costs; the throughput row below uses the real disk.
  const dataDir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'hearth-bench-fl-'));
  const modelJson = lib.withManifest({ format: 'hearth-bench', modelTopology: null }, layout, 'weights.bin');
  const server = await lib.createAggregationServer({
    dataDir,
    initialModel: { modelJson, weights: lib.weightsToBuffer(initialWeights) },
    siteKeys: [SITE_KEY],
    minClients: secure ? Math.ceil((2 * cohort) / 3) : cohort,
    aggregator,
    serverLr,
    clip,
    noiseMultiplier,
    ...(noiseMultiplier > 0 ? { population, delta: 1e-5 } : {}),
    epochs: Number(args['local-epochs']),
    rateLimit: 1e9,
    bodyLimit: 256 << 20,
    ...(secure ? { secureAggregation: true, cohortSize: cohort, phaseTimeoutMs: 600_000, pollMs: 20 } : {}),
  });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  const random = rng(Math.round(noiseMultiplier * 1000) + (secure ? 7 : 0) + 11);
  const bytes = [];
  const captured = [];
  const costs = { trainMs: 0, clientCpuMs: [], unmaskMs: [], roundMs: [] };
  for (let round = 0; round < rounds; round++) {
    const roundId = server.coordinator.status().roundId;
    const chosen = Array.from({ length: cohort }, () => Math.floor(random() * population));
    const global = flatOf(server.coordinator.current().weights);
    const r0 = performance.now();
    const parts = pool.split(chosen);
    const replies = await Promise.all(
      pool.threads.map((t, i) =>
        pool.call(t, { cmd: 'round', url, siteKey: SITE_KEY, global, ids: parts[i], clients: parts[i].map((c) => clients[c]), epochs: Number(args['local-epochs']), capture: capture && round === 0 }),
      ),
    );
    for (const reply of replies) {
      costs.trainMs += reply.trainMs;
      captured.push(...reply.captured);
      for (const r of reply.results) {
        if (r.status !== 'uploaded')
          throw new Error(`${name}: a device ${r.status} (${r.reason}); server ${JSON.stringify({ ...server.coordinator.status(), history: undefined, secure: server.coordinator.secure?.info() })}`);
        bytes.push(r.bytes);
        if (r.format === 'secagg') costs.clientCpuMs.push(r.cpuMs);
      }
    }
    await server.settled();
    costs.roundMs.push(performance.now() - r0);
    if (server.coordinator.secure?.lastUnmaskMs !== undefined) costs.unmaskMs.push(server.coordinator.secure.lastUnmaskMs);
    const status = server.coordinator.status();
    if (status.roundId === roundId || status.roundsPublished !== round + 1) throw new Error(`${name}: round ${roundId} did not publish (${status.status})`);
    if ((round + 1) % 10 === 0) log(`${name}: round ${round + 1}, epsilon ${status.epsilon?.toFixed(2) ?? '-'}`);
  }
  const weights = flatOf(server.coordinator.current().weights);
  const status = server.coordinator.status();
  const grid = secure ? lib.gridParams({ dim: parameters, clip, noiseMultiplier, maxClients: cohort }) : undefined;
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
  bytes.sort((a, b) => a - b);
  return { name, rounds, visits: rounds * cohort, epsilon: status.epsilon, metrics: await pool.evaluate(weights), bytes, captured, costs, grid };
}

const rows = [];
const pct = (x, of) => `${((100 * x) / of).toFixed(1)}%`;

// --- 1. Centralised: every device's history on one machine, the same model and split.
const centralBudget = Number(args['central-minutes']) * 60_000;
if (!skip.has('central')) {
  const central = await pool.call(pool.threads[0], { cmd: 'central', global: initialFlat, sequences: clients, maxEpochs: 50, budgetMs: centralBudget, batchSize: 128 });
  rows.push({
    method: `centralised (${central.epochs} epochs over ${population} histories, ${args['central-minutes']} min)`,
    ...(await pool.evaluate(central.weights)),
    visits: central.epochs * population,
    epsilon: '-',
  });
  log('centralised', rows.at(-1));
}
rows.push({ method: 'untrained (initial global model)', ...(await pool.evaluate(initialFlat)), visits: 0, epsilon: '-' });

// --- 2. Centralised at the same number of client visits as each federated run. So few Adam steps
// (one per 128 visits) make one run's result depend on its sampling; the mean of four runs (two on
// each thread, each with its own draw of visits) is the reference the federated rows are compared to.
const visits = ROUNDS * K;
{
  const repeats = [];
  for (let rep = 0; rep < 4; rep += pool.threads.length) {
    const batch = await Promise.all(
      pool.threads.map(async (thread, i) => {
        const random = rng(31 + rep + i);
        const seqs = Array.from({ length: visits }, () => clients[Math.floor(random() * population)]);
        return (await pool.call(thread, { cmd: 'central', global: initialFlat, sequences: seqs, maxEpochs: 1, budgetMs: Infinity, batchSize: 128 })).weights;
      }),
    );
    for (const weights of batch) repeats.push(await pool.evaluate(weights));
  }
  const mean = (key) => repeats.reduce((a, r) => a + r[key], 0) / repeats.length;
  const spread = repeats.map((r) => r.ndcg.toFixed(4)).join(', ');
  rows.push({ method: `centralised, the same ${visits} client visits (mean of ${repeats.length} runs; NDCG ${spread})`, hr: mean('hr'), ndcg: mean('ndcg'), visits, epsilon: '-' });
  log('centralised at equal visits', rows.at(-1));
}
const equalVisits = rows.at(-1).ndcg;

// --- 3. FedAvg and FedAdam, plain uploads (FedAvg's first round feeds the attack without secure aggregation).
const fedavg = skip.has('fedavg') ? undefined : await federatedRun('fedavg', { aggregator: 'fedavg', serverLr: Number(args['server-lr']), rounds: ROUNDS, capture: true });
if (fedavg) {
  rows.push({ method: `FedAvg (server lr ${args['server-lr']}), ${K} per round`, ...fedavg.metrics, visits: fedavg.visits, epsilon: 'inf (no DP)' });
  log('fedavg', fedavg.metrics);
}
if (!skip.has('fedadam')) {
  const fedadam = await federatedRun('fedadam', { aggregator: 'fedadam', serverLr: Number(args['fedadam-lr']), rounds: ROUNDS });
  rows.push({ method: `FedAdam (server lr ${args['fedadam-lr']}), ${K} per round`, ...fedadam.metrics, visits: fedadam.visits, epsilon: 'inf (no DP)' });
  log('fedadam', fedadam.metrics);
}

// --- 4. Secure aggregation at small cohorts: costs, and what a curious server holds (cohort 50).
// Client CPU: one device's whole part of a round (keys, shares, grid encoding with its noise, masks,
// reveals), measured alone and serially against a roster of the cohort's size (boxes from the
// others that do not open cost what real ones cost). Bytes, server unmasking and the whole round:
// one real round over loopback with every device simulated in this process (so the round's wall
// time carries every device's work, O(n²·d) in all, on these two cores).
async function clientCpu(cohort) {
  const ctx = { roundId: 1, modelVersion: '1' };
  const me = await lib.SecureParticipant.create(ctx);
  const others = await Promise.all(Array.from({ length: cohort - 1 }, () => lib.SecureParticipant.create(ctx)));
  const roster = [me, ...others].map((p, i) => ({ index: i + 1, ...p.publicKeys }));
  const minClients = Math.ceil((2 * cohort) / 3);
  const threshold = lib.sharingThreshold(cohort, minClients);
  const grid = lib.gridParams({ dim: parameters, clip, noiseMultiplier: 1, maxClients: cohort });
  const update = new Float32Array(parameters).map(() => (Math.random() - 0.5) * 1e-3);
  const random = lib.secureRandom();
  const t0 = performance.now();
  await lib.SecureParticipant.create(ctx);
  const tKeys = performance.now();
  await me.deal(1, roster, threshold, minClients);
  const tShares = performance.now();
  const encoded = lib.encodeToGrid(update, grid.scale, lib.localVariance(grid, cohort), random);
  const tNoise = performance.now();
  const inbox = roster.map(() => crypto.getRandomValues(new Uint8Array(130)));
  await me.mask(
    encoded,
    roster.map((m) => m.index),
    inbox,
  );
  const tMask = performance.now();
  me.unmask(roster.map((m) => m.index));
  const tEnd = performance.now();
  return { keys: tKeys - t0, shares: tShares - tKeys, noise: tNoise - tShares, mask: tMask - tNoise, unmask: tEnd - tMask };
}
/**
 * The server's side of one secure round of `cohort` devices over loopback, for cohorts whose full
 * simulation does not fit two cores (every device's O(n·d) masking in one process). Each device
 * is real in every message the server can check (keys, sealed shares, commitments, reveals that
 * the server verifies and combines), but its masked input is random words of the right size:
 * the server cannot tell them from a real masked input and does the same work to unmask the sum
 * (which is then noise; it is published and thrown away). Measures each device's bytes and the
 * server's unmasking.
 */
async function serverSideRound(cohort) {
  const dataDir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'hearth-bench-sa-'));
  const modelJson = lib.withManifest({ format: 'hearth-bench', modelTopology: null }, layout, 'weights.bin');
  const minClients = Math.ceil((2 * cohort) / 3);
  const server = await lib.createAggregationServer({
    dataDir,
    initialModel: { modelJson, weights: lib.weightsToBuffer(initialWeights) },
    siteKeys: [SITE_KEY],
    minClients,
    clip,
    noiseMultiplier: 1,
    population,
    rateLimit: 1e9,
    bodyLimit: 256 << 20,
    secureAggregation: true,
    cohortSize: cohort,
    phaseTimeoutMs: 600_000,
    pollMs: 20,
  });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  const ctx = { roundId: 1, modelVersion: '1' };
  const b64 = (bytes) => Buffer.from(bytes).toString('base64url');
  const fromB64 = (text) => new Uint8Array(Buffer.from(text, 'base64url'));
  const post = async (path, token, body, json = true) => {
    const headers = { 'content-type': json ? 'application/json' : 'application/octet-stream', 'x-hearth-site-key': SITE_KEY, ...(token ? { 'x-hearth-secagg-token': token } : {}) };
    const data = json ? JSON.stringify(body) : body;
    const res = await fetch(`${url}/v1/rounds/1/secagg/${path}`, { method: 'POST', headers, body: data });
    if (res.status !== 202) throw new Error(`secagg-${cohort} ${path}: ${res.status} ${await res.text()}`);
    return { reply: await res.json(), bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.length };
  };
  const state = async (token) => (await fetch(`${url}/v1/rounds/1/secagg/state`, { headers: { 'x-hearth-secagg-token': token } })).json();
  const devices = await Promise.all(Array.from({ length: cohort }, () => lib.SecureParticipant.create(ctx)));
  const sent = devices.map(() => 0);
  const joined = [];
  for (const [i, d] of devices.entries()) {
    const { reply, bytes } = await post('join', undefined, { encryptionKey: b64(d.publicKeys.encryptionKey), maskingKey: b64(d.publicKeys.maskingKey) });
    joined.push(reply);
    sent[i] += bytes;
  }
  const rostered = await state(joined[0].token);
  const roster = rostered.roster.map((m) => ({ index: m.index, encryptionKey: fromB64(m.encryptionKey), maskingKey: fromB64(m.maskingKey) }));
  for (const [i, d] of devices.entries()) {
    const dealt = await d.deal(joined[i].index, roster, rostered.threshold, minClients);
    const body = {
      boxes: dealt.boxes.map(b64),
      seedCommitments: dealt.seedCommitments.map(b64),
      keyCommitments: dealt.keyCommitments.map(b64),
      seedCommitment: b64(dealt.seedCommitment),
      keyCommitment: b64(dealt.keyCommitment),
    };
    sent[i] += (await post('shares', joined[i].token, body)).bytes;
  }
  for (const [i, d] of devices.entries()) {
    const s = await state(joined[i].token);
    // One word through the real masking (it opens every box addressed to this device); the
    // uploaded input is random words of the model's size.
    await d.mask(new Uint32Array(1), s.sharers, s.inbox.map(fromB64));
    sent[i] += (await post('masked', joined[i].token, new Uint8Array(randomBytes(4 * parameters)), false)).bytes;
  }
  const survivors = (await state(joined[0].token)).survivors;
  for (const [i, d] of devices.entries()) sent[i] += (await post('unmask', joined[i].token, { reveals: d.unmask(survivors).map(b64) })).bytes;
  await server.settled();
  const status = server.coordinator.status();
  if (status.roundsPublished !== 1) throw new Error(`secagg-${cohort}: the round did not publish (${status.status}, ${status.roundsAbandoned} abandoned)`);
  const unmaskMs = server.coordinator.secure.lastUnmaskMs;
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
  sent.sort((a, b) => a - b);
  return { bytes: sent[0], bytesMax: sent.at(-1), unmaskMs };
}

const costRows = [];
let secureRound;
async function costRow(cohort, { loopback }) {
  // The least of three measurements: on a shared machine, the others only add waiting.
  const samples = [];
  for (let i = 0; i < 3; i++) samples.push(await clientCpu(cohort));
  const sum = (c) => c.keys + c.shares + c.noise + c.mask + c.unmask;
  const row = { cohort, cpu: samples.reduce((best, c) => (sum(c) < sum(best) ? c : best)) };
  if (loopback) {
    const run = await federatedRun(`secagg-${cohort}`, { aggregator: 'fedavg', serverLr: 1, secure: true, cohort, rounds: 1, noiseMultiplier: 1, capture: cohort === 50 });
    if (cohort === 50) secureRound = run;
    Object.assign(row, { bytes: run.bytes[0], bytesMax: run.bytes.at(-1), unmaskMs: run.costs.unmaskMs[0], roundMs: run.costs.roundMs[0] });
  } else {
    Object.assign(row, await serverSideRound(cohort), { serverSideOnly: true });
  }
  costRows.push(row);
  log('secure aggregation cost', row);
}
const cohorts = skip.has('cost')
  ? []
  : args['cost-cohorts']
      .split(',')
      .map(Number)
      .filter((n) => n >= 2);
for (const cohort of cohorts.filter((n) => n <= 50)) await costRow(cohort, { loopback: true });

// --- 5. DP: secure aggregation with distributed Skellam noise, at each noise level.
const dpRuns = [];
for (const z of skip.has('dp') ? [] : noiseLevels) {
  // Two noise levels always run (the comparison needs them, however loaded the machine); more only within the budget.
  if (dpRuns.length >= 2 && Date.now() - started > minutes * 60_000 * 0.9) {
    log(`skipping DP z=${z}: over 90 % of the time budget`);
    continue;
  }
  const run = await federatedRun(`dp-z${z}`, { aggregator: 'fedavg', serverLr: Number(args['server-lr']), noiseMultiplier: z, secure: true, cohort: DP_K, rounds: DP_ROUNDS });
  // The same σ at a cohort of 1,000 drawn from 1M devices, for as many rounds (accountant only).
  const big = lib.gridParams({ dim: parameters, clip, noiseMultiplier: z, maxClients: 1000 });
  const rdp = lib.computeRdpSkellam(1000 / 1e6, { l1: big.l1Sensitivity, l2: big.l2Sensitivity, variance: big.targetVariance }, DP_ROUNDS, lib.DEFAULT_ORDERS);
  const atScale = lib.epsilonFromRdp(lib.DEFAULT_ORDERS, rdp, 1e-5).epsilon;
  const rdp1000 = lib.computeRdpSkellam(1000 / 1e6, { l1: big.l1Sensitivity, l2: big.l2Sensitivity, variance: big.targetVariance }, 1000, lib.DEFAULT_ORDERS);
  const atScale1000 = lib.epsilonFromRdp(lib.DEFAULT_ORDERS, rdp1000, 1e-5).epsilon;
  dpRuns.push({ z, run, atScale, atScale1000 });
  rows.push({ method: `DP (SecAgg + distributed Skellam) z=${z}, clip ${clip}, ${DP_K} per round`, ...run.metrics, visits: run.visits, epsilon: run.epsilon.toFixed(2) });
  log(`dp z=${z}`, run.metrics, `epsilon ${run.epsilon}`);
}

// --- 6. Server throughput for plain uploads: pre-encoded real updates over HTTP, 8 in flight.
let throughput;
if (fedavg) {
  const dataDir = await mkdtemp(join(tmpdir(), 'hearth-bench-tp-'));
  const modelJson = lib.withManifest({ format: 'hearth-bench', modelTopology: null }, layout, 'weights.bin');
  const server = await lib.createAggregationServer({
    dataDir,
    initialModel: { modelJson, weights: lib.weightsToBuffer(initialWeights) },
    siteKeys: [SITE_KEY],
    minClients: 1_000_000,
    clip,
    rateLimit: 1e9,
    bodyLimit: 256 << 20,
  });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  const bodies = [];
  for (const { body } of fedavg.captured.slice(0, 100)) {
    // Re-encode for round 1 of this fresh server.
    const decoded = await lib.decodeUpdate(body);
    bodies.push((await lib.encodeUpdate(decoded.tensors, { modelVersion: '1', roundId: 1 })).body);
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

// --- 7. The attack: a curious server ranks item rows by how much one upload changed them.
const itemTable = layout.findIndex((t) => t.name.endsWith('item_embedding'));
const itemOffset = layout.slice(0, itemTable).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
const width = layout[itemTable].shape[1];
function attack(uploads, decode) {
  let precision = 0;
  let chance = 0;
  for (const { client, body } of uploads) {
    const flat = decode(body);
    const score = new Float64Array(numItems + 1);
    for (let r = 1; r <= numItems; r++) for (let k = 0; k < width; k++) score[r] += flat[itemOffset + r * width + k] ** 2;
    const touched = new Set(clients[client]);
    const k = touched.size;
    const guess = Array.from({ length: numItems }, (_, i) => i + 1)
      .sort((a, b) => score[b] - score[a])
      .slice(0, k);
    precision += guess.filter((r) => touched.has(r)).length / k;
    chance += k / numItems;
  }
  return { precision: precision / uploads.length, chance: chance / uploads.length, uploads: uploads.length };
}
const plainUploads = [];
for (const u of fedavg?.captured.slice(0, 50) ?? []) {
  const { tensors } = await lib.decodeUpdate(u.body);
  const flat = new Float32Array(parameters);
  let o = 0;
  for (const t of tensors) {
    flat.set(t.values, o);
    o += t.values.length;
  }
  plainUploads.push({ client: u.client, body: flat });
}
const attackPlain = fedavg ? attack(plainUploads, (flat) => flat) : undefined;
// Under secure aggregation the server holds masked words: read as the grid would be read.
const attackSecure = !secureRound
  ? undefined
  : attack(secureRound.captured, (body) => {
      const words = lib.centred(new Uint32Array(body.slice().buffer));
      return Float32Array.from(words, (w) => w / secureRound.grid.scale);
    });
log('attack', attackPlain, attackSecure);

// --- 8. Secure aggregation at larger cohorts. A full loopback round of 200 devices would make this
// one process do every device's masking (~40,000 mask streams of 4 bytes per parameter), hours on
// two cores: the device's CPU is measured alone as above, and the server's side of the round (bytes,
// unmasking) runs with devices whose masked inputs are random words (see serverSideRound).
for (const cohort of cohorts.filter((n) => n > 50)) await costRow(cohort, { loopback: false });
await pool.close();

// --- The tables.
const f4 = (x) => (typeof x === 'number' ? x.toFixed(4) : String(x));
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
console.log(`\nFederated benchmark — ${DATA}`);
console.log(`split: leave-one-out on ${sequences.length} sampled users (${numItems} items); ${cases.length} evaluation users; HR@10 / NDCG@10 with 100 sampled negatives`);
console.log(
  `model: the real SASRec recommender (src/model), ${parameters} parameters: ${config.dims} dims, ${config.blocks} block, ${config.heads} head, last ${MAX_LEN} events, sampled softmax (${config.negatives} negatives), Adam lr ${config.learningRate}; ${pool.threads.length} training threads (WASM)`,
);
console.log(`federated: 1 device = 1 user's history, ${args['local-epochs']} local epoch(s) from the global weights; clip ${clip}; plain uploads int8 + gzip; delta 1e-5; population ${population}`);
console.log(`machine: ${availableParallelism()} cores, load average ${loadAtStart.toFixed(1)} at the start and ${loadavg()[0].toFixed(1)} at the end (shared with other work)\n`);
console.log('| method | HR@10 | NDCG@10 | NDCG vs centralised at equal visits | client visits | epsilon (delta 1e-5) |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.method} | ${f4(r.hr)} | ${f4(r.ndcg)} | ${pct(r.ndcg, equalVisits)} | ${r.visits} | ${r.epsilon} |`);
if (dpRuns.length > 0) {
  console.log(`\nDP epsilon (delta 1e-5) of the same noise multiplier elsewhere (accountant only, Skellam on the same grid):`);
  console.log('| z | this run | cohort 1,000 of 1M, same rounds | cohort 1,000 of 1M, 1,000 rounds |');
  console.log('|---|---|---|---|');
  for (const d of dpRuns) console.log(`| ${d.z} | ${d.run.epsilon.toFixed(2)} (${DP_K} of ${population}, ${DP_ROUNDS} rounds) | ${d.atScale.toFixed(3)} | ${d.atScale1000.toFixed(2)} |`);
}
const b = fedavg?.bytes ?? [0];
console.log(
  `\nbytes uploaded per device per round: plain (int8 + gzip) median ${kb(b[b.length >> 1])}, min ${kb(b[0])}, max ${kb(b.at(-1))} over ${b.length} uploads; ${secureRound ? `secure aggregation ${kb(secureRound.bytes[0])} for every device (min = max: ${secureRound.bytes[0] === secureRound.bytes.at(-1)})` : ''}`,
);
if (fedavg) console.log(`local training: ${(fedavg.costs.trainMs / fedavg.visits).toFixed(0)} ms per device visit (one thread)`);
if (throughput)
  console.log(
    `\nserver throughput, plain uploads: ${throughput.accepted} accepted in ${throughput.seconds.toFixed(2)} s = ${throughput.perSecond.toFixed(1)} updates/s (8 in flight over HTTP, mean body ${kb(throughput.meanBytes)}, each fsync'd before 202)`,
  );
console.log(
  `\nsecure aggregation costs per round, ${parameters} parameters, distributed noise z = 1 (client CPU: one device measured alone, least of 3; bytes, server and round: one round over 127.0.0.1 with every device in this process):`,
);
console.log('| cohort | client CPU: keys + shares + grid & noise + masks + reveals = total | bytes sent per client | server unmasking | whole round (all devices in one process) |');
console.log('|---|---|---|---|---|');
const ms = (x) => `${x.toFixed(0)}`;
for (const c of costRows) {
  const cpu = `${ms(c.cpu.keys)} + ${ms(c.cpu.shares)} + ${ms(c.cpu.noise)} + ${ms(c.cpu.mask)} + ${ms(c.cpu.unmask)} = **${ms(c.cpu.keys + c.cpu.shares + c.cpu.noise + c.cpu.mask + c.cpu.unmask)} ms**`;
  const loop = `| ${kb(c.bytes)}${c.bytes === c.bytesMax ? '' : ` – ${kb(c.bytesMax)}`} | ${c.unmaskMs.toFixed(0)} ms | ${c.serverSideOnly ? "server's side only (random masked inputs)" : `${(c.roundMs / 1000).toFixed(1)} s`} |`;
  console.log(`| ${c.cohort} | ${cpu} ${loop}`);
}
console.log('\nattack test (curious server; guess = the k item rows that changed most in one upload, k = items the shopper touched):');
console.log('| what the server holds | precision@k | chance | uploads |');
console.log('|---|---|---|---|');
if (attackPlain) console.log(`| plain update (no secure aggregation) | ${attackPlain.precision.toFixed(3)} | ${attackPlain.chance.toFixed(5)} | ${attackPlain.uploads} |`);
if (attackSecure) console.log(`| masked input (secure aggregation, distributed noise z = 1) | ${attackSecure.precision.toFixed(5)} | ${attackSecure.chance.toFixed(5)} | ${attackSecure.uploads} |`);
console.log(`\ntotal time ${((Date.now() - started) / 60000).toFixed(1)} min (budget ${minutes} min)`);
initialModel.dispose();
