/**
 * The models' configurations: what `init({ engine: { recommender, intent } })` accepts, what a
 * model file records, and what the worker builds models from.
 */

/** See {@link RecommenderConfig.loss}. */
export type RecommenderLoss = 'softmax' | 'sampled-softmax';

export interface RecommenderConfig {
  dims: number;
  blocks: number;
  heads: number;
  maxLen: number;
  dropout: number;
  /** Buckets of the hashed attribute embeddings. */
  attributeBuckets: number;
  /**
   * The training loss: `'softmax'` is the cross-entropy over every item (exact, best for full-catalogue
   * ranking, cost grows with the catalogue); `'sampled-softmax'` draws `negatives` items per batch
   * from the items' training frequency and subtracts log Q (Yi et al., RecSys 2019), which estimates
   * the same loss at a fixed cost. `chooseLoss()` (model/defaults.ts) picks one by catalogue size.
   */
  loss: RecommenderLoss;
  /** Negatives per batch for `'sampled-softmax'` (shared by every position of the batch). */
  negatives: number;
  learningRate: number;
  /**
   * The share of the item-neighbour distribution in the served scores (0–1; see blend.ts), used
   * when the model carries a neighbour table. `hearth-train` chooses it on a validation split.
   */
  neighbourWeight: number;
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
