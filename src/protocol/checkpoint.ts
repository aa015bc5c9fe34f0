/**
 * What a model is made of when it is saved, downloaded or averaged: the worker writes it to
 * IndexedDB, `hearth-train` and the aggregation server write it as a model file, and federated
 * updates are differences of its weights.
 */

/** A named float32 tensor: the unit of checkpoints and of federated updates. */
export interface NamedWeight {
  name: string;
  shape: number[];
  values: Float32Array;
}

/**
 * Data that travels with a model but is neither trained by gradient descent nor averaged by
 * federated learning (the recommender's item-neighbour table): one-dimensional.
 */
export interface NamedTable {
  name: string;
  shape: number[];
  values: Float32Array | Int32Array;
}

/** A saved model: named float32 tensors plus what is needed to rebuild the model around them. */
export interface ModelCheckpoint {
  /** e.g. 'recommender' or 'intent'. */
  name: string;
  /** Bumped when the model code changes incompatibly; a mismatch discards the checkpoint. */
  formatVersion: number;
  /** Model configuration and vocabulary, JSON-serialisable. */
  config: unknown;
  weights: NamedWeight[];
  /** Absent in older checkpoints and in models without tables. */
  tables?: NamedTable[];
  savedAt: number;
}
