/**
 * Hearth models in the TensorFlow.js artefact format: a `model.json` whose `weightsManifest` lists
 * `{ paths, weights: [{ name, shape, dtype }] }`, plus binary shards of little-endian float32 values.
 * Hearth's config and item vocabulary travel in `userDefinedMetadata.hearth`, so a client can
 * rebuild the model around the weights. Used by the training CLI (writer) and for warm starts from
 * a global model (loader).
 */
import type { ModelCheckpoint } from '../store/types.js';
import type { IntentModel, NamedWeight, SequenceRecommender } from './contract.js';
import { HearthError, errorCodeOf } from '../errors.js';
import { INTENT_CHECKPOINT_NAME, intentModelFromCheckpoint } from './intent-model.js';
import { RECOMMENDER_CHECKPOINT_NAME, recommenderFromCheckpoint } from './sasrec-recommender.js';

export interface WeightsManifestGroup {
  paths: string[];
  weights: { name: string; shape: number[]; dtype: 'float32' }[];
}

/** How a table is stored: int32 / float32 little-endian, or as exact integers in uint16. */
export interface TableEntry {
  name: string;
  shape: number[];
  dtype: 'int32' | 'float32';
  /** tfjs's quantization spec; Hearth writes `{ dtype: 'uint16', scale: 1, min: 0 }` for integers that fit. */
  quantization?: { dtype: 'uint16'; scale: 1; min: 0 };
}

/** What Hearth needs besides the weights. */
export interface HearthModelMetadata {
  name: string;
  formatVersion: number;
  config: unknown;
  savedAt: number;
  /**
   * Non-trainable tables (the recommender's item neighbours), in their own file so that the
   * federated server, which averages `weightsManifest` only, never sees them.
   */
  tables?: { paths: string[]; entries: TableEntry[] };
}

export interface HearthModelJson {
  format: 'hearth';
  generatedBy: string;
  convertedBy: null;
  modelTopology: null;
  weightsManifest: WeightsManifestGroup[];
  userDefinedMetadata: { hearth: HearthModelMetadata };
}

export interface ModelArtifacts {
  modelJson: HearthModelJson;
  /** The bytes of the single shard named in the manifest (`weights.bin` by default). */
  weightData: Uint8Array;
  /** The bytes of the tables file (`neighbours.bin`), when the model has tables. */
  tableData?: Uint8Array;
}

export type LoadedModel =
  | { kind: 'recommender'; model: SequenceRecommender; checkpoint: ModelCheckpoint }
  | { kind: 'intent'; model: IntentModel; checkpoint: ModelCheckpoint };

const invalid = (why: string): never => {
  throw new HearthError('invalid_checkpoint', `model.json: ${why}`);
};

/**
 * Writes a model (or a checkpoint) as `model.json` + one weight shard.
 *
 * @example
 * ```ts
 * const { modelJson, weightData } = saveModelArtifacts(model);
 * writeFileSync('out/model.json', JSON.stringify(modelJson));
 * writeFileSync('out/weights.bin', weightData);
 * ```
 */
export function saveModelArtifacts(model: SequenceRecommender | IntentModel | ModelCheckpoint, shardPath = 'weights.bin', tablePath = 'neighbours.bin'): ModelArtifacts {
  const checkpoint = 'toCheckpoint' in model ? model.toCheckpoint() : model;
  const total = checkpoint.weights.reduce((n, w) => n + w.values.length, 0);
  const floats = new Float32Array(total);
  let offset = 0;
  for (const w of checkpoint.weights) {
    floats.set(w.values, offset);
    offset += w.values.length;
  }
  const meta: HearthModelMetadata = { name: checkpoint.name, formatVersion: checkpoint.formatVersion, config: checkpoint.config, savedAt: checkpoint.savedAt };
  const tables = checkpoint.tables ?? [];
  const encoded = tables.map(encodeTable);
  if (tables.length > 0) meta.tables = { paths: [tablePath], entries: encoded.map((e) => e.entry) };
  // Float32Array is platform-endian; every platform tfjs runs on is little-endian, as the format wants.
  const artifacts: ModelArtifacts = {
    modelJson: {
      format: 'hearth',
      generatedBy: 'hearth',
      convertedBy: null,
      modelTopology: null,
      weightsManifest: [{ paths: [shardPath], weights: checkpoint.weights.map((w) => ({ name: w.name, shape: [...w.shape], dtype: 'float32' })) }],
      userDefinedMetadata: { hearth: meta },
    },
    weightData: new Uint8Array(floats.buffer),
  };
  if (tables.length > 0) artifacts.tableData = concat(encoded.map((e) => e.bytes));
  return artifacts;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** A table's bytes: integers that fit in 16 bits as uint16 (half the download), else 32-bit. */
function encodeTable(table: NonNullable<ModelCheckpoint['tables']>[number]): { entry: TableEntry; bytes: Uint8Array } {
  const dtype = table.values instanceof Int32Array ? 'int32' : 'float32';
  const fits = table.values.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffff);
  const entry: TableEntry = { name: table.name, shape: [...table.shape], dtype };
  if (fits) {
    entry.quantization = { dtype: 'uint16', scale: 1, min: 0 };
    return { entry, bytes: new Uint8Array(Uint16Array.from(table.values).buffer) };
  }
  const copy = dtype === 'int32' ? Int32Array.from(table.values) : Float32Array.from(table.values);
  return { entry, bytes: new Uint8Array(copy.buffer) };
}

function readTableEntries(value: unknown): { paths: string[]; entries: TableEntry[] } {
  const t = value as { paths?: unknown; entries?: unknown } | null;
  if (typeof t !== 'object' || t === null || !Array.isArray(t.paths) || t.paths.length === 0 || t.paths.some((p) => typeof p !== 'string')) invalid('tables need paths');
  if (!Array.isArray(t!.entries)) invalid('tables need entries');
  for (const e of t!.entries as unknown[]) {
    const entry = e as Record<string, unknown> | null;
    if (!entry || typeof entry.name !== 'string') invalid('a table has no name');
    if (!Array.isArray(entry!.shape) || entry!.shape.length !== 1 || !Number.isSafeInteger(entry!.shape[0]) || (entry!.shape[0] as number) < 0) invalid(`table "${String(entry!.name)}" needs a one-dimensional shape`);
    if (entry!.dtype !== 'int32' && entry!.dtype !== 'float32') invalid(`table "${String(entry!.name)}" must be int32 or float32`);
    const q = entry!.quantization as Record<string, unknown> | undefined;
    if (q !== undefined && (q.dtype !== 'uint16' || q.scale !== 1 || q.min !== 0)) invalid(`table "${String(entry!.name)}" has an unsupported quantization`);
  }
  return t as { paths: string[]; entries: TableEntry[] };
}

/** Decodes the tables file; throws 'invalid_checkpoint' when its length does not match. */
function decodeTables(entries: readonly TableEntry[], bytes: Uint8Array): NonNullable<ModelCheckpoint['tables']> {
  const width = (e: TableEntry): number => (e.quantization ? 2 : 4);
  const total = entries.reduce((n, e) => n + (e.shape[0] as number) * width(e), 0);
  if (bytes.byteLength !== total) invalid(`the tables have ${bytes.byteLength} bytes, model.json announces ${total}`);
  // Copy into an aligned buffer: typed-array views need aligned offsets.
  const aligned = new Uint8Array(total);
  aligned.set(bytes);
  let offset = 0;
  return entries.map((e) => {
    const n = e.shape[0] as number;
    const raw = aligned.slice(offset, offset + n * width(e)).buffer;
    offset += n * width(e);
    const source = e.quantization ? new Uint16Array(raw) : e.dtype === 'int32' ? new Int32Array(raw) : new Float32Array(raw);
    const values = e.dtype === 'int32' ? Int32Array.from(source) : Float32Array.from(source);
    if (values instanceof Float32Array) for (let i = 0; i < n; i++) if (!Number.isFinite(values[i])) invalid(`table "${e.name}" has a non-finite value`);
    return { name: e.name, shape: [n], values };
  });
}

/** Validates a parsed `model.json` and returns its manifest entries and Hearth metadata. */
function readModelJson(value: unknown): { groups: WeightsManifestGroup[]; meta: HearthModelMetadata } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid('not an object');
  const json = value as Record<string, unknown>;
  const meta = (json.userDefinedMetadata as { hearth?: unknown } | undefined)?.hearth ?? json.hearth;
  if (typeof meta !== 'object' || meta === null) invalid('no Hearth metadata (userDefinedMetadata.hearth)');
  const m = meta as Record<string, unknown>;
  if (typeof m.name !== 'string' || typeof m.formatVersion !== 'number') invalid('Hearth metadata needs name and formatVersion');
  if (!Array.isArray(json.weightsManifest) || json.weightsManifest.length === 0) invalid('weightsManifest must be a non-empty list');
  for (const group of json.weightsManifest as unknown[]) {
    const g = group as Record<string, unknown> | null;
    if (!g || !Array.isArray(g.paths) || g.paths.length === 0 || g.paths.some((p) => typeof p !== 'string')) invalid('a manifest group has no paths');
    if (!Array.isArray(g!.weights)) invalid('a manifest group has no weights');
    for (const w of g!.weights as unknown[]) {
      const e = w as Record<string, unknown> | null;
      if (!e || typeof e.name !== 'string') invalid('a weight has no name');
      if (!Array.isArray(e!.shape) || e!.shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) invalid(`weight "${String(e!.name)}" has a bad shape`);
      if (e!.dtype !== 'float32' || e!.quantization !== undefined) invalid(`weight "${String(e!.name)}" must be plain float32`);
    }
  }
  return { groups: json.weightsManifest as WeightsManifestGroup[], meta: meta as HearthModelMetadata };
}

/**
 * Builds a checkpoint from `model.json` and the concatenated bytes of its shards (in manifest
 * order). Throws 'invalid_checkpoint' when the byte length does not match the manifest or a value
 * is not finite; the model constructors then check names and shapes against the config.
 *
 * @example
 * ```ts
 * const checkpoint = checkpointFromArtifacts(JSON.parse(json), new Uint8Array(bytes));
 * ```
 */
export function checkpointFromArtifacts(modelJson: unknown, weightData: Uint8Array, tableData?: Uint8Array): ModelCheckpoint {
  const { groups, meta } = readModelJson(modelJson);
  const layout = groups.flatMap((g) => g.weights);
  const sizes = layout.map((w) => w.shape.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (weightData.byteLength !== total * 4) invalid(`the weights have ${weightData.byteLength} bytes, the manifest announces ${total * 4}`);
  // Copy into an aligned buffer: a Float32Array view needs a 4-byte-aligned offset.
  const floats = new Float32Array(total);
  new Uint8Array(floats.buffer).set(weightData);
  let offset = 0;
  const weights: NamedWeight[] = layout.map((w, i) => {
    const values = floats.slice(offset, offset + (sizes[i] as number));
    offset += sizes[i] as number;
    for (let k = 0; k < values.length; k++) if (!Number.isFinite(values[k])) invalid(`weight "${w.name}" has a non-finite value`);
    return { name: w.name, shape: [...w.shape], values };
  });
  const checkpoint: ModelCheckpoint = { name: meta.name, formatVersion: meta.formatVersion, config: meta.config, weights, savedAt: typeof meta.savedAt === 'number' ? meta.savedAt : 0 };
  if (meta.tables !== undefined && tableData !== undefined) checkpoint.tables = decodeTables(readTableEntries(meta.tables).entries, tableData);
  return checkpoint;
}

/** Rebuilds whichever model a checkpoint holds. */
export function modelFromCheckpoint(checkpoint: ModelCheckpoint): LoadedModel {
  if (checkpoint.name === RECOMMENDER_CHECKPOINT_NAME) return { kind: 'recommender', model: recommenderFromCheckpoint(checkpoint), checkpoint };
  if (checkpoint.name === INTENT_CHECKPOINT_NAME) return { kind: 'intent', model: intentModelFromCheckpoint(checkpoint), checkpoint };
  return invalid(`unknown model "${checkpoint.name}"`);
}

type FetchLike = (url: string) => Promise<{ ok: boolean; status: number; json(): Promise<unknown>; arrayBuffer(): Promise<ArrayBuffer> }>;

async function fetchOk(fetchImpl: FetchLike, url: string): Promise<Awaited<ReturnType<FetchLike>>> {
  let response: Awaited<ReturnType<FetchLike>>;
  try {
    response = await fetchImpl(url);
  } catch (error) {
    throw new HearthError('network', `could not fetch ${url}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (!response.ok) throw new HearthError('network', `fetching ${url} answered HTTP ${response.status}`);
  return response;
}

/**
 * Downloads `model.json` and its shards (paths resolve relative to the model.json URL) and returns
 * the checkpoint, to store and to rebuild the model from.
 *
 * @example
 * ```ts
 * const checkpoint = await loadCheckpointFromUrl('https://shop.example/hearth/model.json');
 * ```
 */
export async function loadCheckpointFromUrl(url: string, fetchImpl: FetchLike = globalThis.fetch as unknown as FetchLike): Promise<ModelCheckpoint> {
  const response = await fetchOk(fetchImpl, url);
  let json: unknown;
  try {
    json = await response.json();
  } catch (error) {
    throw new HearthError('invalid_checkpoint', `${url} is not JSON`, { cause: error });
  }
  const { groups, meta } = readModelJson(json);
  const base = new URL(url, typeof location === 'undefined' ? 'http://localhost/' : location.href);
  const download = async (paths: readonly string[]): Promise<Uint8Array> => {
    const shards: Uint8Array[] = [];
    for (const path of paths) {
      const shard = await fetchOk(fetchImpl, new URL(path, base).href);
      shards.push(new Uint8Array(await shard.arrayBuffer()));
    }
    return concat(shards);
  };
  const weights = await download(groups.flatMap((g) => g.paths));
  if (meta.tables === undefined) return checkpointFromArtifacts(json, weights);
  let tables: Uint8Array | undefined;
  try {
    tables = await download(readTableEntries(meta.tables).paths);
  } catch (error) {
    // A model republished without its tables (e.g. by an aggregation server) still works, without
    // neighbours; a malformed table description is a broken model.
    if (errorCodeOf(error) !== 'network') throw error;
  }
  return checkpointFromArtifacts(json, weights, tables);
}

/**
 * Downloads a global model in the tfjs format and rebuilds it (warm start).
 *
 * @example
 * ```ts
 * const loaded = await loadModelFromUrl('/hearth/model.json', fetch);
 * if (loaded.kind === 'recommender') engine.useRecommender(loaded.model);
 * ```
 */
export async function loadModelFromUrl(url: string, fetchImpl?: FetchLike): Promise<LoadedModel> {
  return modelFromCheckpoint(await loadCheckpointFromUrl(url, fetchImpl));
}

export type { FetchLike };
