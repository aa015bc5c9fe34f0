/**
 * Serving logic that needs no tensors: histories and sessions from events, the vocabulary, top-k,
 * explanations and trending counts. Pure functions, tested in Node. (Option checks, exclusions,
 * filters and boosts are shared with the page: src/protocol/recommend-*.ts.)
 */
import { meaningOf, typesWhere, type StoredEvent, type EventType } from '../protocol/event-types.js';
import type { CatalogItem } from '../protocol/catalog.js';
import type { HistoryStep, ItemAttributes } from '../model/contract.js';
import type { Explanation } from '../protocol/engine-types.js';

/** Event types that put an item into the shopper's history (the table's `history` column). */
export const HISTORY_TYPES: ReadonlySet<EventType> = typesWhere('history');

/** A trending count halves every week. */
export const TRENDING_HALF_LIFE_MS = 7 * 24 * 3600 * 1000;

/** The one de-duplication rule (by `eventId`), shared with the page: see `tracker/merge-events.ts`. */
export { mergeEvents } from '../protocol/merge-events.js';

/**
 * The model's view of events: one step per item of each history event, oldest first; an
 * immediate repeat of the same item and type (a checkout then a purchase of the same basket is
 * not a repeat) is dropped.
 */
export function historySteps(events: readonly StoredEvent[], types: ReadonlySet<EventType> = HISTORY_TYPES): HistoryStep[] {
  const steps: HistoryStep[] = [];
  for (const e of events) {
    if (!types.has(e.type)) continue;
    for (const itemId of e.itemIds) {
      const last = steps[steps.length - 1];
      if (last && last.itemId === itemId && last.type === e.type) continue;
      steps.push({ itemId, type: e.type, time: e.time });
    }
  }
  return steps;
}

/** Sessions as step lists (for the intent model), in order of their first event. */
export function sessionSteps(events: readonly StoredEvent[]): HistoryStep[][] {
  const sessions = new Map<string, StoredEvent[]>();
  for (const e of events) {
    const list = sessions.get(e.session);
    if (list) list.push(e);
    else sessions.set(e.session, [e]);
  }
  return [...sessions.values()].map((list) => historySteps(list)).filter((s) => s.length > 0);
}

/** Item attributes for the model's vocabulary: the catalog, then items only seen in events. */
export function vocabularyItems(catalog: readonly CatalogItem[], events: readonly StoredEvent[]): ItemAttributes[] {
  const out = new Map<string, ItemAttributes>();
  const add = (id: string, category?: string, brand?: string, price?: number): void => {
    if (typeof id !== 'string' || id === '' || out.has(id)) return;
    const item: ItemAttributes = { id };
    if (typeof category === 'string') item.category = category;
    if (typeof brand === 'string') item.brand = brand;
    if (typeof price === 'number' && Number.isFinite(price)) item.price = price;
    out.set(id, item);
  };
  for (const item of catalog) add(item.id, item.category, item.brand, item.price);
  for (const e of events) for (const i of e.items ?? []) add(i.item_id, i.item_category, i.item_brand, i.price);
  return [...out.values()];
}

/**
 * Keeps the `k` best of a stream of scored candidates: O(n) for the usual case where most
 * candidates lose to the current k-th, without sorting the whole catalog.
 */
export class TopK {
  readonly ids: string[] = [];
  readonly scores: number[] = [];
  constructor(private readonly k: number) {}

  get threshold(): number {
    return this.ids.length < this.k ? -Infinity : (this.scores[this.scores.length - 1] as number);
  }

  offer(id: string, score: number): void {
    if (this.ids.length >= this.k && score <= this.threshold) return;
    let i = this.scores.length;
    while (i > 0 && (this.scores[i - 1] as number) < score) i--;
    this.ids.splice(i, 0, id);
    this.scores.splice(i, 0, score);
    if (this.ids.length > this.k) {
      this.ids.pop();
      this.scores.pop();
    }
  }
}

/**
 * The heaviest history events: at most `max` of them, weight ≥ `minWeight`, heaviest first, one
 * per item and type. `steps` (oldest first) are aligned with `attention`, each step's share of
 * what the answer rests on (the intent model's attention, or a recommendation's score
 * contributions from {@link contributionShares}).
 */
export function explain(steps: readonly HistoryStep[], attention: Float32Array, max = 3, minWeight = 0.05): Explanation[] {
  const order = Array.from(attention.keys()).sort((a, b) => (attention[b] as number) - (attention[a] as number));
  const out: Explanation[] = [];
  const seen = new Set<string>();
  for (const i of order) {
    const step = steps[i];
    const weight = attention[i] as number;
    if (!step || !(weight >= minWeight) || out.length >= max) break;
    const key = `${step.itemId}|${step.type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ itemId: step.itemId, type: step.type, time: step.time, weight: Math.min(1, weight) });
  }
  return out;
}

/**
 * Each step's share of an item's score from how much the score falls without it: `drops[i]` is
 * log p(item | history) − log p(item | history without step i); steps that did not raise the
 * score get 0, the rest are normalised to sum to 1. All zero when no step raised it.
 */
export function contributionShares(drops: Float32Array): Float32Array {
  const shares = new Float32Array(drops.length);
  let total = 0;
  for (let i = 0; i < drops.length; i++) {
    const d = drops[i] as number;
    if (d > 0 && Number.isFinite(d)) {
      shares[i] = d;
      total += d;
    }
  }
  if (total > 0) for (let i = 0; i < shares.length; i++) shares[i] = (shares[i] as number) / total;
  return shares;
}

/** Recency-decayed counts of the items in `events`, each event weighted by its type's `popularity`. */
export function decayedCounts(events: readonly StoredEvent[], now: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) {
    const kind = meaningOf(e.type)?.popularity ?? 0;
    if (kind === 0) continue;
    const weight = kind * Math.pow(0.5, Math.max(0, now - e.time) / TRENDING_HALF_LIFE_MS);
    for (const id of e.itemIds) counts.set(id, (counts.get(id) ?? 0) + weight);
  }
  return counts;
}
