/** Default model configurations and their validation. */
import type { IntentConfig, RecommenderConfig, RecommenderLoss } from './contract.js';
import { HearthError } from '../protocol/errors.js';

/**
 * Compact SASRec defaults: 64 dims, 2 pre-LN blocks of 2 heads over the last 50 events, sampled
 * softmax with 1,024 frequency-sampled negatives per batch and the log Q correction.
 *
 * @example
 * ```ts
 * createRecommender({ items, config: { ...DEFAULT_RECOMMENDER_CONFIG, dims: 32 } });
 * ```
 */
export const DEFAULT_RECOMMENDER_CONFIG: Readonly<RecommenderConfig> = Object.freeze({
  dims: 64,
  blocks: 2,
  heads: 2,
  maxLen: 50,
  dropout: 0.2,
  attributeBuckets: 512,
  loss: 'sampled-softmax',
  negatives: 1024,
  learningRate: 0.001,
  neighbourWeight: 0.5,
});

/**
 * Intent defaults: one attention block over the last 30 events of the session, then attention
 * pooling with a learned query.
 *
 * @example
 * ```ts
 * createIntentModel({ items, config: DEFAULT_INTENT_CONFIG });
 * ```
 */
export const DEFAULT_INTENT_CONFIG: Readonly<IntentConfig> = Object.freeze({
  dims: 32,
  heads: 2,
  maxLen: 30,
  dropout: 0.1,
  learningRate: 0.003,
  itemBuckets: 2048,
  attributeBuckets: 512,
});

const RECOMMENDER_LOSSES: readonly RecommenderLoss[] = ['softmax', 'sampled-softmax'];

function positiveInteger(value: unknown, name: string, min = 1): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new HearthError('invalid_argument', `config.${name} must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

function rate(value: unknown, name: string, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= max) {
    throw new HearthError('invalid_argument', `config.${name} must be a number in [0, ${max}), got ${String(value)}`);
  }
  return value;
}

function fraction(value: unknown, name: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw new HearthError('invalid_argument', `config.${name} must be a number in [0, 1], got ${String(value)}`);
  return value;
}

/**
 * Catalogues up to this many items train with the full softmax; larger ones with the sampled
 * softmax. Measured with bench:quality's settings on this project's 2-core machine: the full
 * softmax's cost grows with the catalogue and passes the sampled loss's (1,024 negatives) at a few
 * thousand items, while below that it is exact and as fast.
 */
export const FULL_SOFTMAX_MAX_ITEMS = 4_096;

/**
 * The loss for a catalogue of `items` items (recorded in the model's config, so the model file
 * says how it was trained).
 *
 * @example
 * ```ts
 * createRecommender({ items, config: { loss: chooseLoss(items.length) } });
 * ```
 */
export function chooseLoss(items: number): RecommenderLoss {
  return items <= FULL_SOFTMAX_MAX_ITEMS ? 'softmax' : 'sampled-softmax';
}

/** The full recommender config from a partial one; throws 'invalid_argument' on bad values. */
export function resolveRecommenderConfig(partial: Partial<RecommenderConfig> = {}): RecommenderConfig {
  // Checkpoints from before `loss` existed said "full softmax" with `negatives: 0`.
  const loss = partial.loss ?? (partial.negatives === 0 ? 'softmax' : DEFAULT_RECOMMENDER_CONFIG.loss);
  const c = { ...DEFAULT_RECOMMENDER_CONFIG, ...partial, loss };
  if (!RECOMMENDER_LOSSES.includes(c.loss)) throw new HearthError('invalid_argument', `config.loss must be one of ${RECOMMENDER_LOSSES.join(', ')}, got ${String(c.loss)}`);
  const config: RecommenderConfig = {
    dims: positiveInteger(c.dims, 'dims'),
    blocks: positiveInteger(c.blocks, 'blocks'),
    heads: positiveInteger(c.heads, 'heads'),
    maxLen: positiveInteger(c.maxLen, 'maxLen'),
    dropout: rate(c.dropout, 'dropout', 1),
    attributeBuckets: positiveInteger(c.attributeBuckets, 'attributeBuckets'),
    loss: c.loss,
    negatives: positiveInteger(c.negatives, 'negatives', c.loss === 'sampled-softmax' ? 1 : 0),
    learningRate: rate(c.learningRate, 'learningRate', 10),
    neighbourWeight: fraction(c.neighbourWeight, 'neighbourWeight'),
  };
  if (config.dims % config.heads !== 0) throw new HearthError('invalid_argument', `config.dims (${config.dims}) must be a multiple of config.heads (${config.heads})`);
  return config;
}

/** The full intent config from a partial one; throws 'invalid_argument' on bad values. */
export function resolveIntentConfig(partial: Partial<IntentConfig> = {}): Required<IntentConfig> {
  const c = { ...DEFAULT_INTENT_CONFIG, ...partial };
  const config: Required<IntentConfig> = {
    dims: positiveInteger(c.dims, 'dims'),
    heads: positiveInteger(c.heads, 'heads'),
    maxLen: positiveInteger(c.maxLen, 'maxLen'),
    dropout: rate(c.dropout, 'dropout', 1),
    learningRate: rate(c.learningRate, 'learningRate', 10),
    itemBuckets: positiveInteger(c.itemBuckets ?? DEFAULT_INTENT_CONFIG.itemBuckets, 'itemBuckets', 2),
    attributeBuckets: positiveInteger(c.attributeBuckets ?? DEFAULT_INTENT_CONFIG.attributeBuckets, 'attributeBuckets', 2),
  };
  if (config.dims % config.heads !== 0) throw new HearthError('invalid_argument', `config.dims (${config.dims}) must be a multiple of config.heads (${config.heads})`);
  return config;
}
