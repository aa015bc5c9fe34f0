/**
 * How much each of the newest history steps raised the served score of some items: the log of the
 * item's served probability (Transformer blended with neighbours) minus its log probability with
 * that step hidden. The engine explains recommendations with it, and bench:quality checks that it
 * is faithful to actually deleting the event.
 */
import type { HistoryStep, ScoredItems, SequenceRecommender } from './contract.js';

export interface Contributions {
  /** The served probability of every item after the whole history. */
  probabilities: Float32Array;
  /** The steps measured: the newest `steps.length` of the history the model read, oldest first. */
  steps: HistoryStep[];
  /** Per item of `rows`: one log-probability drop per step of `steps`. */
  drops: Float32Array[];
}

/**
 * @param read the steps the model reads (known items, at most `maxLen`), oldest first.
 * @param rows the items to explain, as indices into `model.itemIds`; may be filled in by `pick`
 *   once the probabilities are known (the engine picks its top k from them).
 *
 * @example
 * ```ts
 * const c = contributions(model, read, 8, (p) => topIndices(p, 10));
 * ```
 */
export function contributions(
  model: SequenceRecommender,
  read: readonly HistoryStep[],
  count: number,
  pick: (probabilities: Float32Array, scored: ScoredItems) => readonly number[],
): Contributions & { rows: readonly number[] } {
  const { scored, hidden } = model.scoreOcclusions(read, count);
  const probabilities = model.probabilities(read, scored);
  const rows = pick(probabilities, scored);
  const steps = read.slice(read.length - hidden.steps);
  const drops = rows.map(() => new Float32Array(hidden.steps));
  for (let e = 0; e < hidden.steps; e++) {
    const variant = read.filter((_, i) => i !== read.length - hidden.steps + e);
    const p = model.probabilitiesAt(variant, rows, (item) => hidden.logit(e, item), hidden.logSumExp[e] as number);
    rows.forEach((row, c) => {
      (drops[c] as Float32Array)[e] = Math.log(Math.max(1e-30, probabilities[row] as number)) - Math.log(Math.max(1e-30, p[c] as number));
    });
  }
  return { probabilities, steps, drops, rows };
}
