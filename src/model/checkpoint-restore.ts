/**
 * The checks every model does before it trusts a checkpoint, in one place: name, format version,
 * `{ config, items, seed }` shape, then construction and weights, each failure an
 * 'invalid_checkpoint' error that says which model and why.
 */
import type { ModelCheckpoint } from '../protocol/checkpoint.js';
import type { ItemAttributes, NamedWeight } from './contract.js';
import { HearthError } from '../protocol/errors.js';

interface Restorable {
  setWeightsFromCheckpoint(weights: readonly NamedWeight[]): void;
  dispose(): void;
}

export interface CheckpointKind<Config, Model extends Restorable> {
  /** The checkpoint name the model writes, e.g. 'recommender'. */
  name: string;
  formatVersion: number;
  build(parts: { items: ItemAttributes[]; config: Config; seed: number }): Model;
}

/**
 * @example
 * ```ts
 * const model = restoreFromCheckpoint(checkpoint, { name: 'intent', formatVersion: 1, build: (p) => new AttentionIntentModel(p) });
 * ```
 */
export function restoreFromCheckpoint<Config, Model extends Restorable>(checkpoint: ModelCheckpoint, kind: CheckpointKind<Config, Model>): Model {
  const bad = (why: string, cause?: unknown): never => {
    throw new HearthError('invalid_checkpoint', `${kind.name} checkpoint: ${why}`, cause === undefined ? undefined : { cause });
  };
  if (typeof checkpoint !== 'object' || checkpoint === null) bad('not an object');
  if (checkpoint.name !== kind.name) bad(`name is "${String(checkpoint.name)}", expected "${kind.name}"`);
  if (checkpoint.formatVersion !== kind.formatVersion) bad(`format version ${String(checkpoint.formatVersion)}, this version reads ${kind.formatVersion}`);
  const stored = checkpoint.config as { config?: unknown; items?: unknown; seed?: unknown } | null;
  if (typeof stored !== 'object' || stored === null || typeof stored.config !== 'object' || !Array.isArray(stored.items)) bad('config must hold { config, items }');
  let model: Model | undefined;
  try {
    model = kind.build({ items: stored!.items as ItemAttributes[], config: stored!.config as Config, seed: typeof stored!.seed === 'number' ? stored!.seed : 1 });
  } catch (error) {
    bad(error instanceof Error ? error.message : String(error), error);
  }
  try {
    model!.setWeightsFromCheckpoint(checkpoint.weights);
  } catch (error) {
    model!.dispose();
    throw error;
  }
  return model!;
}
