/**
 * Models to and from model files (the codec is `src/protocol/model-file.ts`): what the training
 * CLI writes, and the warm start that rebuilds a recommender or an intent model from a download.
 */
import type { ModelCheckpoint } from '../protocol/checkpoint.js';
import { encodeModel, fetchModel, type FetchLike, type ModelFile } from '../protocol/model-file.js';
import { HearthError } from '../protocol/errors.js';
import type { IntentModel, SequenceRecommender } from './contract.js';
import { INTENT_CHECKPOINT_NAME, intentModelFromCheckpoint } from './intent-model.js';
import { RECOMMENDER_CHECKPOINT_NAME, recommenderFromCheckpoint } from './sasrec-recommender.js';

export type LoadedModel = { kind: 'recommender'; model: SequenceRecommender; checkpoint: ModelCheckpoint } | { kind: 'intent'; model: IntentModel; checkpoint: ModelCheckpoint };

/**
 * A model (or a checkpoint) as a model file: `model.json`, `weights.bin` and, with item
 * neighbours, `neighbours.bin`.
 *
 * @example
 * ```ts
 * const { modelJson, weightData, tableData } = saveModelArtifacts(model);
 * writeFileSync('out/model.json', JSON.stringify(modelJson));
 * writeFileSync('out/weights.bin', weightData);
 * ```
 */
export function saveModelArtifacts(model: SequenceRecommender | IntentModel | ModelCheckpoint): ModelFile {
  return encodeModel('toCheckpoint' in model ? model.toCheckpoint() : model);
}

/** Rebuilds whichever model a checkpoint holds; throws 'invalid_checkpoint' for an unknown one. */
export function modelFromCheckpoint(checkpoint: ModelCheckpoint): LoadedModel {
  if (checkpoint.name === RECOMMENDER_CHECKPOINT_NAME) return { kind: 'recommender', model: recommenderFromCheckpoint(checkpoint), checkpoint };
  if (checkpoint.name === INTENT_CHECKPOINT_NAME) return { kind: 'intent', model: intentModelFromCheckpoint(checkpoint), checkpoint };
  throw new HearthError('invalid_checkpoint', `model.json: unknown model "${checkpoint.name}"`);
}

/**
 * Downloads a model file and rebuilds the model (warm start).
 *
 * @example
 * ```ts
 * const loaded = await loadModelFromUrl('/hearth/model.json', fetch);
 * if (loaded.kind === 'recommender') engine.useRecommender(loaded.model);
 * ```
 */
export async function loadModelFromUrl(url: string, fetchImpl?: FetchLike): Promise<LoadedModel> {
  return modelFromCheckpoint(await fetchModel(url, fetchImpl));
}

export type { FetchLike };
