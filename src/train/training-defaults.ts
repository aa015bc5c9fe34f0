/**
 * `hearth-train`'s model and batch settings for a shop's historical log (bench:quality trains with
 * the same ones). Chosen on the validation splits of Amazon Games and RetailRocket, never on their
 * test splits; the on-device defaults (DEFAULT_RECOMMENDER_CONFIG) stay more compact.
 */
import type { RecommenderConfig } from '../model/contract.js';

export const TRAINING_DEFAULTS: { config: Partial<RecommenderConfig>; batchTokens: number; batchSize: number } = {
  config: { dims: 48, blocks: 2, heads: 2, maxLen: 50, dropout: 0.5, negatives: 1024, learningRate: 0.003 },
  // ~1,000-position batches converge far faster per second than 4,000-position ones (more
  // optimizer steps) at similar throughput.
  batchTokens: 1024,
  batchSize: 128,
};
