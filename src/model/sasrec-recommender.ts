/**
 * The on-device recommender: SASRec (Kang & McAuley, ICDM 2018), pre-LayerNorm variant, in pure
 * tfjs-core.
 *
 * Item vector = id embedding + hashed attribute embeddings (category, brand, price band); the input
 * adds an event-type embedding and a learned position; L blocks of causal multi-head attention and
 * feed-forward; scores are dot products of the last hidden state with the same item vectors.
 * Trained with the full softmax cross-entropy over every item, or (large catalogues) a sampled
 * softmax over `negatives` frequency-sampled items per batch with the log Q correction
 * (`config.loss`; see negative-sampler.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { HistoryStep, ItemAttributes, NamedWeight, OcclusionScores, RecommenderConfig, ScoredItems, SequenceRecommender, TrainOptions } from './contract.js';
import type { ModelCheckpoint } from '../protocol/checkpoint.js';
import { HearthError } from '../protocol/errors.js';
import { restoreFromCheckpoint } from './checkpoint-restore.js';
import { applyBlock, applyBlockToSuffixes, createBlockParams, MASKED, type BlockParams, type KeysValues } from './attention-block.js';
import { resolveRecommenderConfig } from './defaults.js';
import { EVENT_TYPE_ROWS, ItemVocabulary, TARGET_EVENT_TYPES, eventTypeRow } from './item-vocabulary.js';
import { NegativeSampler } from './negative-sampler.js';
import { ItemNeighbours } from './item-neighbours.js';
import { blendScores } from './blend.js';
import { ParameterSet } from './parameter-set.js';
import { seededRandom, normalValues, type Random } from './random.js';
import { attentionMask, makeBatches, type PaddedBatch, type SequenceExample } from './sequence-examples.js';
import { embeddingLookup, fastMatMul, layerNorm, maybeDropout, readInto, targetCrossEntropy } from './tensor-ops.js';
import { resolveTrainOptions, runEpochs } from './train-options.js';

export const RECOMMENDER_CHECKPOINT_NAME = 'recommender';
/**
 * Bump when the weights' layout or meaning changes; older checkpoints are then discarded.
 * 2: the event-type embedding has the fixed `EVENT_TYPE_ROWS` (32) rows of the event-type table.
 */
export const RECOMMENDER_FORMAT_VERSION = 2;

export interface RecommenderOptions {
  /** The vocabulary, in row order (the catalog's or the global model's; all devices share it). */
  items: readonly ItemAttributes[];
  config?: Partial<RecommenderConfig>;
  /** Seeds the initial weights and the sampling (default 1). */
  seed?: number;
}

/** What a recommender checkpoint stores besides its weights. */
export interface RecommenderCheckpointConfig {
  config: RecommenderConfig;
  items: ItemAttributes[];
  seed: number;
}

const DEFAULT_BATCH_SIZE = 128;

/** What {@link SasRecommender.trainingData} prepares. */
export interface RecommenderTrainingData {
  examples: SequenceExample[];
  sampler: NegativeSampler | null;
}

/**
 * The SASRec model. Use {@link createRecommender}; the class is exported for tests.
 *
 * Unknown items: an item id outside the vocabulary is skipped when reading a history (the model
 * has no row for it; its attributes are unknown too), so `score()` never throws for one;
 * `similar()` throws 'unknown_item'.
 */
export class SasRecommender implements SequenceRecommender {
  readonly config: RecommenderConfig;
  readonly itemIds: readonly string[];
  private readonly vocabulary: ItemVocabulary;
  private readonly seed: number;
  private readonly random: Random;
  private readonly params = new ParameterSet();
  private readonly itemTable: tf.Variable<tf.Rank.R2>;
  private readonly attributeTable: tf.Variable<tf.Rank.R2>;
  private readonly typeTable: tf.Variable<tf.Rank.R2>;
  private readonly positionTable: tf.Variable<tf.Rank.R2>;
  private readonly blocks: BlockParams[] = [];
  private readonly finalGamma: tf.Variable<tf.Rank.R1>;
  private readonly finalBeta: tf.Variable<tf.Rank.R1>;
  private readonly allRows: Int32Array;
  private optimizer: tf.Optimizer | null = null;
  private neighbourTable: ItemNeighbours | null = null;
  /** Scratch space for the neighbour scores of one history (indexed by row). */
  private neighbourScores: Float32Array | null = null;
  /** Item vectors `[items + 1, dims]`, cached between `score()` calls; dropped when weights change. */
  private itemMatrix: tf.Tensor2D | null = null;
  /** Its transpose `[dims, items + 1]`: `states · matrixᵀ` is ~5× faster on wasm than `matrix · statesᵀ` for a few states. */
  private itemMatrixT: tf.Tensor2D | null = null;
  private disposed = false;

  constructor(options: RecommenderOptions) {
    if (typeof options !== 'object' || options === null) throw new HearthError('invalid_argument', 'createRecommender() needs { items }');
    this.config = resolveRecommenderConfig(options.config);
    this.seed = options.seed ?? 1;
    this.vocabulary = new ItemVocabulary(options.items, this.config.attributeBuckets);
    this.itemIds = this.vocabulary.itemIds;
    this.random = seededRandom(this.seed);
    const { dims, maxLen, attributeBuckets, blocks } = this.config;
    const init = seededRandom(this.seed * 7919 + 17);
    // Small embeddings: the input multiplies them by sqrt(dims), the output dots them with a
    // LayerNormed state of norm ~sqrt(dims).
    this.itemTable = this.params.add('recommender/item_embedding', [this.vocabulary.size, dims], normalValues(init, this.vocabulary.size * dims, 0.1));
    this.attributeTable = this.params.add('recommender/attribute_embedding', [attributeBuckets, dims], normalValues(init, attributeBuckets * dims, 0.05));
    this.typeTable = this.params.add('recommender/event_type_embedding', [EVENT_TYPE_ROWS, dims], normalValues(init, EVENT_TYPE_ROWS * dims, 0.1));
    this.positionTable = this.params.add('recommender/position_embedding', [maxLen, dims], normalValues(init, maxLen * dims, 0.1));
    for (let b = 0; b < blocks; b++) this.blocks.push(createBlockParams(this.params, `recommender/block_${b}`, dims, init));
    this.finalGamma = this.params.add('recommender/final_ln_gamma', [dims], new Float32Array(dims).fill(1));
    this.finalBeta = this.params.add('recommender/final_ln_beta', [dims], new Float32Array(dims));
    this.allRows = Int32Array.from({ length: this.vocabulary.size }, (_, i) => i);
  }

  parameterCount(): number {
    return this.params.count();
  }

  /** The history steps the model can read (known items), oldest first, at most `maxLen`. */
  private readable(history: readonly HistoryStep[]): { rows: Int32Array; types: Int32Array } {
    if (!Array.isArray(history)) throw new HearthError('invalid_argument', 'history must be an array of steps');
    const rows: number[] = [];
    const types: number[] = [];
    for (const step of history) {
      const row = step && typeof step.itemId === 'string' ? this.vocabulary.row(step.itemId) : 0;
      if (row === 0) continue;
      rows.push(row);
      types.push(eventTypeRow(step.type));
    }
    const start = Math.max(0, rows.length - this.config.maxLen);
    return { rows: Int32Array.from(rows.slice(start)), types: Int32Array.from(types.slice(start)) };
  }

  /** Item vectors of `rows`: id embedding plus the hashed attribute embeddings. */
  private itemVectors(rows: Int32Array): tf.Tensor2D {
    let vectors = embeddingLookup(this.itemTable, tf.tensor1d(rows, 'int32'));
    for (const slot of this.vocabulary.attributesOf(rows)) {
      // A slot without values (a catalog without brands, a log without attributes) is the same
      // bucket-0 row everywhere: a broadcast add instead of a gather (gather costs ~5 µs a row on wasm).
      const constant = slot.every((b) => b === 0);
      const attribute = constant ? tf.slice(this.attributeTable, [0, 0], [1, this.config.dims]) : embeddingLookup(this.attributeTable, tf.tensor1d(slot, 'int32'));
      vectors = tf.add(vectors, attribute);
    }
    return vectors;
  }

  /**
   * The forward pass over a left-padded batch: hidden states `[batch * length, dims]` and the last
   * block's attention `[batch, heads, length, length]`. Call inside `tf.tidy`.
   */
  private encode(
    rows: Int32Array,
    types: Int32Array,
    batch: number,
    length: number,
    training: boolean,
    vectors?: tf.Tensor2D,
  ): { hidden: tf.Tensor2D; attention: tf.Tensor4D; input: tf.Tensor2D; keysValues: KeysValues[] } {
    const { dims, maxLen, heads, dropout } = this.config;
    const keep = tf.tensor2d(
      Float32Array.from(rows, (r) => (r > 0 ? 1 : 0)),
      [batch * length, 1],
    );
    const items = tf.mul(vectors ?? this.itemVectors(rows), Math.sqrt(dims));
    const withTypes = tf.add(items, embeddingLookup(this.typeTable, tf.tensor1d(types, 'int32')));
    // The newest event always sits at the last position, whatever the batch's length.
    const positions = tf.slice(this.positionTable, [maxLen - length, 0], [length, dims]);
    const withPositions = tf.reshape(tf.add(tf.reshape(withTypes, [batch, length, dims]), positions), [batch * length, dims]) as tf.Tensor2D;
    const input = tf.mul(maybeDropout(withPositions, dropout, training), keep) as tf.Tensor2D;
    const mask = tf.tensor4d(attentionMask(rows, batch, length, true, MASKED), [batch, 1, length, length]);
    let x = input;
    let attention: tf.Tensor4D | null = null;
    const keysValues: KeysValues[] = [];
    for (const block of this.blocks) {
      const out = applyBlock(block, { x, batch, length, heads, mask, dropout, training });
      x = tf.mul(out.x, keep) as tf.Tensor2D;
      attention = out.attention;
      keysValues.push({ k: out.k, v: out.v });
    }
    return { hidden: layerNorm(x, this.finalGamma, this.finalBeta), attention: attention as tf.Tensor4D, input, keysValues };
  }

  private getItemMatrix(): tf.Tensor2D {
    this.assertLive();
    this.itemMatrix ??= tf.tidy(() => this.itemVectors(this.allRows));
    return this.itemMatrix;
  }

  private getItemMatrixT(): tf.Tensor2D {
    // The matrix first, outside the tidy: made inside it, the cached matrix would be disposed with the scope.
    const matrix = this.getItemMatrix();
    this.itemMatrixT ??= tf.transpose(matrix);
    return this.itemMatrixT;
  }

  private invalidate(): void {
    this.itemMatrix?.dispose();
    this.itemMatrix = null;
    this.itemMatrixT?.dispose();
    this.itemMatrixT = null;
  }

  private assertLive(): void {
    if (this.disposed) throw new HearthError('invalid_argument', 'this recommender was disposed');
  }

  score(history: readonly HistoryStep[]): ScoredItems {
    const { rows, types } = this.readable(history);
    const length = rows.length;
    if (length === 0) {
      // Nothing known to condition on: the engine falls back to trending / catalog answers.
      return { itemIds: this.itemIds, scores: new Float32Array(this.itemIds.length), attention: new Float32Array(0), used: 0 };
    }
    const matrixT = this.getItemMatrixT();
    const { dims, heads } = this.config;
    const [scores, attention] = tf.tidy(() => {
      const { hidden, attention } = this.encode(rows, types, 1, length, false);
      const last = tf.slice(hidden, [length - 1, 0], [1, dims]);
      const lastAttention = tf.mean(tf.slice(attention, [0, 0, length - 1, 0], [1, heads, 1, length]), 1);
      return [tf.matMul(last, matrixT), lastAttention];
    });
    const all = scores.dataSync() as Float32Array;
    const weights = Float32Array.from(attention.dataSync());
    scores.dispose();
    attention.dispose();
    return { itemIds: this.itemIds, scores: all.slice(1), attention: weights, used: length };
  }

  scoreBatch(histories: readonly (readonly HistoryStep[])[]): ScoredItems[] {
    if (!Array.isArray(histories)) throw new HearthError('invalid_argument', 'histories must be an array of histories');
    const readable = histories.map((h) => this.readable(h));
    const length = readable.reduce((m, r) => Math.max(m, r.rows.length), 0);
    const empty = (): ScoredItems => ({ itemIds: this.itemIds, scores: new Float32Array(this.itemIds.length), attention: new Float32Array(0), used: 0 });
    if (length === 0) return histories.map(empty);
    const batch = readable.length;
    // Left-padded, like training batches: the newest step of every history at the last position.
    const rows = new Int32Array(batch * length);
    const types = new Int32Array(batch * length);
    readable.forEach((r, b) => {
      rows.set(r.rows, (b + 1) * length - r.rows.length);
      types.set(r.types, (b + 1) * length - r.types.length);
    });
    const matrixT = this.getItemMatrixT();
    const { dims, heads } = this.config;
    const [scores, attention] = tf.tidy(() => {
      const { hidden, attention } = this.encode(rows, types, batch, length, false);
      const last = tf.reshape(tf.slice(tf.reshape(hidden, [batch, length, dims]), [0, length - 1, 0], [batch, 1, dims]), [batch, dims]);
      const lastAttention = tf.mean(tf.slice(attention, [0, 0, length - 1, 0], [batch, heads, 1, length]), 1);
      return [tf.matMul(last, matrixT), lastAttention];
    });
    const all = scores.dataSync() as Float32Array;
    const weights = attention.dataSync() as Float32Array;
    scores.dispose();
    attention.dispose();
    const items = this.itemIds.length;
    return readable.map((r, b) => {
      const used = r.rows.length;
      if (used === 0) return empty();
      return {
        itemIds: this.itemIds,
        scores: all.slice(b * (items + 1) + 1, (b + 1) * (items + 1)),
        attention: weights.slice((b + 1) * length - used, (b + 1) * length),
        used,
      };
    });
  }

  scoreOcclusions(history: readonly HistoryStep[], count: number): { scored: ScoredItems; hidden: OcclusionScores } {
    const { rows, types } = this.readable(history);
    const length = rows.length;
    const suffix = Math.min(Math.max(0, Math.floor(count)), length);
    if (length === 0 || suffix === 0) return { scored: this.score(history), hidden: { steps: 0, used: 0, logSumExp: new Float32Array(0), logit: () => 0 } };
    const matrixT = this.getItemMatrixT();
    const { dims, heads } = this.config;
    const shared = length - suffix;
    // Variant e hides suffix step e from every later query (and from itself, whose output is then
    // not used): which suffix keys each suffix query may see.
    const maskValues = new Float32Array(suffix * suffix * suffix);
    for (let e = 0; e < suffix; e++) {
      for (let i = 0; i < suffix; i++) {
        for (let j = 0; j < suffix; j++) if (j > i || j === e) maskValues[(e * suffix + i) * suffix + j] = MASKED;
      }
    }
    const [scores, attention] = tf.tidy(() => {
      const full = this.encode(rows, types, 1, length, false);
      const inputs = tf.slice(full.input, [shared, 0], [suffix, dims]);
      // One copy of the suffix per variant (concat: wasm's Tile kernel is several times slower).
      let x = tf.concat(
        Array.from({ length: suffix }, () => inputs),
        0,
      );
      const mask = tf.tensor4d(maskValues, [suffix, 1, suffix, suffix]);
      this.blocks.forEach((block, b) => {
        x = applyBlockToSuffixes(block, x, full.keysValues[b] as KeysValues, suffix, suffix, heads, mask);
      });
      // Each variant predicts from its newest remaining step: the last suffix position, or, when
      // the newest step is the one hidden, the full pass's previous position (causality makes it
      // the same as without the hidden step).
      const last = tf.reshape(tf.slice(tf.reshape(layerNorm(x, this.finalGamma, this.finalBeta), [suffix, suffix, dims]), [0, suffix - 1, 0], [suffix - 1, 1, dims]), [suffix - 1, dims]);
      const previous = length > 1 ? tf.slice(full.hidden, [length - 2, 0], [1, dims]) : tf.zeros([1, dims]);
      const states = tf.concat([tf.slice(full.hidden, [length - 1, 0], [1, dims]), last, previous], 0);
      const lastAttention = tf.mean(tf.slice(full.attention, [0, 0, length - 1, 0], [1, heads, 1, length]), 1);
      // [1 + suffix, items + 1]: row 0 the whole history, then one row per hidden step.
      return [tf.matMul(states, matrixT), lastAttention];
    });
    const all = scores.dataSync() as Float32Array;
    const weights = Float32Array.from(attention.dataSync());
    scores.dispose();
    attention.dispose();
    const width = this.itemIds.length + 1;
    // Each variant's softmax normaliser over the items (column 0 is padding); the engine needs
    // only these and a few items' logits from each variant row.
    const logSumExp = Float32Array.from({ length: suffix }, (_, e) => {
      const start = (e + 1) * width + 1;
      const end = (e + 2) * width;
      let max = -Infinity;
      for (let i = start; i < end; i++) if ((all[i] as number) > max) max = all[i] as number;
      let sum = 0;
      for (let i = start; i < end; i++) sum += Math.exp((all[i] as number) - max);
      return max + Math.log(sum);
    });
    return {
      scored: { itemIds: this.itemIds, scores: all.slice(1, width), attention: weights, used: length },
      hidden: { steps: suffix, used: length - 1, logSumExp, logit: (e, item) => all[(e + 1) * width + item + 1] as number },
    };
  }

  probabilities(history: readonly HistoryStep[], scored: ScoredItems = this.score(history)): Float32Array {
    const table = this.neighbourTable;
    if (!table || scored.used === 0) return blendScores(scored.scores, null, 0, 0);
    this.neighbourScores ??= new Float32Array(this.vocabulary.size);
    const total = table.score(this.readable(history).rows, this.neighbourScores);
    return blendScores(scored.scores, this.neighbourScores, total, this.config.neighbourWeight);
  }

  probabilitiesAt(history: readonly HistoryStep[], items: readonly number[], logit: (item: number) => number, logSumExp: number): Float32Array {
    const out = Float32Array.from(items, (item) => Math.exp(logit(item) - logSumExp));
    const table = this.neighbourTable;
    const weight = this.config.neighbourWeight;
    if (!table || weight === 0) return out;
    const { scores, total } = table.scoreSparse(this.readable(history).rows);
    if (total === 0) return out;
    items.forEach((item, i) => {
      out[i] = (1 - weight) * (out[i] as number) + (weight * (scores.get(item + 1) ?? 0)) / total;
    });
    return out;
  }

  get neighbours(): ItemNeighbours | null {
    return this.neighbourTable;
  }

  setNeighbours(neighbours: ItemNeighbours | null): void {
    this.assertLive();
    if (neighbours && neighbours.rows !== this.vocabulary.size) {
      throw new HearthError('invalid_argument', `the neighbour table has ${neighbours.rows} rows, the vocabulary ${this.vocabulary.size}`);
    }
    this.neighbourTable = neighbours;
  }

  /** Sets `config.neighbourWeight` (hearth-train chooses it on validation data). */
  setNeighbourWeight(weight: number): void {
    if (typeof weight !== 'number' || !(weight >= 0 && weight <= 1)) throw new HearthError('invalid_argument', `neighbourWeight must be a number in [0, 1], got ${String(weight)}`);
    this.config.neighbourWeight = weight;
  }

  /** Vocabulary rows of `itemIds` (0 for unknown ones). @internal For benchmarks and explanations. */
  rowsOf(itemIds: readonly string[]): Int32Array {
    return Int32Array.from(itemIds, (id) => (typeof id === 'string' ? this.vocabulary.row(id) : 0));
  }

  /**
   * The final hidden states for the readable steps of `history`, `[steps * dims]` row-major.
   * @internal For tests (causality).
   */
  hiddenStates(history: readonly HistoryStep[]): Float32Array {
    const { rows, types } = this.readable(history);
    if (rows.length === 0) return new Float32Array(0);
    const hidden = tf.tidy(() => this.encode(rows, types, 1, rows.length, false).hidden);
    const values = hidden.dataSync() as Float32Array;
    hidden.dispose();
    return values;
  }

  similar(itemId: string, k: number): { itemId: string; score: number }[] {
    const row = typeof itemId === 'string' ? this.vocabulary.row(itemId) : 0;
    if (row === 0) throw new HearthError('unknown_item', `Unknown item "${String(itemId)}": the model has no vector for it`);
    if (!Number.isSafeInteger(k) || k < 1) throw new HearthError('invalid_argument', `k must be an integer ≥ 1, got ${String(k)}`);
    const matrix = this.getItemMatrix();
    const sims = tf.tidy(() => {
      const normalised = tf.div(matrix, tf.add(tf.norm(matrix, 'euclidean', 1, true), 1e-8));
      return tf.reshape(tf.matMul(normalised, tf.transpose(tf.slice(normalised, [row, 0], [1, this.config.dims]))), [-1]);
    });
    const values = sims.dataSync() as Float32Array;
    sims.dispose();
    const order: number[] = [];
    for (let r = 1; r < values.length; r++) if (r !== row) order.push(r);
    order.sort((a, b) => (values[b] as number) - (values[a] as number));
    return order.slice(0, k).map((r) => ({ itemId: this.itemIds[r - 1] as string, score: values[r] as number }));
  }

  /** Training examples: every position predicts the next item, in windows of `maxLen + 1`. */
  private examples(sequences: readonly (readonly HistoryStep[])[]): SequenceExample[] {
    if (!Array.isArray(sequences)) throw new HearthError('invalid_argument', 'sequences must be an array of histories');
    const { maxLen } = this.config;
    const out: SequenceExample[] = [];
    for (const sequence of sequences) {
      const rows: number[] = [];
      const types: number[] = [];
      const isTarget: boolean[] = [];
      for (const step of sequence) {
        const row = step && typeof step.itemId === 'string' ? this.vocabulary.row(step.itemId) : 0;
        if (row === 0) continue;
        rows.push(row);
        types.push(eventTypeRow(step.type));
        isTarget.push(TARGET_EVENT_TYPES.has(step.type));
      }
      // Windows overlap by one event, so each transition is learned exactly once.
      let end = rows.length;
      while (end >= 2) {
        const start = Math.max(0, end - (maxLen + 1));
        const n = end - start - 1;
        const targets = new Int32Array(n);
        for (let i = 0; i < n; i++) targets[i] = isTarget[start + i + 1] ? (rows[start + i + 1] as number) : 0;
        out.push({ rows: Int32Array.from(rows.slice(start, end - 1)), types: Int32Array.from(types.slice(start, end - 1)), targets });
        if (start === 0) break;
        end = start + 1;
      }
    }
    return out;
  }

  /** The mean cross-entropy of a batch. Call inside `tf.tidy` or an optimizer. */
  private loss(batch: PaddedBatch, negatives: Int32Array, sampler: NegativeSampler | null): tf.Scalar {
    const { dims } = this.config;
    const positions = batch.batch * batch.length;
    const weightValues = Float32Array.from(batch.targets, (t) => (t > 0 ? 1 : 0));
    const count = weightValues.reduce((a, b) => a + b, 0);
    const weights = tf.tensor1d(weightValues);
    let perPosition: tf.Tensor1D;
    if (sampler) {
      const k = negatives.length;
      // One lookup for the inputs, the targets and the negatives.
      const lookupRows = new Int32Array(positions * 2 + k);
      lookupRows.set(batch.rows);
      lookupRows.set(batch.targets, positions);
      lookupRows.set(negatives, positions * 2);
      const vectors = this.itemVectors(lookupRows);
      const { hidden } = this.encode(batch.rows, batch.types, batch.batch, batch.length, true, tf.slice(vectors, [0, 0], [positions, dims]));
      // log Q correction: every logit minus the log of its item's sampling probability.
      const positiveCorrection = Float32Array.from(batch.targets, (t) => -(sampler.logQ[t] as number));
      const positive = tf.add(tf.sum(tf.mul(hidden, tf.slice(vectors, [positions, 0], [positions, dims])), 1, true), tf.tensor2d(positiveCorrection, [positions, 1]));
      // A sampled negative equal to the target is not a negative: mask it out. The (few) hits are
      // found in JS through a map of the negatives and scattered on the backend.
      const slots = new Map<number, number[]>();
      negatives.forEach((n, j) => {
        const list = slots.get(n);
        if (list) list.push(j);
        else slots.set(n, [j]);
      });
      const hits: number[] = [];
      for (let p = 0; p < positions; p++) {
        const target = batch.targets[p] as number;
        if (target === 0) continue;
        for (const j of slots.get(target) ?? []) hits.push(p, j);
      }
      const negativeCorrection = Float32Array.from(negatives, (n) => -(sampler.logQ[n] as number));
      let negative = tf.add(fastMatMul(hidden, tf.transpose(tf.slice(vectors, [positions * 2, 0], [k, dims]))), tf.tensor2d(negativeCorrection, [1, k]));
      if (hits.length > 0) negative = tf.add(negative, tf.scatterND(tf.tensor2d(Int32Array.from(hits), [hits.length / 2, 2], 'int32'), tf.fill([hits.length / 2], MASKED), [positions, k]));
      const logits = tf.concat([positive, negative], 1) as tf.Tensor2D;
      // The positive is column 0 of every row.
      perPosition = targetCrossEntropy(logits, tf.zeros([positions], 'int32'));
    } else {
      const size = this.vocabulary.size;
      const lookupRows = new Int32Array(positions + size);
      lookupRows.set(batch.rows);
      lookupRows.set(this.allRows, positions);
      const vectors = this.itemVectors(lookupRows);
      const { hidden } = this.encode(batch.rows, batch.types, batch.batch, batch.length, true, tf.slice(vectors, [0, 0], [positions, dims]));
      const padding = tf.tensor2d(
        Float32Array.from({ length: size }, (_, i) => (i === 0 ? MASKED : 0)),
        [1, size],
      );
      const logits = tf.add(fastMatMul(hidden, tf.transpose(tf.slice(vectors, [positions, 0], [size, dims]))), padding);
      perPosition = targetCrossEntropy(logits as tf.Tensor2D, tf.tensor1d(batch.targets, 'int32'));
    }
    return tf.div(tf.sum(tf.mul(perPosition, weights)), Math.max(1, count));
  }

  /** The sampler for the sampled softmax: items drawn by how often they are targets in `examples`. */
  private samplerFor(examples: readonly SequenceExample[]): NegativeSampler | null {
    if (this.config.loss !== 'sampled-softmax') return null;
    const counts = new Float64Array(this.vocabulary.size);
    for (const e of examples) for (const t of e.targets) if (t > 0) counts[t]! += 1;
    return new NegativeSampler(counts);
  }

  async train(sequences: readonly (readonly HistoryStep[])[], options: TrainOptions): Promise<{ loss: number }> {
    this.assertLive();
    const resolved = resolveTrainOptions(options, DEFAULT_BATCH_SIZE);
    const examples = this.examples(sequences);
    if (examples.length === 0 || resolved.epochs === 0) return { loss: Number.NaN };
    this.optimizer ??= tf.train.adam(this.config.learningRate);
    const optimizer = this.optimizer;
    const variables = this.params.variables;
    const sampler = this.samplerFor(examples);
    try {
      const loss = await runEpochs(
        resolved,
        () => makeBatches(examples, resolved.batchSize, this.random, true, resolved.batchTokens),
        async (batch) => {
          const negatives = sampler ? sampler.sample(this.config.negatives, this.random) : new Int32Array(0);
          const value = optimizer.minimize(() => this.loss(batch, negatives, sampler), true, variables);
          if (!value) return Number.NaN;
          const loss = (await value.data())[0] as number;
          value.dispose();
          return loss;
        },
      );
      return { loss };
    } finally {
      this.invalidate();
    }
  }

  /**
   * The data a training run reads, prepared once: examples and the negative sampler.
   * @internal For data-parallel training (src/train), which splits each batch across threads.
   */
  trainingData(sequences: readonly (readonly HistoryStep[])[]): RecommenderTrainingData {
    this.assertLive();
    const examples = this.examples(sequences);
    return { examples, sampler: this.samplerFor(examples) };
  }

  /**
   * The mean loss of `batch` and its gradient, every trainable tensor's gradient concatenated in
   * weight order into `into` (length {@link parameterCount}). `count` is the number of target
   * positions, so that shards of one batch average exactly.
   * @internal
   */
  batchGradients(batch: PaddedBatch, data: RecommenderTrainingData, into: Float32Array): { loss: number; count: number } {
    this.assertLive();
    const sampler = data.sampler;
    const negatives = sampler ? sampler.sample(this.config.negatives, this.random) : new Int32Array(0);
    const variables = this.params.variables;
    const { value, grads } = tf.variableGrads(() => this.loss(batch, negatives, sampler), variables);
    let offset = 0;
    for (const variable of variables) {
      readInto(grads[variable.name] as tf.Tensor, into, offset);
      offset += variable.size;
    }
    const loss = value.dataSync()[0] as number;
    value.dispose();
    tf.dispose(grads);
    let count = 0;
    for (const t of batch.targets) if (t > 0) count++;
    return { loss, count };
  }

  /** Copies every weight, in weight order, into `into` (length {@link parameterCount}). @internal */
  writeFlatWeights(into: Float32Array): void {
    let offset = 0;
    for (const variable of this.params.variables) {
      readInto(variable, into, offset);
      offset += variable.size;
    }
  }

  /**
   * Replaces every weight from one flat array laid out as {@link writeFlatWeights} writes it,
   * without the checks of `setWeights` (the data-parallel trainer loads its own shared weights
   * after every step). The optimizer state is left alone. @internal
   */
  loadFlatWeights(flat: Float32Array): void {
    this.assertLive();
    let offset = 0;
    for (const variable of this.params.variables) {
      const values = flat.subarray(offset, offset + variable.size);
      tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
      offset += variable.size;
    }
    this.invalidate();
  }

  getWeights(): NamedWeight[] {
    this.assertLive();
    return this.params.get();
  }

  setWeights(weights: readonly NamedWeight[]): void {
    this.assertLive();
    this.params.set(weights);
    this.invalidate();
    // Adam's moments belong to the old weights.
    this.optimizer?.dispose();
    this.optimizer = null;
  }

  /** @internal */
  setWeightsFromCheckpoint(weights: readonly NamedWeight[]): void {
    this.params.set(weights, 'invalid_checkpoint');
    this.invalidate();
  }

  toCheckpoint(): ModelCheckpoint {
    const config: RecommenderCheckpointConfig = { config: { ...this.config }, items: this.vocabulary.items.map((i) => ({ ...i })), seed: this.seed };
    const checkpoint: ModelCheckpoint = { name: RECOMMENDER_CHECKPOINT_NAME, formatVersion: RECOMMENDER_FORMAT_VERSION, config, weights: this.getWeights(), savedAt: Date.now() };
    if (this.neighbourTable) checkpoint.tables = neighbourTables(this.neighbourTable);
    return checkpoint;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.invalidate();
    this.optimizer?.dispose();
    this.optimizer = null;
    this.params.dispose();
  }
}

/**
 * Creates a recommender with fresh, seeded weights.
 *
 * @example
 * ```ts
 * const model = createRecommender({ items: catalog.map(({ id, category, brand, price }) => ({ id, category, brand, price })) });
 * await model.train(histories, { epochs: 5 });
 * const { scores } = model.score(history);
 * ```
 */
export function createRecommender(options: RecommenderOptions): SequenceRecommender {
  return new SasRecommender(options);
}

/**
 * Rebuilds a recommender from a checkpoint. Throws 'invalid_checkpoint' when it is corrupt or was
 * written by an incompatible version (wrong name, format version, config, shapes, non-finite values).
 *
 * @example
 * ```ts
 * const checkpoint = await store.getCheckpoint('recommender');
 * const model = checkpoint ? recommenderFromCheckpoint(checkpoint) : createRecommender({ items });
 * ```
 */
export function recommenderFromCheckpoint(checkpoint: ModelCheckpoint): SequenceRecommender {
  const model = restoreFromCheckpoint(checkpoint, {
    name: RECOMMENDER_CHECKPOINT_NAME,
    formatVersion: RECOMMENDER_FORMAT_VERSION,
    build: (parts) => new SasRecommender({ ...parts, config: parts.config as Partial<RecommenderConfig> }),
  });
  try {
    const neighbours = neighboursFromTables(checkpoint.tables);
    if (neighbours) model.setNeighbours(neighbours);
  } catch (error) {
    model.dispose();
    throw new HearthError('invalid_checkpoint', `recommender checkpoint: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return model;
}

const NEIGHBOUR_TABLES = ['recommender/neighbours/offsets', 'recommender/neighbours/ids', 'recommender/neighbours/counts'] as const;

/** The neighbour table as checkpoint tables (CSR arrays). */
function neighbourTables(table: ItemNeighbours): NonNullable<ModelCheckpoint['tables']> {
  const [offsets, ids, counts] = NEIGHBOUR_TABLES;
  return [
    { name: offsets, shape: [table.offsets.length], values: table.offsets },
    { name: ids, shape: [table.ids.length], values: table.ids },
    { name: counts, shape: [table.counts.length], values: table.counts },
  ];
}

/** The neighbour table in a checkpoint's tables, or null when it has none; throws when it is malformed. */
function neighboursFromTables(tables: ModelCheckpoint['tables']): ItemNeighbours | null {
  const byName = new Map((tables ?? []).map((t) => [t.name, t.values]));
  const [offsets, ids, counts] = NEIGHBOUR_TABLES.map((name) => byName.get(name));
  if (!offsets && !ids && !counts) return null;
  if (!(offsets instanceof Int32Array) || !(ids instanceof Int32Array) || !(counts instanceof Float32Array)) {
    throw new HearthError('invalid_checkpoint', 'the neighbour table needs int32 offsets and ids and float32 counts');
  }
  return new ItemNeighbours({ offsets, ids, counts });
}
