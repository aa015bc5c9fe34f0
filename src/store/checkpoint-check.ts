/**
 * Integrity checks for model checkpoints, shared by both stores.
 */
import type { ModelCheckpoint } from './types.js';

/**
 * Why a checkpoint cannot be used, or `undefined` when it is sound: every weight must be a
 * `Float32Array` whose length is the product of its shape.
 *
 * @example
 * ```ts
 * checkpointProblem({ name: 'r', formatVersion: 1, config: {}, savedAt: 0,
 *   weights: [{ name: 'w', shape: [2, 2], values: new Float32Array(3) }] });
 * // 'weight "w" has shape [2, 2] (4 values) but 3 values'
 * ```
 */
export function checkpointProblem(checkpoint: unknown): string | undefined {
  if (typeof checkpoint !== 'object' || checkpoint === null) return 'not an object';
  const { name, weights, formatVersion, tables } = checkpoint as Partial<ModelCheckpoint>;
  if (typeof name !== 'string' || name === '') return 'name must be a non-empty string';
  if (typeof formatVersion !== 'number') return 'formatVersion must be a number';
  if (!Array.isArray(weights)) return 'weights must be an array';
  for (const weight of weights) {
    if (!(weight.values instanceof Float32Array)) return `weight "${String(weight.name)}" values are not a Float32Array`;
    if (!Array.isArray(weight.shape) || weight.shape.some((d) => !Number.isInteger(d) || d < 0)) {
      return `weight "${String(weight.name)}" has an invalid shape`;
    }
    const size = weight.shape.reduce((a, b) => a * b, 1);
    if (size !== weight.values.length) {
      return `weight "${String(weight.name)}" has shape [${weight.shape.join(', ')}] (${size} values) but ${weight.values.length} values`;
    }
  }
  if (tables !== undefined) {
    if (!Array.isArray(tables)) return 'tables must be an array';
    for (const table of tables) {
      if (!(table.values instanceof Float32Array || table.values instanceof Int32Array)) return `table "${String(table.name)}" values are not a Float32Array or Int32Array`;
      if (!Array.isArray(table.shape) || table.shape.length !== 1 || table.shape[0] !== table.values.length) return `table "${String(table.name)}" must be one-dimensional with its length as shape`;
    }
  }
  return undefined;
}

/**
 * How many numbers a checkpoint holds; what `exportAll()` reports instead of raw weights.
 *
 * @example
 * ```ts
 * parameterCount(checkpoint); // e.g. 64_064 for a 1,001 × 64 embedding
 * ```
 */
export function parameterCount(checkpoint: ModelCheckpoint): number {
  return checkpoint.weights.reduce((sum, weight) => sum + weight.values.length, 0);
}

/**
 * The checkpoint with every weight in its own compact buffer. Structured clone copies a typed
 * array's whole underlying `ArrayBuffer`, so a weight that is a view into a larger buffer (e.g. one
 * shard holding every weight) would store that buffer once per weight.
 */
export function compactCheckpoint(checkpoint: ModelCheckpoint): ModelCheckpoint {
  const isView = (values: Float32Array | Int32Array): boolean => values.byteOffset !== 0 || values.byteLength !== values.buffer.byteLength;
  const tables = checkpoint.tables ?? [];
  if (!checkpoint.weights.some((weight) => isView(weight.values)) && !tables.some((table) => isView(table.values))) return checkpoint;
  return {
    ...checkpoint,
    weights: checkpoint.weights.map((weight) => (isView(weight.values) ? { ...weight, values: weight.values.slice() } : weight)),
    ...(checkpoint.tables ? { tables: checkpoint.tables.map((table) => (isView(table.values) ? { ...table, values: table.values.slice() } : table)) } : {}),
  };
}
