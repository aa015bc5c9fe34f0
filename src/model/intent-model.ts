/**
 * The session intent model: one pre-LN self-attention block over the session's events (hashed item
 * id + hashed attributes + event type + position), attention pooling with a learned query, and two
 * sigmoid heads: P(add_to_cart later in this session) and P(purchase later in this session).
 *
 * Items are hashed rather than looked up in a vocabulary, so the model never meets an unknown item
 * and its weights do not depend on the catalog; attributes come from the catalog given at creation.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { HistoryStep, IntentConfig, IntentModel, ItemAttributes, NamedWeight, TrainOptions } from './contract.js';
import type { ModelCheckpoint } from '../protocol/checkpoint.js';
import type { EventType } from '../protocol/event-types.js';
import { HearthError } from '../protocol/errors.js';
import { restoreFromCheckpoint } from './checkpoint-restore.js';
import { applyBlock, createBlockParams, MASKED, type BlockParams } from './attention-block.js';
import { resolveIntentConfig } from './defaults.js';
import { ATTRIBUTE_SLOTS, EVENT_TYPE_ROWS, attributeBucket, eventTypeRow } from './item-vocabulary.js';
import { ParameterSet } from './parameter-set.js';
import { seededRandom, glorotValues, hashString, normalValues, type Random } from './random.js';
import { attentionMask, makeBatches, type PaddedBatch, type SequenceExample } from './sequence-examples.js';
import { embeddingLookup, fastMatMul, layerNorm, maybeDropout } from './tensor-ops.js';
import { resolveTrainOptions, runEpochs } from './train-options.js';

export const INTENT_CHECKPOINT_NAME = 'intent';
export const INTENT_FORMAT_VERSION = 2;

export interface IntentModelOptions {
  /** Catalog attributes (category, brand, price); items not listed just have no attributes. */
  items?: readonly ItemAttributes[];
  config?: Partial<IntentConfig>;
  seed?: number;
}

export interface IntentCheckpointConfig {
  config: Required<IntentConfig>;
  items: ItemAttributes[];
  seed: number;
}

/** The events whose later occurrence the two heads predict. */
const LABEL_TYPES: readonly EventType[] = ['add_to_cart', 'purchase'];
const DEFAULT_BATCH_SIZE = 64;

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

export class AttentionIntentModel implements IntentModel {
  readonly config: Required<IntentConfig>;
  private readonly items: ItemAttributes[];
  private readonly attributes = new Map<string, [number, number, number]>();
  private readonly seed: number;
  private readonly random: Random;
  private readonly params = new ParameterSet();
  private readonly itemTable: tf.Variable<tf.Rank.R2>;
  private readonly attributeTable: tf.Variable<tf.Rank.R2>;
  private readonly typeTable: tf.Variable<tf.Rank.R2>;
  private readonly positionTable: tf.Variable<tf.Rank.R2>;
  private readonly block: BlockParams;
  private readonly finalGamma: tf.Variable<tf.Rank.R1>;
  private readonly finalBeta: tf.Variable<tf.Rank.R1>;
  private readonly poolQuery: tf.Variable<tf.Rank.R2>;
  private readonly headKernel: tf.Variable<tf.Rank.R2>;
  private readonly headBias: tf.Variable<tf.Rank.R1>;
  private optimizer: tf.Optimizer | null = null;
  private disposed = false;

  constructor(options: IntentModelOptions = {}) {
    this.config = resolveIntentConfig(options.config);
    this.seed = options.seed ?? 1;
    this.random = seededRandom(this.seed);
    const items = options.items ?? [];
    if (!Array.isArray(items)) throw new HearthError('invalid_argument', 'items must be an array');
    this.items = [];
    for (const item of items) {
      if (!item || typeof item.id !== 'string') throw new HearthError('invalid_argument', 'every item needs a string id');
      const copy: ItemAttributes = { id: item.id };
      if (item.category !== undefined) copy.category = item.category;
      if (item.brand !== undefined) copy.brand = item.brand;
      if (item.price !== undefined) copy.price = item.price;
      this.items.push(copy);
      const b = this.config.attributeBuckets;
      this.attributes.set(item.id, [attributeBucket('category', item.category, b), attributeBucket('brand', item.brand, b), attributeBucket('price', item.price, b)]);
    }
    const { dims, maxLen, itemBuckets, attributeBuckets } = this.config;
    const init = seededRandom(this.seed * 7919 + 29);
    this.itemTable = this.params.add('intent/item_hash_embedding', [itemBuckets, dims], normalValues(init, itemBuckets * dims, 0.1));
    this.attributeTable = this.params.add('intent/attribute_embedding', [attributeBuckets, dims], normalValues(init, attributeBuckets * dims, 0.1));
    this.typeTable = this.params.add('intent/event_type_embedding', [EVENT_TYPE_ROWS, dims], normalValues(init, EVENT_TYPE_ROWS * dims, 0.1));
    this.positionTable = this.params.add('intent/position_embedding', [maxLen, dims], normalValues(init, maxLen * dims, 0.1));
    this.block = createBlockParams(this.params, 'intent/block_0', dims, init);
    this.finalGamma = this.params.add('intent/final_ln_gamma', [dims], new Float32Array(dims).fill(1));
    this.finalBeta = this.params.add('intent/final_ln_beta', [dims], new Float32Array(dims));
    this.poolQuery = this.params.add('intent/pool_query', [dims, 1], normalValues(init, dims, 0.1));
    this.headKernel = this.params.add('intent/head_kernel', [dims, 2], glorotValues(init, dims, 2));
    this.headBias = this.params.add('intent/head_bias', [2], new Float32Array(2));
  }

  parameterCount(): number {
    return this.params.count();
  }

  /** Rows (hashed ids, never 0), types and attribute buckets of `steps`. */
  private encodeSteps(steps: readonly HistoryStep[]): SequenceExample {
    const n = steps.length;
    const rows = new Int32Array(n);
    const types = new Int32Array(n);
    const attributes = new Int32Array(n * ATTRIBUTE_SLOTS);
    steps.forEach((step, i) => {
      const id = String(step.itemId);
      rows[i] = 1 + (hashString(`item:${id}`) % (this.config.itemBuckets - 1));
      types[i] = eventTypeRow(step.type);
      const a = this.attributes.get(id);
      if (a) attributes.set(a, i * ATTRIBUTE_SLOTS);
    });
    return { rows, types, targets: new Int32Array(2), attributes };
  }

  private sessionSteps(session: readonly HistoryStep[]): HistoryStep[] {
    if (!Array.isArray(session)) throw new HearthError('invalid_argument', 'a session must be an array of steps');
    return session.filter((s) => s && typeof s.itemId === 'string').slice(-this.config.maxLen);
  }

  /** Logits `[batch, 2]` and pooling weights `[batch, length]`. Call inside `tf.tidy`. */
  private forward(batch: PaddedBatch, training: boolean): { logits: tf.Tensor2D; pool: tf.Tensor2D } {
    const { dims, maxLen, heads, dropout } = this.config;
    const { batch: b, length } = batch;
    const attributes = batch.attributes as Int32Array;
    let x: tf.Tensor2D = embeddingLookup(this.itemTable, tf.tensor1d(batch.rows, 'int32'));
    x = tf.add(x, embeddingLookup(this.typeTable, tf.tensor1d(batch.types, 'int32')));
    for (let slot = 0; slot < ATTRIBUTE_SLOTS; slot++) {
      const ids = Int32Array.from({ length: b * length }, (_, i) => attributes[i * ATTRIBUTE_SLOTS + slot] as number);
      x = tf.add(x, embeddingLookup(this.attributeTable, tf.tensor1d(ids, 'int32')));
    }
    const positions = tf.slice(this.positionTable, [maxLen - length, 0], [length, dims]);
    x = tf.reshape(tf.add(tf.reshape(x, [b, length, dims]), positions), [b * length, dims]);
    const keepValues = Float32Array.from(batch.rows, (r) => (r > 0 ? 1 : 0));
    const keep = tf.tensor2d(keepValues, [b * length, 1]);
    x = tf.mul(maybeDropout(x, dropout, training), keep);
    const mask = tf.tensor4d(attentionMask(batch.rows, b, length, false, MASKED), [b, 1, length, length]);
    x = tf.mul(applyBlock(this.block, { x, batch: b, length, heads, mask, dropout, training }).x, keep);
    const h = layerNorm(x, this.finalGamma, this.finalBeta);
    const padding = tf.tensor2d(
      Float32Array.from(keepValues, (k) => (k > 0 ? 0 : MASKED)),
      [b, length],
    );
    const pool = tf.softmax(tf.add(tf.reshape(tf.mul(fastMatMul(h, this.poolQuery), 1 / Math.sqrt(dims)), [b, length]), padding)) as tf.Tensor2D;
    const pooled = tf.reshape(fastMatMul(tf.reshape(pool, [b, 1, length]), tf.reshape(h, [b, length, dims])), [b, dims]) as tf.Tensor2D;
    return { logits: tf.add(fastMatMul(maybeDropout(pooled, dropout, training), this.headKernel), this.headBias), pool };
  }

  predict(session: readonly HistoryStep[]): { cart: number; purchase: number; attention: Float32Array; used: number } {
    this.assertLive();
    const steps = this.sessionSteps(session);
    if (steps.length === 0) {
      // No evidence: the learned base rates.
      const bias = this.headBias.dataSync();
      return { cart: sigmoid(bias[0] as number), purchase: sigmoid(bias[1] as number), attention: new Float32Array(0), used: 0 };
    }
    const e = this.encodeSteps(steps);
    const batch: PaddedBatch = { batch: 1, length: steps.length, rows: e.rows, types: e.types, targets: e.targets, attributes: e.attributes as Int32Array };
    const [probabilities, pool] = tf.tidy(() => {
      const { logits, pool } = this.forward(batch, false);
      return [tf.sigmoid(logits), pool];
    });
    const p = probabilities.dataSync();
    const attention = Float32Array.from(pool.dataSync());
    probabilities.dispose();
    pool.dispose();
    return { cart: p[0] as number, purchase: p[1] as number, attention, used: steps.length };
  }

  /**
   * Examples: each session cut after every event that is not itself a label event; labels say
   * whether an add_to_cart / purchase comes later in the session.
   */
  private examples(sessions: readonly (readonly HistoryStep[])[]): SequenceExample[] {
    if (!Array.isArray(sessions)) throw new HearthError('invalid_argument', 'sessions must be an array of sessions');
    const out: SequenceExample[] = [];
    for (const session of sessions) {
      const steps = session.filter((s: HistoryStep) => s && typeof s.itemId === 'string');
      // later[k][j]: a label event of kind k at or after position j.
      const later = LABEL_TYPES.map((kind) => {
        const flags = new Array<boolean>(steps.length + 1).fill(false);
        for (let j = steps.length - 1; j >= 0; j--) flags[j] = flags[j + 1] || steps[j]?.type === kind;
        return flags;
      });
      for (let p = 1; p <= steps.length; p++) {
        if (LABEL_TYPES.includes((steps[p - 1] as HistoryStep).type)) continue;
        const e = this.encodeSteps(steps.slice(Math.max(0, p - this.config.maxLen), p));
        e.targets = Int32Array.from(later, (flags) => (flags[p] ? 1 : 0));
        out.push(e);
      }
    }
    return out;
  }

  private loss(batch: PaddedBatch): tf.Scalar {
    const { logits } = this.forward(batch, true);
    const labels = tf.tensor2d(Float32Array.from(batch.targets), [batch.batch, 2]);
    // Stable sigmoid cross-entropy: max(z, 0) - z·y + log(1 + e^(-|z|)).
    const perLabel = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, labels)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    return tf.mean(perLabel);
  }

  async train(sessions: readonly (readonly HistoryStep[])[], options: TrainOptions): Promise<{ loss: number }> {
    this.assertLive();
    const resolved = resolveTrainOptions(options, DEFAULT_BATCH_SIZE);
    const examples = this.examples(sessions);
    if (examples.length === 0 || resolved.epochs === 0) return { loss: Number.NaN };
    this.optimizer ??= tf.train.adam(this.config.learningRate);
    const optimizer = this.optimizer;
    const variables = this.params.variables;
    const loss = await runEpochs(
      resolved,
      () => makeBatches(examples, resolved.batchSize, this.random, false, resolved.batchTokens),
      async (batch) => {
        const value = optimizer.minimize(() => this.loss(batch), true, variables);
        if (!value) return Number.NaN;
        const loss = (await value.data())[0] as number;
        value.dispose();
        return loss;
      },
    );
    return { loss };
  }

  getWeights(): NamedWeight[] {
    this.assertLive();
    return this.params.get();
  }

  setWeights(weights: readonly NamedWeight[]): void {
    this.assertLive();
    this.params.set(weights);
    this.optimizer?.dispose();
    this.optimizer = null;
  }

  /** @internal */
  setWeightsFromCheckpoint(weights: readonly NamedWeight[]): void {
    this.params.set(weights, 'invalid_checkpoint');
  }

  toCheckpoint(): ModelCheckpoint {
    const config: IntentCheckpointConfig = { config: { ...this.config }, items: this.items.map((i) => ({ ...i })), seed: this.seed };
    return { name: INTENT_CHECKPOINT_NAME, formatVersion: INTENT_FORMAT_VERSION, config, weights: this.getWeights(), savedAt: Date.now() };
  }

  private assertLive(): void {
    if (this.disposed) throw new HearthError('invalid_argument', 'this intent model was disposed');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.optimizer?.dispose();
    this.optimizer = null;
    this.params.dispose();
  }
}

/**
 * Creates an intent model with fresh, seeded weights.
 *
 * @example
 * ```ts
 * const intent = createIntentModel({ items: catalog });
 * await intent.train(pastSessions, { epochs: 3 });
 * const { cart, purchase, attention } = intent.predict(currentSession);
 * ```
 */
export function createIntentModel(options: IntentModelOptions = {}): IntentModel {
  return new AttentionIntentModel(options);
}

/**
 * Rebuilds an intent model from a checkpoint; throws 'invalid_checkpoint' when it is corrupt or
 * incompatible.
 *
 * @example
 * ```ts
 * const intent = intentModelFromCheckpoint(await store.getCheckpoint('intent'));
 * ```
 */
export function intentModelFromCheckpoint(checkpoint: ModelCheckpoint): IntentModel {
  return restoreFromCheckpoint(checkpoint, {
    name: INTENT_CHECKPOINT_NAME,
    formatVersion: INTENT_FORMAT_VERSION,
    build: (parts) => new AttentionIntentModel({ ...parts, config: parts.config as Partial<IntentConfig> }),
  });
}
