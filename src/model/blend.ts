/**
 * The engine's final score of each item: a mixture of the Transformer's next-item distribution
 * and the co-visitation distribution of the item neighbours,
 *
 *   p(item) = (1 − w) · softmax(logits)(item) + w · neighbours(item) / Σ neighbours,
 *
 * with `w` (the recommender config's `neighbourWeight`) chosen on a validation split by
 * `hearth-train`. Where the neighbours have no evidence (a history of items nobody co-visited)
 * the model's distribution is used alone. A mixture of two distributions is again one, so boosts
 * and filters downstream work on probabilities as before.
 */

/**
 * Blends `logits` (one per item, in vocabulary order without the padding row) with `neighbours`
 * (indexed by vocabulary row, so item i is at i + 1) into `out` (a new array by default).
 *
 * @example
 * ```ts
 * const total = table.score(historyRows, neighbourScores);
 * const p = blendScores(scored.scores, neighbourScores, total, model.config.neighbourWeight);
 * ```
 */
export function blendScores(logits: Float32Array, neighbours: Float32Array | null, neighbourTotal: number, weight: number, out = new Float32Array(logits.length)): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if ((logits[i] as number) > max) max = logits[i] as number;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp((logits[i] as number) - max);
    out[i] = e;
    sum += e;
  }
  const useNeighbours = neighbours !== null && neighbourTotal > 0 && weight > 0;
  const modelShare = (useNeighbours ? 1 - weight : 1) / sum;
  for (let i = 0; i < logits.length; i++) out[i] = (out[i] as number) * modelShare;
  if (useNeighbours) {
    const share = weight / neighbourTotal;
    const n = Math.min(logits.length, neighbours.length - 1);
    for (let i = 0; i < n; i++) {
      const c = neighbours[i + 1] as number;
      if (c > 0) out[i] = (out[i] as number) + c * share;
    }
  }
  return out;
}
