// A training thread of bench:federated: one replica of the real SASRec recommender (the model
// the engine worker runs), on tfjs WASM. The main thread sends it the global weights and a list
// of simulated devices; it trains each one from the global weights (fresh Adam state, as a device
// starting a round) and sends back each device's update. It also trains centrally and scores
// evaluation cases, so that both cores work in every phase of the benchmark.
import { parentPort, workerData } from 'node:worker_threads';
import { evaluateSampled } from './sampled-eval.mjs';

const lib = await import(workerData.lib);
await lib.setupNodeRuntime('wasm');
const items = Array.from({ length: workerData.numItems }, (_, i) => ({ id: String(i + 1) }));
const model = lib.createRecommender({ items, config: workerData.config, seed: workerData.seed });
const layout = model.getWeights().map((w) => ({ name: w.name, shape: [...w.shape], size: w.values.length }));
const total = layout.reduce((n, l) => n + l.size, 0);

const named = (flat) => {
  let offset = 0;
  return layout.map((l) => {
    const values = flat.slice(offset, offset + l.size);
    offset += l.size;
    return { name: l.name, shape: [...l.shape], values };
  });
};
const flatten = (weights) => {
  const out = new Float32Array(total);
  let offset = 0;
  for (const w of weights) {
    out.set(w.values, offset);
    offset += w.values.length;
  }
  return out;
};
/** A device for the real client whose local training already ran (below, one device after another). */
class TrainedDevice {
  constructor(global, update) {
    this.weights = named(global);
    this.update = update;
  }
  getWeights() {
    return this.weights.map((w) => ({ ...w, shape: [...w.shape], values: w.values.slice() }));
  }
  setWeights(weights) {
    this.weights = weights.map((w) => ({ ...w, shape: [...w.shape], values: w.values.slice() }));
  }
  async train() {
    let o = 0;
    for (const w of this.weights) for (let i = 0; i < w.values.length; i++) w.values[i] += this.update[o++];
    return { loss: 0 };
  }
}

/** The global model as the client caches it, fetched once per round for all this thread's devices. */
async function warmCache(url) {
  const response = await fetch(`${url}/v1/model`);
  const modelJson = lib.parseModelJson(await response.json());
  const bytes = new Uint8Array(await (await fetch(new URL(modelJson.weightsManifest[0].paths[0], `${url}/v1/model`))).arrayBuffer());
  const checkpoint = {
    name: lib.GLOBAL_MODEL_CHECKPOINT,
    formatVersion: 1,
    config: { version: response.headers.get('x-hearth-model-version'), etag: response.headers.get('etag'), modelJson },
    weights: lib.weightsFromBuffer(modelJson, bytes),
    savedAt: 0,
  };
  const cache = new Map([[checkpoint.name, checkpoint]]);
  return { getCheckpoint: async (n) => cache.get(n), putCheckpoint: async (c) => void cache.set(c.name, c), setMeta: async () => undefined };
}

const history = (seq) => seq.map((item, t) => ({ itemId: String(item), type: 'view_item', time: 1_700_000_000_000 + t * 60_000 }));

async function handle(message) {
  if (message.cmd === 'clients') {
    // Each device: the global weights (setWeights also resets Adam), local epochs on its own history, the difference.
    const global = message.global;
    const globalNamed = named(global);
    const updates = [];
    let trainMs = 0;
    for (const seq of message.clients) {
      model.setWeights(globalNamed);
      const t0 = performance.now();
      await model.train([history(seq)], { epochs: message.epochs });
      trainMs += performance.now() - t0;
      const local = flatten(model.getWeights());
      for (let i = 0; i < total; i++) local[i] -= global[i];
      updates.push(local);
    }
    return { updates, trainMs, transfer: updates.map((u) => u.buffer) };
  }
  if (message.cmd === 'round') {
    // Train every device of this thread one after another, then let them all run the real client
    // at once (a secure round needs the whole cohort in each phase).
    const global = message.global;
    const globalNamed = named(global);
    const updates = [];
    const t0 = performance.now();
    for (const seq of message.clients) {
      model.setWeights(globalNamed);
      await model.train([history(seq)], { epochs: message.epochs });
      const local = flatten(model.getWeights());
      for (let i = 0; i < total; i++) local[i] -= global[i];
      updates.push(local);
    }
    const trainMs = performance.now() - t0;
    const store = await warmCache(message.url);
    const captured = [];
    const results = await Promise.all(
      updates.map((update, k) =>
        lib.runFederatedRound({
          serverUrl: message.url,
          siteKey: message.siteKey,
          model: new TrainedDevice(global, update),
          sequences: [[{ itemId: '1', type: 'view_item', time: 0 }]],
          store,
          consent: { contribute: true },
          capabilities: { globalPrivacyControl: false, saveData: false },
          retry: { attempts: 3, baseDelayMs: 50 },
          fetch: message.capture
            ? async (input, init) => {
                const path = String(input);
                if (init?.method === 'POST' && (path.endsWith('/updates') || path.endsWith('/secagg/masked'))) captured.push({ client: message.ids[k], body: new Uint8Array(init.body) });
                return fetch(input, init);
              }
            : fetch,
        }),
      ),
    );
    return {
      trainMs,
      results: results.map((r) => ({ status: r.status, reason: r.reason, bytes: r.upload?.bytes, format: r.upload?.header?.format, cpuMs: r.upload?.header?.cpuMs })),
      captured,
    };
  }
  if (message.cmd === 'central') {
    model.setWeights(named(message.global));
    let epochs = 0;
    const t0 = performance.now();
    while (epochs < message.maxEpochs && performance.now() - t0 < message.budgetMs) {
      await model.train(message.sequences.map(history), { epochs: 1, batchSize: message.batchSize });
      epochs++;
    }
    const weights = flatten(model.getWeights());
    return { weights, epochs, transfer: [weights.buffer] };
  }
  if (message.cmd === 'eval') {
    model.setWeights(named(message.weights));
    const scores = new Map();
    const cases = message.cases;
    for (let start = 0; start < cases.length; start += 64) {
      const chunk = cases.slice(start, start + 64);
      const scored = model.scoreBatch(chunk.map((c) => history(c.input)));
      scored.forEach((s, k) => scores.set(chunk[k].input, s.scores));
    }
    // Row r of the model is item r (items were created as "1".."n", row 0 is padding).
    const metrics = evaluateSampled(cases, (input, candidates) => candidates.map((item) => scores.get(input)[item - 1]));
    return { metrics: { ...metrics, n: cases.length } };
  }
  throw new Error(`unknown command ${message.cmd}`);
}

parentPort.on('message', async (message) => {
  try {
    const { transfer = [], ...reply } = await handle(message);
    parentPort.postMessage({ ok: true, ...reply }, transfer);
  } catch (error) {
    parentPort.postMessage({ ok: false, error: String(error?.stack ?? error) });
  }
});
parentPort.postMessage({ ok: true, ready: true, parameters: total, layout: layout.map(({ name, shape }) => ({ name, shape })) });
