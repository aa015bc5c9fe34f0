/**
 * `hearth-train`: trains a starting recommender from a storefront's historical log and writes it in
 * the tfjs format (`model.json` + `weights.bin`), so that a shop can bootstrap Hearth before any
 * shopper has trained. Built to dist/cli/train.js; `npm run train -- …` runs it from source.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import type { HistoryStep, ItemAttributes, RecommenderConfig } from './contract.js';
import { createIntentModel } from './intent-model.js';
import { HearthError, errorCodeOf } from '../errors.js';
import { DEFAULT_RECOMMENDER_CONFIG } from './defaults.js';
import { itemPopularity, parseEventCsv, parseUserItemLines, type InteractionLog } from './interaction-log.js';
import { saveModelArtifacts } from './model-artifacts.js';
import { setupNodeRuntime, type NodeBackend } from './node-runtime.js';
import { createRecommender } from './sasrec-recommender.js';

const USAGE = `Usage: hearth-train --input LOG --out DIR [options]

Trains Hearth's recommender from a historical log and writes DIR/model.json + DIR/weights.bin.

  --input FILE      the log: "user item" lines, or a CSV "user,item,category,behavior,timestamp"
  --format F        lines | csv (default: from the extension, .csv → csv)
  --catalog FILE    JSON array of {id, title, category, brand, price, inStock}; its items come first
  --out DIR         where to write model.json and weights.bin (created if missing)
  --epochs N        passes over the log (default 10)
  --minutes M       time budget; stops training when it runs out (default: none); with --intent,
                    four fifths go to the recommender and the rest to the intent model
  --dims N --blocks N --heads N --max-len N --negatives N --lr X --dropout X   model settings
                    (defaults: dims 48, blocks 2, heads 2, max-len 50, negatives 256, lr 0.003, dropout 0.5)
  --backend B       wasm | cpu (default wasm)
  --seed N          initialisation seed (default 1)
  --intent          also train the session intent model (needs event types: CSV logs) into DIR/intent/
  --help`;

class UsageError extends Error {}

interface CliOptions {
  input: string;
  format: 'lines' | 'csv';
  catalog?: string;
  out: string;
  epochs: number;
  minutes: number;
  backend: NodeBackend;
  seed: number;
  config: Partial<RecommenderConfig>;
  intent: boolean;
}

const NUMERIC_CONFIG: Record<string, keyof RecommenderConfig> = {
  '--dims': 'dims',
  '--blocks': 'blocks',
  '--heads': 'heads',
  '--max-len': 'maxLen',
  '--negatives': 'negatives',
  '--lr': 'learningRate',
  '--dropout': 'dropout',
};

function parseArgs(args: string[]): CliOptions | null {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--help' || arg === '-h') return null;
    if (arg === '--intent') {
      values.set('--intent', 'true');
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const [name, inline] = arg.split('=', 2) as [string, string | undefined];
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    values.set(name, value);
  }
  const known = new Set(['--intent', '--input', '--format', '--catalog', '--out', '--epochs', '--minutes', '--backend', '--seed', ...Object.keys(NUMERIC_CONFIG)]);
  for (const name of values.keys()) if (!known.has(name)) throw new UsageError(`unknown option ${name}`);
  const number = (name: string, fallback: number, integer: boolean): number => {
    const raw = values.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) throw new UsageError(`${name} must be a ${integer ? 'whole' : ''} number ≥ 0, got "${raw}"`);
    return n;
  };
  const input = values.get('--input');
  const out = values.get('--out');
  if (!input) throw new UsageError('--input is required');
  if (!out) throw new UsageError('--out is required');
  const format = values.get('--format') ?? (extname(input).toLowerCase() === '.csv' ? 'csv' : 'lines');
  if (format !== 'lines' && format !== 'csv') throw new UsageError(`--format must be lines or csv, got "${format}"`);
  const backend = values.get('--backend') ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'cpu') throw new UsageError(`--backend must be wasm or cpu, got "${backend}"`);
  // Defaults for a full historical log, tuned by bench:quality on Amazon Games (0.743 sampled
  // HR@10 in 8 minutes); the on-device defaults (DEFAULT_RECOMMENDER_CONFIG) stay more compact.
  const config: Partial<RecommenderConfig> = { dims: 48, dropout: 0.5, learningRate: 0.003 };
  for (const [flag, key] of Object.entries(NUMERIC_CONFIG)) {
    if (values.has(flag)) config[key] = number(flag, 0, key !== 'learningRate' && key !== 'dropout');
  }
  const options: CliOptions = { input, format, out, epochs: number('--epochs', 10, true), minutes: number('--minutes', 0, false), backend, seed: number('--seed', 1, true), config, intent: values.has('--intent') };
  const catalog = values.get('--catalog');
  if (catalog !== undefined) options.catalog = catalog;
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
  mkdirSync(dir, { recursive: true });
  const { modelJson, weightData } = saveModelArtifacts(intent);
  writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
  writeFileSync(join(dir, 'weights.bin'), weightData);
  intent.dispose();
  console.log(`hearth-train: wrote ${join(dir, 'model.json')} (final intent loss ${loss.toFixed(4)})`);
}

async function main(args: string[]): Promise<number> {
  const options = parseArgs(args);
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const text = readText(options.input, 'input file');
  const log = options.format === 'csv' ? parseEventCsv(text) : parseUserItemLines(text);
  if (log.lines === 0) throw new HearthError('invalid_argument', `${options.input} has no interactions`);
  const catalog = options.catalog ? readCatalog(options.catalog) : [];
  const items = vocabulary(log, catalog);
  const sequences = [...log.histories.values()];
  const backend = await setupNodeRuntime(options.backend);
  const model = createRecommender({ items, config: options.config, seed: options.seed });
  const positions = sequences.reduce((n, s) => n + Math.max(0, s.length - 1), 0);
  console.log(`hearth-train: ${log.lines} interactions, ${sequences.length} users, ${items.length} items (${catalog.length} from the catalog); backend ${backend}`);
  console.log(`hearth-train: model ${JSON.stringify({ ...DEFAULT_RECOMMENDER_CONFIG, ...model.config })}, ${model.parameterCount()} parameters`);

  const started = performance.now();
  const budgetMs = options.minutes * 60_000;
  // With --intent the recommender gets four fifths of the budget and the intent model the rest.
  const intentDeadline = options.minutes > 0 ? started + budgetMs : Number.POSITIVE_INFINITY;
  const deadline = options.minutes > 0 ? started + (options.intent ? 0.8 : 1) * budgetMs : Number.POSITIVE_INFINITY;
  let lastPrint = 0;
  let epochsDone = 0;
  let loss = Number.NaN;
  for (let epoch = 0; epoch < options.epochs && performance.now() < deadline; epoch++) {
    const epochStart = performance.now();
    const signal = Number.isFinite(deadline) ? AbortSignal.timeout(Math.max(1, Math.round(deadline - performance.now()))) : undefined;
    try {
      const result = await model.train(sequences, {
        epochs: 1,
        // Measured on Amazon Games (bench:quality): ~1,000-position batches converge far faster per
        // second than 4,000-position ones (more optimizer steps), at similar throughput.
        batchSize: 128,
        batchTokens: 1024,
        ...(signal ? { signal } : {}),
        onProgress: (p) => {
          loss = p.loss;
          const now = performance.now();
          if (now - lastPrint < 5_000) return;
          lastPrint = now;
          const rate = (p.fraction * positions) / Math.max(1e-3, (now - epochStart) / 1000);
          console.log(`  epoch ${epoch + 1}/${options.epochs} ${(p.fraction * 100).toFixed(0)}% loss ${p.loss.toFixed(4)} (${rate.toFixed(0)} positions/s)`);
        },
      });
      loss = result.loss;
      epochsDone++;
      console.log(`  epoch ${epoch + 1}/${options.epochs} done: loss ${loss.toFixed(4)}, ${((performance.now() - epochStart) / 1000).toFixed(1)} s`);
    } catch (error) {
      if (errorCodeOf(error) !== 'aborted') throw error;
      console.log(`  time budget of ${options.minutes} min reached during epoch ${epoch + 1}`);
      break;
    }
  }
  const seconds = (performance.now() - started) / 1000;

  const { modelJson, weightData } = saveModelArtifacts(model);
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'model.json'), JSON.stringify(modelJson));
  writeFileSync(join(out, 'weights.bin'), weightData);
  model.dispose();
  if (options.intent) await trainIntent(log, items, options, out, intentDeadline);
  console.log(`hearth-train: ${epochsDone} epochs in ${seconds.toFixed(1)} s (last loss ${loss.toFixed(4)}); wrote ${join(out, 'model.json')} and weights.bin (${(weightData.byteLength / 1e6).toFixed(1)} MB)`);
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
