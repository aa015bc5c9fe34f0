/**
 * Exponential back-off for retrying a write that failed (a full quota, a database that went away):
 * the first retry after `baseMs`, then twice as long each time, never longer than `maxMs`.
 * Deterministic on purpose: the page retries alone, so there is no herd to spread with jitter.
 *
 * @example
 * ```ts
 * setTimeout(retry, backoffDelay(failures, 1000, 60_000)); // 1 s, 2 s, 4 s … 60 s
 * ```
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  if (!(failures >= 1)) return Math.min(baseMs, maxMs);
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
}
