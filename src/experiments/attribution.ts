/**
 * What a device's shopper did after seeing a variant: for each metric, whether it happened within
 * the attribution window after the device's first exposure, from the events Hearth already stored
 * on the device. Pure: events in, outcome out.
 */
import type { StoredEvent } from '../protocol/event-types.js';
import type { ExperimentMetric, RewardEvent } from '../protocol/experiments.js';

/** What one device did in an experiment's window. */
export interface WindowOutcome {
  /** Per metric but revenue: whether it happened in the window. */
  happened: Partial<Record<ExperimentMetric, boolean>>;
  /** Revenue in the window (purchase values; else price × quantity), clipped to the cap. */
  revenue: number;
}

/** A purchase's value: its `value`, else the sum of price × quantity of its items. */
export function purchaseValue(event: StoredEvent): number {
  if (typeof event.value === 'number' && Number.isFinite(event.value) && event.value >= 0) return event.value;
  let total = 0;
  for (const item of event.items ?? []) {
    if (typeof item.price === 'number' && Number.isFinite(item.price) && item.price >= 0) total += item.price * (item.quantity ?? 1);
  }
  return total;
}

/**
 * The outcome of the window [exposedAt, exposedAt + windowMs].
 *
 * @example
 * ```ts
 * windowOutcome(events, exposedAt, 7 * 86_400_000, 200).happened.purchase;
 * ```
 */
export function windowOutcome(events: readonly StoredEvent[], exposedAt: number, windowMs: number, revenueCap: number): WindowOutcome {
  const happened: Partial<Record<ExperimentMetric, boolean>> = {};
  let revenue = 0;
  const end = exposedAt + windowMs;
  for (const event of events) {
    if (event.time < exposedAt || event.time > end) continue;
    if (event.type === 'select_item' || event.type === 'add_to_cart' || event.type === 'begin_checkout' || event.type === 'purchase') happened[event.type] = true;
    if (event.type === 'purchase') revenue += purchaseValue(event);
  }
  happened.revenue = revenue > 0;
  return { happened, revenue: Math.min(Math.max(0, revenue), revenueCap) };
}

/**
 * The metric bits a device reports. Revenue becomes one bit by unbiased stochastic rounding of
 * revenue / cap with the CSPRNG uniform `u` (so the mean of the bits times the cap estimates the
 * mean revenue per shopper), which keeps every cell of a report 0 or 1.
 */
export function metricBits(outcome: WindowOutcome, metrics: readonly ExperimentMetric[], revenueCap: number, u: number): boolean[] {
  return metrics.map((metric) => (metric === 'revenue' ? u < outcome.revenue / revenueCap : outcome.happened[metric] === true));
}

/** Whether `reward` happened within (shownAt, shownAt + windowMs]. */
export function rewarded(events: readonly StoredEvent[], shownAt: number, windowMs: number, reward: RewardEvent): boolean {
  return events.some((event) => event.type === reward && event.time >= shownAt && event.time <= shownAt + windowMs);
}
