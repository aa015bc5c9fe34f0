/**
 * The models, pure tfjs-core: the same code runs in the engine worker and in Node. Node callers
 * set tfjs up with `setupNodeRuntime()` from `./node-runtime.js` (not exported here: it pulls in
 * the full `@tensorflow/tfjs`).
 */
export type {
  HistoryStep,
  ItemAttributes,
  RecommenderConfig,
  IntentConfig,
  TrainOptions,
  ScoredItems,
  NamedWeight,
  SequenceRecommender,
  IntentModel,
} from './contract.js';
export { DEFAULT_RECOMMENDER_CONFIG, DEFAULT_INTENT_CONFIG } from './defaults.js';
export {
  createRecommender,
  recommenderFromCheckpoint,
  RECOMMENDER_CHECKPOINT_NAME,
  RECOMMENDER_FORMAT_VERSION,
} from './sasrec-recommender.js';
export type { RecommenderOptions, RecommenderCheckpointConfig } from './sasrec-recommender.js';
export { TARGET_EVENT_TYPES } from './item-vocabulary.js';
export {
  createIntentModel,
  intentModelFromCheckpoint,
  INTENT_CHECKPOINT_NAME,
  INTENT_FORMAT_VERSION,
} from './intent-model.js';
export type { IntentModelOptions, IntentCheckpointConfig } from './intent-model.js';
export {
  saveModelArtifacts,
  checkpointFromArtifacts,
  loadCheckpointFromUrl,
  loadModelFromUrl,
  modelFromCheckpoint,
} from './model-artifacts.js';
export type { ModelArtifacts, HearthModelJson, HearthModelMetadata, LoadedModel, FetchLike, WeightsManifestGroup } from './model-artifacts.js';
