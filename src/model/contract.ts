/**
 * What the worker needs from the models. The implementation lives in `src/model/`, is pure tfjs,
 * and runs unchanged in the worker and in Node (tests, benchmarks, the training CLI).
 */
import type { EventType } from '../tracker/event-types.js';
import type { ModelCheckpoint } from '../store/types.js';

/** One step of a shopper's history as the models see it. */
export interface HistoryStep {
  itemId: string;
  type: EventType;
  time: number;
}

/** Catalog attributes that give an item a vector even when it was never trained on. */
export interface ItemAttributes {
  id: string;
  category?: string;
  brand?: string;
  price?: number;
  /**
   * The item's share of shop-wide interest in the log a starting model was trained from
   * (`hearth-train`); it travels with the model and ranks `trending()` before and alongside the
   * shopper's own activity. Absent for items the log never mentions.
   */
  popularity?: number;
}

export interface RecommenderConfig {
  dims: number;
  blocks: number;
  heads: number;
  maxLen: number;
  dropout: number;
  /** Buckets of the hashed attribute embeddings. */
  attributeBuckets: number;
  /** Negatives per position for the sampled loss (0 = full softmax). */
  negatives: number;
  learningRate: number;
}

export interface IntentConfig {
  dims: number;
  heads: number;
  maxLen: number;
  dropout: number;
  learningRate: number;
  /** Hash buckets of item ids (the intent model has no per-item table). Default 2048. */
  itemBuckets?: number;
  /** Buckets of the hashed attribute embeddings (category, brand, price band). Default 512. */
  attributeBuckets?: number;
}

export interface TrainOptions {
  epochs: number;
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (progress: { epoch: number; epochs: number; loss: number; fraction: number }) => void;
  /** Yield to the event loop between batches (keeps a worker responsive to calls). */
  yieldEvery?: number;
  /**
   * Fill each batch up to this many positions (examples × padded length) instead of `batchSize`
   * examples: short sequences then train in bigger batches. Default: off.
   */
  batchTokens?: number;
}

export interface ScoredItems {
  /** Item ids, aligned with `scores`. */
  itemIds: readonly string[];
  scores: Float32Array;
  /** Attention of the last position over the history steps that were used (oldest first). */
  attention: Float32Array;
  /** How many history steps (the most recent ones) the model used. */
  used: number;
}

/** A named float32 tensor: the unit of checkpoints and of federated updates. */
export interface NamedWeight {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface SequenceRecommender {
  readonly config: RecommenderConfig;
  /** Item ids the model has rows for, in row order. */
  readonly itemIds: readonly string[];
  parameterCount(): number;
  /** Scores every known item as the next step after `history`. Disposes every tensor it makes. */
  score(history: readonly HistoryStep[]): ScoredItems;
  /** Items whose learned vectors are closest to `itemId`'s. */
  similar(itemId: string, k: number): { itemId: string; score: number }[];
  /**
   * Cosine similarity of the learned vectors of `candidates` (rows) and `history` (columns),
   * `[candidates.length * history.length]` row-major; 0 where either item is unknown. Explanations
   * use it to say which of the events the model read bear on each recommended item.
   */
  affinity(candidates: readonly string[], history: readonly string[]): Float32Array;
  train(sequences: readonly (readonly HistoryStep[])[], options: TrainOptions): Promise<{ loss: number }>;
  getWeights(): NamedWeight[];
  setWeights(weights: readonly NamedWeight[]): void;
  toCheckpoint(): ModelCheckpoint;
  dispose(): void;
}

export interface IntentModel {
  readonly config: IntentConfig;
  parameterCount(): number;
  /** Probabilities of add-to-cart and purchase in the session so far, with attention over it. */
  predict(session: readonly HistoryStep[]): { cart: number; purchase: number; attention: Float32Array; used: number };
  /** Trains on past sessions: each labelled by whether it later had an add-to-cart / purchase. */
  train(sessions: readonly (readonly HistoryStep[])[], options: TrainOptions): Promise<{ loss: number }>;
  getWeights(): NamedWeight[];
  setWeights(weights: readonly NamedWeight[]): void;
  toCheckpoint(): ModelCheckpoint;
  dispose(): void;
}
