/**
 * The parts of the TensorFlow.js model format (`model.json` + binary weight files) that federated
 * learning needs: reading weights out of it and writing them back. Pure TypeScript, no tfjs, so
 * the server and the worker's federated client share it without pulling tfjs in.
 */
import type { NamedWeight } from '../model/contract.js';
import { HearthError } from '../errors.js';
import { sizeOf } from './update-math.js';

export interface WeightsManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
}

export interface WeightsManifestGroup {
  paths: string[];
  weights: WeightsManifestEntry[];
}

/** A `model.json`. Fields other than `weightsManifest` are kept as they are. */
export interface TfjsModelJson {
  weightsManifest: WeightsManifestGroup[];
  [key: string]: unknown;
}

function invalid(message: string): never {
  throw new HearthError('invalid_checkpoint', `model.json: ${message}`);
}

/**
 * Validates a parsed `model.json` (float32 weights only: updates are float arithmetic).
 *
 * @example
 * ```ts
 * const modelJson = parseModelJson(await (await fetch(url)).json());
 * ```
 */
export function parseModelJson(value: unknown): TfjsModelJson {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid('not an object');
  const json = value as Record<string, unknown>;
  if (!Array.isArray(json.weightsManifest) || json.weightsManifest.length === 0) invalid('weightsManifest must be a non-empty list');
  for (const group of json.weightsManifest as unknown[]) {
    if (typeof group !== 'object' || group === null) invalid('a weightsManifest group is not an object');
    const g = group as Record<string, unknown>;
    if (!Array.isArray(g.paths) || g.paths.some((p) => typeof p !== 'string')) invalid('a group has no paths');
    if (!Array.isArray(g.weights)) invalid('a group has no weights');
    for (const w of g.weights as unknown[]) {
      const entry = w as Record<string, unknown>;
      if (typeof entry?.name !== 'string') invalid('a weight has no name');
      if (!Array.isArray(entry.shape) || entry.shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) invalid(`weight "${entry.name}" has a bad shape`);
      if (entry.dtype !== 'float32') invalid(`weight "${entry.name}" is ${String(entry.dtype)}; only float32 is supported`);
      if (entry.quantization !== undefined) invalid(`weight "${entry.name}" is quantized; only plain float32 is supported`);
    }
  }
  return json as TfjsModelJson;
}

/** The weights' names and shapes in manifest order (the order of `getWeights()`). */
export function manifestLayout(modelJson: TfjsModelJson): { name: string; shape: number[] }[] {
  return modelJson.weightsManifest.flatMap((g) => g.weights.map((w) => ({ name: w.name, shape: [...w.shape] })));
}

/**
 * Splits the concatenated weight bytes (every group's files, in order) into named tensors.
 *
 * @example
 * ```ts
 * const weights = weightsFromBuffer(modelJson, new Uint8Array(await res.arrayBuffer()));
 * ```
 */
export function weightsFromBuffer(modelJson: TfjsModelJson, bytes: Uint8Array): NamedWeight[] {
  const layout = manifestLayout(modelJson);
  const total = layout.reduce((n, w) => n + sizeOf(w.shape) * 4, 0);
  if (bytes.length !== total) throw new HearthError('invalid_checkpoint', `weights have ${bytes.length} bytes, model.json announces ${total}`);
  // Copy into an aligned buffer: a Float32Array view needs a 4-byte-aligned offset.
  const aligned = new Float32Array(total / 4);
  new Uint8Array(aligned.buffer).set(bytes);
  let offset = 0;
  return layout.map(({ name, shape }) => {
    const n = sizeOf(shape);
    const values = aligned.slice(offset, offset + n);
    offset += n;
    for (let i = 0; i < n; i++) if (!Number.isFinite(values[i])) throw new HearthError('invalid_checkpoint', `weight "${name}" has non-finite values`);
    return { name, shape, values };
  });
}

/** Concatenates the weights' float32 values, little-endian, in order. */
export function weightsToBuffer(weights: readonly NamedWeight[]): Uint8Array {
  const total = weights.reduce((n, w) => n + w.values.length, 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const w of weights) {
    out.set(w.values, offset);
    offset += w.values.length;
  }
  return new Uint8Array(out.buffer);
}

/** `modelJson` with one manifest group that points at `path` and lists `weights`. */
export function withManifest(modelJson: Omit<TfjsModelJson, 'weightsManifest'> & Partial<TfjsModelJson>, weights: readonly { name: string; shape: readonly number[] }[], path: string): TfjsModelJson {
  return {
    ...modelJson,
    weightsManifest: [{ paths: [path], weights: weights.map((w) => ({ name: w.name, shape: [...w.shape], dtype: 'float32' })) }],
  };
}
