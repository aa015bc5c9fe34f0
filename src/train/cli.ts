/**
 * `hearth-train`: trains a starting recommender from a storefront's historical log and writes it in
 * the tfjs format (`model.json` + `weights.bin`, and the item neighbours in `neighbours.bin`), so
 * that a shop's recommendations are good before any shopper has trained. Trains on every core,
 * keeps the epoch with the best validation NDCG@10, chooses the blend with the neighbours on the
 * same validation split (each shopper's last interaction), then trains on over the whole log.
 * Built to dist/cli/train.js, which the `hearth-train` executable (bin.ts) loads once the optional
 * peers are there; `npm run train -- …` runs it from source.
 */
import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { HistoryStep, ItemAttributes, RecommenderConfig, RecommenderLoss } from '../model/contract.js';
import { createIntentModel } from '../model/intent-model.js';
import { HearthError, errorCodeOf } from '../protocol/errors.js';
import { chooseLoss } from '../model/defaults.js';
import { itemPopularity, readEventCsv, readUserItemLines, type InteractionLog } from './interaction-log.js';
import { saveModelArtifacts } from '../model/model-artifacts.js';
import type { ModelFile } from '../protocol/model-file.js';
import { setupNodeRuntime, type NodeBackend } from './node-runtime.js';
import { DEFAULT_FINAL_EPOCHS, DEFAULT_PATIENCE, fitRecommender } from './fit.js';
import { validationSplit } from './validation-split.js';
import { TRAINING_DEFAULTS } from './training-defaults.js';

const USAGE = `Usage: hearth-train --input LOG --out DIR [options]

Trains Hearth's recommender from a historical log and writes DIR/model.json, DIR/weights.bin and
DIR/neighbours.bin. Each shopper's last interaction is held out to choose the best epoch and the
blend with the item neighbours; the validation curve (time → NDCG@10) is printed. Then the model
trains a few more epochs over the whole log, held-out interactions included, and ships.

  --input FILE      the log: "user item" lines, or a CSV "user,item,category,behavior,timestamp"
  --format F        lines | csv (default: from the extension, .csv → csv)
  --catalog FILE    JSON array of {id, title, category, brand, price, inStock}; its items come first
  --out DIR         where to write the model (created if missing)
  --minutes M       time budget (default: none); with --intent, four fifths go to the recommender
  --epochs N        at most this many passes over the log (default 100)
  --patience N      stop after N epochs without a better validation NDCG@10 (default ${DEFAULT_PATIENCE})
  --final-epochs N  epochs over the whole log after the best one (default ${DEFAULT_FINAL_EPOCHS}; 0: ship the best epoch)
  --threads N       training threads (default: every core, here ${availableParallelism()})
  --neighbours N    item neighbours kept per item (default 20; 0: none)
  --loss L          auto | softmax | sampled-softmax (default auto: full softmax up to 4,096 items)
  --dims N --blocks N --heads N --max-len N --negatives N --lr X --dropout X   model settings
                    (defaults: dims 48, blocks 2, heads 2, max-len 50, negatives 1024, lr 0.003, dropout 0.5)
  --backend B       wasm | cpu (default wasm)
  --seed N          initialisation seed (default 1)
  --intent          also train the session intent model (needs event types: CSV logs) into DIR/intent/
  --help`;

class UsageError extends Error {}

const OPTIONS = {
  input: { type: 'string' },
  format: { type: 'string' },
  catalog: { type: 'string' },
  out: { type: 'string' },
  minutes: { type: 'string' },
  epochs: { type: 'string' },
  patience: { type: 'string' },
  'final-epochs': { type: 'string' },
  threads: { type: 'string' },
  neighbours: { type: 'string' },
  loss: { type: 'string' },
  dims: { type: 'string' },
  blocks: { type: 'string' },
  heads: { type: 'string' },
  'max-len': { type: 'string' },
  negatives: { type: 'string' },
  lr: { type: 'string' },
  dropout: { type: 'string' },
  backend: { type: 'string' },
  seed: { type: 'string' },
  intent: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

/** Model flags → config keys. */
const MODEL_FLAGS = { dims: 'dims', blocks: 'blocks', heads: 'heads', 'max-len': 'maxLen', negatives: 'negatives', lr: 'learningRate', dropout: 'dropout' } as const;

interface CliOptions {
  input: string;
  format: 'lines' | 'csv';
  catalog?: string;
  out: string;
  minutes: number;
  epochs: number;
  patience: number;
  finalEpochs: number;
  threads: number;
  neighbours: number;
  loss: RecommenderLoss | 'auto';
  backend: NodeBackend;
  seed: number;
  config: Partial<RecommenderConfig>;
  intent: boolean;
}

function readOptions(args: string[]): CliOptions | null {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true; allowPositionals: false }>>['values'];
  try {
    ({ values } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return null;
  const number = (name: keyof typeof OPTIONS, fallback: number, integer: boolean): number => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (typeof raw !== 'string' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
      throw new UsageError(`--${name} must be a ${integer ? 'whole ' : ''}number ≥ 0, got "${String(raw)}"`);
    return n;
  };
  const { input, out } = values;
  if (!input) throw new UsageError('--input is required');
  if (!out) throw new UsageError('--out is required');
  const format = values.format ?? (extname(input).toLowerCase() === '.csv' ? 'csv' : 'lines');
  if (format !== 'lines' && format !== 'csv') throw new UsageError(`--format must be lines or csv, got "${format}"`);
  const backend = values.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'cpu') throw new UsageError(`--backend must be wasm or cpu, got "${backend}"`);
  const loss = values.loss ?? 'auto';
  if (loss !== 'auto' && loss !== 'softmax' && loss !== 'sampled-softmax') throw new UsageError(`--loss must be auto, softmax or sampled-softmax, got "${loss}"`);
  const config: Partial<RecommenderConfig> = { ...TRAINING_DEFAULTS.config };
  for (const [flag, key] of Object.entries(MODEL_FLAGS)) {
    if (values[flag as keyof typeof MODEL_FLAGS] !== undefined) config[key] = number(flag as keyof typeof OPTIONS, 0, key !== 'learningRate' && key !== 'dropout');
  }
  const options: CliOptions = {
    input,
    format,
    out,
    minutes: number('minutes', 0, false),
    epochs: number('epochs', 100, true),
    patience: Math.max(1, number('patience', DEFAULT_PATIENCE, true)),
    finalEpochs: number('final-epochs', DEFAULT_FINAL_EPOCHS, true),
    threads: Math.max(1, number('threads', availableParallelism(), true)),
    neighbours: number('neighbours', 20, true),
    loss,
    backend,
    seed: number('seed', 1, true),
    config,
    intent: values.intent === true,
  };
  if (values.catalog !== undefined) options.catalog = values.catalog;
  return options;
}

function readText(path: string, what: string): string {
  if (!existsSync(path)) throw new UsageError(`${what} ${path} does not exist`);
  return readFileSync(path, 'utf8');
}

/** Reads the catalog JSON; throws with the index of the first bad entry. */
function readCatalog(path: string): ItemAttributes[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readText(path, 'catalog'));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new HearthError('invalid_catalog', `${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!Array.isArray(parsed)) throw new HearthError('invalid_catalog', `${path} must hold a JSON array of items`);
  return parsed.map((raw: unknown, i) => {
    const item = raw as Record<string, unknown> | null;
    if (!item || (typeof item.id !== 'string' && typeof item.id !== 'number')) throw new HearthError('invalid_catalog', `${path}: item ${i} has no id`);
    const out: ItemAttributes = { id: String(item.id) };
    if (typeof item.category === 'string') out.category = item.category;
    if (typeof item.brand === 'string') out.brand = item.brand;
    if (typeof item.price === 'number' && Number.isFinite(item.price)) out.price = item.price;
    return out;
  });
}

/**
 * Catalog items first (in catalog order), then items only the log mentions; each with its share of
 * the log's recent interest, which devices use for `trending()`.
 */
function vocabulary(log: InteractionLog, catalog: ItemAttributes[]): ItemAttributes[] {
  const popularity = itemPopularity(log);
  const items: ItemAttributes[] = [];
  const seen = new Set<string>();
  const add = (item: ItemAttributes): void => {
    const category = item.category ?? log.categories.get(item.id);
    const share = popularity.get(item.id);
    items.push({ ...item, ...(category === undefined ? {} : { category }), ...(share === undefined ? {} : { popularity: share }) });
  };
  for (const item of catalog) {
    if (seen.has(item.id)) continue;
    seen.add(item.id);
    add(item);
  }
  for (const id of log.itemIds) {
    if (seen.has(id)) continue;
    seen.add(id);
    add({ id });
  }
  return items;
}

/** Splits each user's events into sessions at 30 minutes of inactivity (seconds or ms timestamps). */
function sessionsOf(log: InteractionLog): HistoryStep[][] {
  const sessions: HistoryStep[][] = [];
  for (const history of log.histories.values()) {
    let current: HistoryStep[] = [];
    let last = Number.NEGATIVE_INFINITY;
    for (const step of history) {
      const gap = step.time < 1e11 ? 30 * 60 : 30 * 60 * 1000;
      if (current.length > 0 && step.time - last > gap) {
        sessions.push(current);
        current = [];
      }
      current.push(step);
      last = step.time;
    }
    if (current.length > 0) sessions.push(current);
  }
  return sessions;
}

function writeArtifacts(dir: string, artifacts: ModelFile): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), JSON.stringify(artifacts.modelJson));
  writeFileSync(join(dir, 'weights.bin'), artifacts.weightData);
  if (artifacts.tableData) writeFileSync(join(dir, 'neighbours.bin'), artifacts.tableData);
}

async function trainIntent(log: InteractionLog, items: ItemAttributes[], options: CliOptions, out: string, deadline: number): Promise<void> {
  const sessions = sessionsOf(log);
  const labelled = sessions.filter((s) => s.some((step) => step.type === 'add_to_cart' || step.type === 'purchase')).length;
  console.log(`hearth-train: intent model on ${sessions.length} sessions (${labelled} with an add_to_cart or purchase)`);
  if (labelled === 0) console.log('hearth-train: warning: no add_to_cart / purchase events; the intent model will learn nothing useful');
  const intent = createIntentModel({ items, seed: options.seed });
  const epochs = Math.max(1, Math.min(options.epochs, 5));
  const signal = Number.isFinite(deadline) ? AbortSignal.timeout(Math.max(1_000, Math.round(deadline - performance.now()))) : undefined;
  let loss = Number.NaN;
  try {
    ({ loss } = await intent.train(sessions, {
      ...(signal ? { signal } : {}),
      epochs,
      batchSize: 64,
      onProgress: (p) => {
        loss = p.loss;
        if (p.fraction === 1) console.log(`  intent: ${p.epochs} epochs, loss ${p.loss.toFixed(4)}`);
      },
    }));
  } catch (error) {
    if (errorCodeOf(error) !== 'aborted') throw error;
    // Partly trained still beats the heuristic a device would use instead.
    console.log(`  intent: time budget reached; keeping the model as trained so far`);
  }
  const dir = join(out, 'intent');
  writeArtifacts(dir, saveModelArtifacts(intent));
  intent.dispose();
  console.log(`hearth-train: wrote ${join(dir, 'model.json')} (final intent loss ${loss.toFixed(4)})`);
}

async function main(args: string[]): Promise<number> {
  const options = readOptions(args);
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  if (!existsSync(options.input)) throw new UsageError(`input file ${options.input} does not exist`);
  const input = createReadStream(options.input);
  const log = options.format === 'csv' ? await readEventCsv(input) : await readUserItemLines(input);
  if (log.lines === 0) throw new HearthError('invalid_argument', `${options.input} has no interactions`);
  const catalog = options.catalog ? readCatalog(options.catalog) : [];
  const items = vocabulary(log, catalog);
  const config: Partial<RecommenderConfig> = { ...options.config, loss: options.loss === 'auto' ? chooseLoss(items.length) : options.loss };
  const backend = await setupNodeRuntime(options.backend);
  const { train, validation } = validationSplit(log.histories.values(), options.format === 'lines');
  console.log(
    `hearth-train: ${log.lines} interactions, ${log.histories.size} users, ${items.length} items (${catalog.length} from the catalog); ${validation.length} users hold out their last item for validation; backend ${backend}, ${options.threads} threads`,
  );
  console.log(`hearth-train: model ${JSON.stringify(config)}`);

  const started = performance.now();
  const minutes = options.minutes > 0 ? options.minutes * (options.intent ? 0.8 : 1) : 0;
  const fit = await fitRecommender({
    items,
    config,
    seed: options.seed,
    sequences: train,
    validation,
    minutes,
    maxEpochs: options.epochs,
    patience: options.patience,
    threads: options.threads,
    backend: options.backend,
    batchTokens: TRAINING_DEFAULTS.batchTokens,
    batchSize: TRAINING_DEFAULTS.batchSize,
    neighbours: options.neighbours > 0,
    neighboursPerItem: options.neighbours,
    // The weight and the best epoch are chosen on the training part; what ships learns the held-out
    // interactions too (more epochs from the best weights, the neighbour table counts them).
    wholeLog: [...log.histories.values()],
    finalEpochs: options.finalEpochs,
    log: (line) => console.log(`  ${line}`),
  });
  const model = fit.model;
  const curve = fit.curve.map((p) => `${p.seconds.toFixed(0)} s → ${Number.isNaN(p.ndcg) ? '-' : p.ndcg.toFixed(4)}`).join(', ');
  if (curve) console.log(`hearth-train: validation curve (time → NDCG@10): ${curve}`);
  const out = resolve(options.out);
  const artifacts = saveModelArtifacts(model);
  writeArtifacts(out, artifacts);
  const parameters = model.parameterCount();
  model.dispose();
  const v = fit.validation;
  console.log(
    `hearth-train: ${fit.epochs} ${fit.epochs === 1 ? 'epoch' : 'epochs'}, ${fit.trainSeconds.toFixed(1)} s of training (the rest validates; best ${fit.bestEpoch}, stopped by ${fit.stoppedBy}, then ${fit.finalEpochs} over the whole log), ${fit.positionsPerSecond.toFixed(0)} positions/s on ${fit.threads} cores, ${parameters} parameters` +
      (v ? `; validation NDCG@10 ${v.blended.ndcg.toFixed(4)} with neighbour weight ${v.neighbourWeight} (Transformer alone ${v.model.ndcg.toFixed(4)})` : ''),
  );
  console.log(
    `hearth-train: wrote ${join(out, 'model.json')}, weights.bin (${(artifacts.weightData.byteLength / 1e6).toFixed(1)} MB)${artifacts.tableData ? ` and neighbours.bin (${(artifacts.tableData.byteLength / 1e6).toFixed(1)} MB)` : ''}`,
  );
  if (options.intent) await trainIntent(log, items, options, out, options.minutes > 0 ? started + options.minutes * 60_000 : Number.POSITIVE_INFINITY);
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`hearth-train: ${error.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    const code = errorCodeOf(error);
    console.error(`hearth-train: error${code ? ` [${code}]` : ''}: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
