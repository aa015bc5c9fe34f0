/**
 * Growing a trained recommender's vocabulary when the catalog gains items: a new model over the
 * union of items, with every weight copied, the known items' rows copied, and the new items' id
 * rows set to zero so that their vectors are their catalog attributes alone (category, brand,
 * price band), which the model already learned.
 */
import { createRecommender } from '../model/sasrec-recommender.js';
import type { ItemAttributes, NamedWeight, SequenceRecommender } from '../model/contract.js';

const ITEM_TABLE = 'recommender/item_embedding';

/** Items of `wanted` the model has no row for. */
export function missingItems(model: SequenceRecommender, wanted: readonly ItemAttributes[]): ItemAttributes[] {
  const known = new Set(model.itemIds);
  return wanted.filter((item) => !known.has(item.id));
}

/**
 * A new recommender whose vocabulary is `model`'s followed by `added`. Does not dispose `model`.
 *
 * @example
 * ```ts
 * const grown = extendRecommender(model, missingItems(model, catalogItems), previousItems);
 * ```
 */
export function extendRecommender(model: SequenceRecommender, known: readonly ItemAttributes[], added: readonly ItemAttributes[], seed = 1): SequenceRecommender {
  const items = [...known, ...added];
  const grown = createRecommender({ items, config: model.config, seed });
  const old = new Map(model.getWeights().map((w) => [w.name, w]));
  const weights: NamedWeight[] = grown.getWeights().map((w) => {
    const before = old.get(w.name);
    if (!before) return w;
    if (w.name !== ITEM_TABLE) return before;
    // Row 0 is padding; rows 1..known are the same items in the same order.
    const values = new Float32Array(w.values.length);
    values.set(before.values.subarray(0, Math.min(before.values.length, values.length)));
    return { name: w.name, shape: w.shape, values };
  });
  grown.setWeights(weights);
  // The new items have no co-visitations yet; the known ones keep theirs (same rows).
  if (model.neighbours) grown.setNeighbours(model.neighbours.grow(items.length + 1));
  return grown;
}
