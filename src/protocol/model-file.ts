/**
 * The model file, in the TensorFlow.js artefact format: a `model.json` whose `weightsManifest`
 * lists `{ paths, weights: [{ name, shape, dtype }] }`, plus binary shards of little-endian float32
 * values. The one codec for every reader and writer: `hearth-train` writes it, the worker loads it
 * (warm start), the federated client reads the server's global model from it, and the aggregation
 * server reads its `--model-dir` and publishes each round's model in it.
 *
 * Hearth's config and item vocabulary travel in `userDefinedMetadata.hearth`, so a device can
 * rebuild the model around the weights. Tables that are not weights (the recommender's item
 * neighbours) are described there too and live in their own file, outside the manifest, so that
 * the server, which averages the manifest's weights, never touches them.
 */
import type { ModelCheckpoint, NamedTable, NamedWeight } from './checkpoint.js';
import { HearthError, errorCodeOf } from './errors.js';

export interface WeightsManifestEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
}

export interface WeightsManifestGroup {
  paths: string[];
  weights: WeightsManifestEntry[];
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
  /** Non-trainable tables (the item neighbours), in their own file. */
  tables?: { paths: string[]; entries: TableEntry[] };
}

/** A `model.json`. Fields other than `weightsManifest` are kept as they are. */
export interface ModelJson {
  weightsManifest: WeightsManifestGroup[];
  userDefinedMetadata?: { hearth?: HearthModelMetadata };
  [key: string]: unknown;
}

/** A model file's parts: `model.json`, its weight shard and its tables file (`neighbours.bin`). */
export interface ModelFile {
  modelJson: ModelJson;
  weightData: Uint8Array;
  tableData?: Uint8Array;
}

export type FetchLike = (url: string) => Promise<{ ok: boolean; status: number; json(): Promise<unknown>; arrayBuffer(): Promise<ArrayBuffer> }>;

function invalid(why: string): never {
  throw new HearthError('invalid_checkpoint', `model.json: ${why}`);
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
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

/**
 * Validates a parsed `model.json`: a non-empty manifest of plain float32 weights (updates are
 * float arithmetic). Throws 'invalid_checkpoint'.
 *
 * @example
 * ```ts
 * const modelJson = parseModelJson(await (await fetch(url)).json());
 * ```
 */
export function parseModelJson(value: unknown): ModelJson {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid('not an object');
  const json = value as Record<string, unknown>;
  if (!Array.isArray(json.weightsManifest) || json.weightsManifest.length === 0) invalid('weightsManifest must be a non-empty list');
  for (const group of json.weightsManifest as unknown[]) {
    if (typeof group !== 'object' || group === null) invalid('a weightsManifest group is not an object');
    const g = group as Record<string, unknown>;
    if (!Array.isArray(g.paths) || g.paths.length === 0 || g.paths.some((p) => typeof p !== 'string')) invalid('a manifest group has no paths');
    if (!Array.isArray(g.weights)) invalid('a manifest group has no weights');
    for (const w of g.weights as unknown[]) {
      const e = w as Record<string, unknown> | null;
      if (!e || typeof e.name !== 'string') invalid('a weight has no name');
      if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) invalid(`weight "${e.name}" has a bad shape`);
      if (e.dtype !== 'float32' || e.quantization !== undefined) invalid(`weight "${e.name}" must be plain float32`);
    }
  }
  return json as ModelJson;
}

/** The Hearth metadata of a `model.json` (name, format version, config); throws when it has none. */
export function hearthMetadata(modelJson: ModelJson): HearthModelMetadata {
  const meta = modelJson.userDefinedMetadata?.hearth ?? (modelJson as { hearth?: unknown }).hearth;
  if (typeof meta !== 'object' || meta === null) invalid('no Hearth metadata (userDefinedMetadata.hearth)');
  const m = meta as Record<string, unknown>;
  if (typeof m.name !== 'string' || typeof m.formatVersion !== 'number') invalid('Hearth metadata needs name and formatVersion');
  return meta as HearthModelMetadata;
}

/** The weights' names and shapes in manifest order (the order of `getWeights()`). */
export function manifestLayout(modelJson: ModelJson): { name: string; shape: number[] }[] {
  return modelJson.weightsManifest.flatMap((g) => g.weights.map((w) => ({ name: w.name, shape: [...w.shape] })));
}

/**
 * Splits the concatenated weight bytes (every group's files, in order) into named tensors; throws
 * 'invalid_checkpoint' when the length does not match the manifest or a value is not finite.
 *
 * @example
 * ```ts
 * const weights = weightsFromBuffer(modelJson, new Uint8Array(await res.arrayBuffer()));
 * ```
 */
export function weightsFromBuffer(modelJson: ModelJson, bytes: Uint8Array): NamedWeight[] {
  const layout = manifestLayout(modelJson);
  const total = layout.reduce((n, w) => n + sizeOf(w.shape), 0);
  if (bytes.byteLength !== total * 4) invalid(`the weights have ${bytes.byteLength} bytes, the manifest announces ${total * 4}`);
  // Copy into an aligned buffer: a Float32Array view needs a 4-byte-aligned offset.
  const floats = new Float32Array(total);
  new Uint8Array(floats.buffer).set(bytes);
  let offset = 0;
  return layout.map(({ name, shape }) => {
    const n = sizeOf(shape);
    const values = floats.slice(offset, offset + n);
    offset += n;
    for (let i = 0; i < n; i++) if (!Number.isFinite(values[i])) invalid(`weight "${name}" has a non-finite value`);
    return { name, shape, values };
  });
}

/** Concatenates the weights' float32 values, little-endian, in order. */
export function weightsToBuffer(weights: readonly NamedWeight[]): Uint8Array {
  const out = new Float32Array(weights.reduce((n, w) => n + w.values.length, 0));
  let offset = 0;
  for (const w of weights) {
    out.set(w.values, offset);
    offset += w.values.length;
  }
  // Float32Array is platform-endian; every platform tfjs runs on is little-endian, as the format wants.
  return new Uint8Array(out.buffer);
}

/** `modelJson` with one manifest group that points at `path` and lists `weights`. */
export function withManifest(modelJson: Omit<ModelJson, 'weightsManifest'> & Partial<ModelJson>, weights: readonly { name: string; shape: readonly number[] }[], path: string): ModelJson {
  return { ...modelJson, weightsManifest: [{ paths: [path], weights: weights.map((w) => ({ name: w.name, shape: [...w.shape], dtype: 'float32' })) }] };
}

/** A table's bytes: integers that fit in 16 bits as uint16 (half the download), else 32-bit. */
function encodeTable(table: NamedTable): { entry: TableEntry; bytes: Uint8Array } {
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
  if (!Array.isArray(t.entries)) invalid('tables need entries');
  for (const e of t.entries as unknown[]) {
    const entry = e as Record<string, unknown> | null;
    if (!entry || typeof entry.name !== 'string') invalid('a table has no name');
    if (!Array.isArray(entry.shape) || entry.shape.length !== 1 || !Number.isSafeInteger(entry.shape[0]) || (entry.shape[0] as number) < 0)
      invalid(`table "${entry.name}" needs a one-dimensional shape`);
    if (entry.dtype !== 'int32' && entry.dtype !== 'float32') invalid(`table "${entry.name}" must be int32 or float32`);
    const q = entry.quantization as Record<string, unknown> | undefined;
    if (q !== undefined && (q.dtype !== 'uint16' || q.scale !== 1 || q.min !== 0)) invalid(`table "${entry.name}" has an unsupported quantization`);
  }
  return t as { paths: string[]; entries: TableEntry[] };
}

/** Decodes the tables file; throws 'invalid_checkpoint' when its length does not match. */
function decodeTables(entries: readonly TableEntry[], bytes: Uint8Array): NamedTable[] {
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

/**
 * A checkpoint as a model file: `model.json`, the weight shard (`shardPath`) and, when the
 * checkpoint has tables, the tables file (`tablePath`).
 *
 * @example
 * ```ts
 * const { modelJson, weightData, tableData } = encodeModel(model.toCheckpoint());
 * ```
 */
export function encodeModel(checkpoint: ModelCheckpoint, shardPath = 'weights.bin', tablePath = 'neighbours.bin'): ModelFile {
  const meta: HearthModelMetadata = { name: checkpoint.name, formatVersion: checkpoint.formatVersion, config: checkpoint.config, savedAt: checkpoint.savedAt };
  const tables = checkpoint.tables ?? [];
  const encoded = tables.map(encodeTable);
  if (tables.length > 0) meta.tables = { paths: [tablePath], entries: encoded.map((e) => e.entry) };
  const file: ModelFile = {
    modelJson: {
      format: 'hearth',
      generatedBy: 'hearth',
      convertedBy: null,
      modelTopology: null,
      ...withManifest({}, checkpoint.weights, shardPath),
      userDefinedMetadata: { hearth: meta },
    },
    weightData: weightsToBuffer(checkpoint.weights),
  };
  if (tables.length > 0) file.tableData = concat(encoded.map((e) => e.bytes));
  return file;
}

/**
 * The checkpoint in a model file: `model.json` (parsed JSON), the concatenated bytes of its
 * shards (in manifest order) and the tables file, if any. Throws 'invalid_checkpoint' when a
 * length does not match or a value is not finite; the model constructors then check names and
 * shapes against the config.
 *
 * @example
 * ```ts
 * const checkpoint = decodeModel(JSON.parse(json), new Uint8Array(bytes));
 * ```
 */
export function decodeModel(modelJson: unknown, weightData: Uint8Array, tableData?: Uint8Array): ModelCheckpoint {
  const json = parseModelJson(modelJson);
  const meta = hearthMetadata(json);
  const checkpoint: ModelCheckpoint = {
    name: meta.name,
    formatVersion: meta.formatVersion,
    config: meta.config,
    weights: weightsFromBuffer(json, weightData),
    savedAt: typeof meta.savedAt === 'number' ? meta.savedAt : 0,
  };
  if (meta.tables !== undefined && tableData !== undefined) checkpoint.tables = decodeTables(readTableEntries(meta.tables).entries, tableData);
  return checkpoint;
}

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
 * Downloads `model.json`, its shards and its tables (paths resolve relative to the model.json
 * URL) and returns the checkpoint. A model republished without its tables file (an aggregation
 * server serves weights only) loads without tables; a malformed one is refused.
 *
 * @example
 * ```ts
 * const checkpoint = await fetchModel('https://shop.example/hearth/model.json');
 * ```
 */
export async function fetchModel(url: string, fetchImpl: FetchLike = globalThis.fetch as unknown as FetchLike): Promise<ModelCheckpoint> {
  const response = await fetchOk(fetchImpl, url);
  let json: unknown;
  try {
    json = await response.json();
  } catch (error) {
    throw new HearthError('invalid_checkpoint', `${url} is not JSON`, { cause: error });
  }
  const parsed = parseModelJson(json);
  const meta = hearthMetadata(parsed);
  const base = new URL(url, typeof location === 'undefined' ? 'http://localhost/' : location.href);
  const download = async (paths: readonly string[]): Promise<Uint8Array> => {
    const shards: Uint8Array[] = [];
    for (const path of paths) shards.push(new Uint8Array(await (await fetchOk(fetchImpl, new URL(path, base).href)).arrayBuffer()));
    return concat(shards);
  };
  const weights = await download(parsed.weightsManifest.flatMap((g) => g.paths));
  if (meta.tables === undefined) return decodeModel(json, weights);
  let tables: Uint8Array | undefined;
  try {
    tables = await download(readTableEntries(meta.tables).paths);
  } catch (error) {
    if (errorCodeOf(error) !== 'network') throw error;
  }
  return decodeModel(json, weights, tables);
}
