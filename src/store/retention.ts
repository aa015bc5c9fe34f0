/**
 * Retention defaults and checks, shared by both stores.
 */
import { assert } from '../protocol/errors.js';
import type { RetentionPolicy } from './types.js';

const DAY_MS = 86_400_000;

/**
 * The defaults: at most 10,000 events, none older than 90 days.
 *
 * @example
 * ```ts
 * await store.enforceRetention({ ...DEFAULT_RETENTION, ...options.retention });
 * ```
 */
export const DEFAULT_RETENTION: Readonly<RetentionPolicy> = /* @__PURE__ */ Object.freeze({
  maxEvents: 10_000,
  maxAgeDays: 90,
});

/** Throws `invalid_options` for a policy that cannot be applied. */
export function assertValidRetention(policy: RetentionPolicy): void {
  assert(Number.isInteger(policy.maxEvents) && policy.maxEvents >= 0, 'invalid_options', () => `retention.maxEvents must be an integer ≥ 0, got ${String(policy.maxEvents)}`);
  assert(
    typeof policy.maxAgeDays === 'number' && policy.maxAgeDays > 0 && !Number.isNaN(policy.maxAgeDays),
    'invalid_options',
    () => `retention.maxAgeDays must be a number > 0 (Infinity keeps everything), got ${String(policy.maxAgeDays)}`,
  );
}

/** Events strictly before this time are too old. `-Infinity` when age is unlimited. */
export function retentionCutoff(policy: RetentionPolicy, now: number): number {
  return Number.isFinite(policy.maxAgeDays) ? now - policy.maxAgeDays * DAY_MS : Number.NEGATIVE_INFINITY;
}
