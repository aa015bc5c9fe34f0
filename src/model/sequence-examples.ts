/**
 * Turns histories into padded training batches. Shared by the recommender and the intent model.
 */
import type { Random } from './random.js';
import { shuffleInPlace } from './random.js';

/** One training example of variable length (at most the model's `maxLen`). */
export interface SequenceExample {
  rows: Int32Array;
  types: Int32Array;
  /** Per-position targets (recommender) or per-example labels (intent). */
  targets: Int32Array;
  /** Optional per-position attribute buckets, `ATTRIBUTE_SLOTS` per position (intent model). */
  attributes?: Int32Array;
}

/** A batch, left-padded to its longest example (row 0 = padding). */
export interface PaddedBatch {
  batch: number;
  length: number;
  rows: Int32Array;
  types: Int32Array;
  /** `batch * length` per-position targets, or the examples' labels concatenated. */
  targets: Int32Array;
  /** `batch * length * slots` attribute buckets when the examples have them. */
  attributes?: Int32Array;
}

/**
 * Groups examples of similar length into batches and shuffles the batch order.
 *
 * Why: most shoppers have short histories (9 events on average in the Amazon Games log); padding
 * each batch only to its own longest example instead of `maxLen` cuts the work several-fold. Left
 * padding keeps the newest event at the last position, so a batch of length L uses the last L
 * learned positions and computes exactly what a `maxLen` batch would.
 */
export function makeBatches(examples: readonly SequenceExample[], batchSize: number, random: Random, perPositionTargets: boolean, batchTokens = 0): PaddedBatch[] {
  const order = shuffleInPlace(examples.slice(), random);
  // A stable sort keeps the shuffled order among examples of equal length.
  order.sort((a, b) => a.rows.length - b.rows.length);
  const batches: PaddedBatch[] = [];
  for (let start = 0; start < order.length;) {
    // With a token budget, short examples travel in bigger batches (the per-step cost of the
    // optimizer and the embedding gradients is then shared by more positions).
    let end = Math.min(order.length, start + batchSize);
    if (batchTokens > 0) {
      end = start + 1;
      while (end < order.length && (end - start + 1) * (order[end] as SequenceExample).rows.length <= batchTokens) end++;
    }
    const group = order.slice(start, end);
    start = end;
    const length = group.reduce((m, e) => Math.max(m, e.rows.length), 1);
    const rows = new Int32Array(group.length * length);
    const types = new Int32Array(group.length * length);
    const targetWidth = perPositionTargets ? length : (group[0]?.targets.length ?? 0);
    const targets = new Int32Array(group.length * targetWidth);
    const slots = group[0]?.attributes ? group[0].attributes.length / Math.max(1, group[0].rows.length) : 0;
    const attributes = slots > 0 ? new Int32Array(group.length * length * slots) : undefined;
    group.forEach((e, b) => {
      if (attributes && e.attributes) attributes.set(e.attributes, (b * length + (length - e.rows.length)) * slots);
      const offset = b * length + (length - e.rows.length);
      rows.set(e.rows, offset);
      types.set(e.types, offset);
      if (perPositionTargets) targets.set(e.targets, offset);
      else targets.set(e.targets, b * targetWidth);
    });
    batches.push(attributes ? { batch: group.length, length, rows, types, targets, attributes } : { batch: group.length, length, rows, types, targets });
  }
  return shuffleInPlace(batches, random);
}

/**
 * The additive attention mask of a left-padded batch, `[batch, 1, length, length]` flattened:
 * 0 where query i may look at key j, `masked` elsewhere. Keys that are padding are masked; with
 * `causal`, so are keys after the query. A query always sees itself, so no row is fully masked
 * (a fully masked row would turn into NaN on half-precision backends).
 */
export function attentionMask(rows: Int32Array, batch: number, length: number, causal: boolean, masked: number): Float32Array {
  const mask = new Float32Array(batch * length * length);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < length; i++) {
      const base = (b * length + i) * length;
      for (let j = 0; j < length; j++) {
        const allowed = j === i || ((rows[b * length + j] as number) > 0 && (!causal || j <= i));
        if (!allowed) mask[base + j] = masked;
      }
    }
  }
  return mask;
}
