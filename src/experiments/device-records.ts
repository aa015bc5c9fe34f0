/**
 * What a device keeps about its experiments and optimisations: one object under one meta key of
 * Hearth's store (so it is exported by `exportData()` and erased by `forget()`), changed only by
 * atomic read-modify-writes (`updateMeta`) from the page (assignment, exposure, showings) and the
 * worker (reports). Pure functions here; the callers do the storing.
 */
import type { ExperimentMetric, ExperimentRecordView, ReportChannel, RewardEvent } from '../protocol/experiments.js';
import type { StoredEvent } from '../protocol/event-types.js';
import { rewarded, windowOutcome } from './attribution.js';

/** The meta key of the records. */
export const EXPERIMENTS_META_KEY = 'experiments';
/** The meta key of the bandits' shop-wide priors, as the worker last fetched them. */
export const PRIORS_META_KEY = 'experiments.priors';
/** Most showings of one optimisation kept unresolved (older ones are resolved as they fall out). */
export const MAX_PENDING_SHOWINGS = 50;

export interface ExperimentRecord {
  kind: 'experiment';
  /** The variants as the page declared them when the device was assigned. */
  variants: string[];
  /** The metrics the page declared (what `hearth.experiments.list()` shows; the server's registry decides what is reported). */
  metrics?: ExperimentMetric[];
  variant: string;
  assignedAt: number;
  /** The first exposure: the attribution window starts here. */
  exposedAt: number | null;
  report: DeviceReport | null;
  /** Rounds tried without success (after the server's `fallbackAfter`, randomized response). */
  attempts: number;
  /** The id of a report being sent, reused by a retry so the server can refuse a double. */
  pendingReportId?: string;
}

export interface BanditRecord {
  kind: 'bandit';
  arms: string[];
  reward: RewardEvent;
  windowMs: number;
  /** The first showing: what the device reports (its arm, and whether that showing was rewarded). */
  first: { arm: string; at: number; rewarded: boolean | null } | null;
  /** Showings not yet resolved into successes or failures. */
  pending: { arm: string; at: number }[];
  /** This device's own successes and failures per arm. */
  local: Record<string, [number, number]>;
  report: DeviceReport | null;
  attempts: number;
  pendingReportId?: string;
}

export interface DeviceReport {
  at: number;
  channel: ReportChannel;
  epsilon: number;
  roundId: number | null;
}

export type DeviceRecord = ExperimentRecord | BanditRecord;

export interface ExperimentsMeta {
  version: 1;
  records: Record<string, DeviceRecord>;
}

export function emptyMeta(): ExperimentsMeta {
  return { version: 1, records: {} };
}

/** The meta value read back from storage, or a fresh one when it is missing or unreadable. */
export function readMeta(value: unknown): ExperimentsMeta {
  if (typeof value === 'object' && value !== null && (value as ExperimentsMeta).version === 1 && typeof (value as ExperimentsMeta).records === 'object') return value as ExperimentsMeta;
  return emptyMeta();
}

/**
 * Resolves a bandit's showings whose reward window has passed (or that a later showing ended):
 * a showing is a success when its reward event came after it and before both the end of its window
 * and the next showing. Returns the record with `local` and `first` updated.
 */
export function resolveShowings(record: BanditRecord, events: readonly StoredEvent[], now: number): BanditRecord {
  const pending = [...record.pending].sort((a, b) => a.at - b.at);
  const local: Record<string, [number, number]> = Object.fromEntries(Object.entries(record.local).map(([arm, v]) => [arm, [v[0], v[1]]]));
  let first = record.first ? { ...record.first } : null;
  const kept: { arm: string; at: number }[] = [];
  pending.forEach((showing, i) => {
    const next = pending[i + 1];
    const success = rewarded(next ? events.filter((e) => e.time < next.at) : events, showing.at, record.windowMs, record.reward);
    const closed = success || now > showing.at + record.windowMs || next !== undefined;
    if (!closed) {
      kept.push(showing);
      return;
    }
    const counts = local[showing.arm] ?? [0, 0];
    if (success) counts[0]++;
    else counts[1]++;
    local[showing.arm] = counts;
    if (first && first.rewarded === null && first.at === showing.at && first.arm === showing.arm) first = { ...first, rewarded: success };
  });
  return { ...record, pending: kept.slice(-MAX_PENDING_SHOWINGS), local, first };
}

/** What `hearth.experiments.list()` shows of a record. */
export function viewOf(name: string, record: DeviceRecord, events: readonly StoredEvent[], windowMs: number | undefined, metrics: readonly ExperimentMetric[]): ExperimentRecordView {
  if (record.kind === 'bandit') {
    return {
      name,
      kind: 'bandit',
      variant: record.first?.arm ?? null,
      assignedAt: record.first?.at ?? null,
      exposedAt: record.first?.at ?? null,
      outcome: record.first && record.first.rewarded !== null ? { [record.reward]: record.first.rewarded } : null,
      local: record.local,
      report: record.report,
    };
  }
  let outcome: ExperimentRecordView['outcome'] = null;
  if (record.exposedAt !== null) {
    const happened = windowOutcome(events, record.exposedAt, windowMs ?? 168 * 3600_000, Number.POSITIVE_INFINITY).happened;
    outcome = Object.fromEntries(metrics.map((m) => [m, happened[m] === true]));
  }
  return { name, kind: 'experiment', variant: record.variant, assignedAt: record.assignedAt, exposedAt: record.exposedAt, outcome, report: record.report };
}
