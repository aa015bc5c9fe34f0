/**
 * Offline ranking metrics over the whole catalogue, shared by `hearth-train` (validation, early
 * stopping, choosing the neighbour weight) and `bench:quality` (the reported figures), so that
 * both measure the same thing: the pessimistic rank of the held-out item among every item the
 * model knows, HR@k, NDCG@k and MRR@k.
 */
import type { HistoryStep, SequenceRecommender } from '../model/contract.js';
import { blendScores } from '../model/blend.js';

/** One held-out next item and the history before it. */
export interface RankingCase {
  history: HistoryStep[];
  target: string;
  /**
   * Leave the history's own items out of the ranking (the Amazon protocol: a shopper rarely buys
   * the same game twice); false where repeats are legitimate answers (session clicks).
   */
  excludeHistory: boolean;
}

export interface RankingMetrics {
  hr: number;
  ndcg: number;
  mrr: number;
  /** Cases measured. */
  n: number;
}

/**
 * The rank (0 = first) of item `target` in `scores`: how many other items score at least as high
 * (ties count against the target), skipping `excluded` indices.
 */
export function rankOf(scores: Float32Array, target: number, excluded: ReadonlySet<number> | null): number {
  const s = scores[target] as number;
  let rank = 0;
  for (let i = 0; i < scores.length; i++) {
    if (i === target || (excluded !== null && excluded.has(i))) continue;
    if ((scores[i] as number) >= s) rank++;
  }
  return rank;
}

/**
 * HR@k, NDCG@k and MRR@k of a list of ranks (a rank ≥ k is a miss).
 *
 * @example
 * ```ts
 * metricsOf([0, 3, 50], 10); // { hr: 0.667, ndcg: 0.5, mrr: 0.417, n: 3 }
 * ```
 */
export function metricsOf(ranks: ArrayLike<number>, k: number): RankingMetrics {
  let hr = 0;
  let ndcg = 0;
  let mrr = 0;
  for (let i = 0; i < ranks.length; i++) {
    const rank = ranks[i] as number;
    if (rank >= k) continue;
    hr += 1;
    ndcg += 1 / Math.log2(rank + 2);
    mrr += 1 / (rank + 1);
  }
  const n = Math.max(1, ranks.length);
  return { hr: hr / n, ndcg: ndcg / n, mrr: mrr / n, n: ranks.length };
}

/**
 * The rank of each case's target under the model blended with its neighbours at each weight of
 * `weights` (0 = the Transformer alone), `[cases × weights]` row-major. A target the model does
 * not know ranks last.
 */
export function blendedRanks(model: SequenceRecommender, cases: readonly RankingCase[], weights: readonly number[]): Int32Array {
  const items = model.itemIds.length;
  const index = new Map(model.itemIds.map((id, i) => [id, i]));
  const out = new Int32Array(cases.length * weights.length).fill(items);
  const table = model.neighbours;
  const neighbourScores = table ? new Float32Array(table.rows) : null;
  const modelOnly = new Float32Array(items);
  const blended = new Float32Array(items);
  cases.forEach((c, n) => {
    const target = index.get(c.target);
    if (target === undefined) return;
    const scored = model.score(c.history);
    blendScores(scored.scores, null, 0, 0, modelOnly);
    let total = 0;
    if (table && neighbourScores) {
      // The steps the model reads: known items, the newest maxLen (as `probabilities()` does).
      const rows = c.history
        .map((s) => (index.get(s.itemId) ?? -1) + 1)
        .filter((r) => r > 0)
        .slice(-model.config.maxLen);
      total = table.score(rows, neighbourScores);
    }
    const excluded = c.excludeHistory ? new Set(c.history.map((s) => index.get(s.itemId) ?? -1)) : null;
    excluded?.delete(target);
    weights.forEach((w, j) => {
      if (w === 0 || total === 0 || !neighbourScores) {
        out[n * weights.length + j] = rankOf(modelOnly, target, excluded);
        return;
      }
      const share = w / total;
      for (let i = 0; i < items; i++) blended[i] = (1 - w) * (modelOnly[i] as number) + share * (neighbourScores[i + 1] as number);
      out[n * weights.length + j] = rankOf(blended, target, excluded);
    });
  });
  return out;
}
