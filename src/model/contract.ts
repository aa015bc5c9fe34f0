/**
 * What the worker needs from the models. The implementation lives in `src/model/`, is pure tfjs,
 * and runs unchanged in the worker and in Node (tests, benchmarks, the training CLI).
 */
import type { EventType } from '../protocol/event-types.js';
import type { ModelCheckpoint, NamedWeight } from '../protocol/checkpoint.js';

export type { NamedWeight };
import type { ItemNeighbours } from './item-neighbours.js';
import type { IntentConfig, RecommenderConfig, RecommenderLoss } from '../protocol/model-config.js';

export type { IntentConfig, RecommenderConfig, RecommenderLoss };

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

/** The logits of a history with one of its newest steps hidden, for each of those steps. */
export interface OcclusionScores {
  /** How many of the newest readable steps were hidden in turn (variant e hides step `used − steps + e`). */
  steps: number;
  /** Readable steps each variant keeps (`used − 1`); 0 means it has nothing left to read. */
  used: number;
  /** log Σ exp(logits) of each variant over every item: its softmax normaliser. */
  logSumExp: Float32Array;
  /** The logit of item `item` (index into `itemIds`) with step `e` hidden. */
  logit(e: number, item: number): number;
}

export interface SequenceRecommender {
  readonly config: RecommenderConfig;
  /** Item ids the model has rows for, in row order. */
  readonly itemIds: readonly string[];
  parameterCount(): number;
  /**
   * Scores every known item as the next step after `history`: the Transformer's logits. Disposes
   * every tensor it makes.
   */
  score(history: readonly HistoryStep[]): ScoredItems;
  /**
   * `score()` of several histories in one forward pass (the engine scores a history and its
   * variants with one event left out, to explain each recommendation by what moved it).
   */
  scoreBatch(histories: readonly (readonly HistoryStep[])[]): ScoredItems[];
  /**
   * `score(history)`, and the logits with each of the newest `count` readable steps hidden in
   * turn, in one pass that recomputes only the newest positions: what explanations measure each
   * event's contribution with. A hidden step keeps its slot (positions do not shift), so this
   * approximates scoring the history with that event deleted.
   */
  scoreOcclusions(history: readonly HistoryStep[], count: number): { scored: ScoredItems; hidden: OcclusionScores };
  /**
   * What the engine ranks by: the probability of each item next, the Transformer's softmax blended
   * with the item neighbours' co-visitation distribution (shop-wide table plus the transitions in
   * `history` itself) when the model has neighbours. Pass `scored` when `score(history)` was
   * already called.
   */
  probabilities(history: readonly HistoryStep[], scored?: ScoredItems): Float32Array;
  /**
   * `probabilities(history)` at a few `items` only (indices into `itemIds`), from logits read by
   * `logit` and their normaliser: what explanations need for each hidden-step variant, without
   * building a catalogue-sized array per variant.
   */
  probabilitiesAt(history: readonly HistoryStep[], items: readonly number[], logit: (item: number) => number, logSumExp: number): Float32Array;
  /** The shop-wide item-neighbour table, when the model came with one (hearth-train). */
  readonly neighbours: ItemNeighbours | null;
  /** Attaches (or removes) a neighbour table; its rows must be this model's vocabulary rows. */
  setNeighbours(neighbours: ItemNeighbours | null): void;
  /** Items whose learned vectors are closest to `itemId`'s. */
  similar(itemId: string, k: number): { itemId: string; score: number }[];
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
