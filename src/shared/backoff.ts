/**
 * Exponential back-off, the one retry schedule of Hearth: the first retry after `baseMs`, then
 * twice as long each time, never longer than `maxMs`. The page's store retries a failed write
 * deterministically (it retries alone: there is no herd to spread); federated uploads pass a
 * random source for full jitter (Brooker, "Exponential Backoff And Jitter"), because many devices
 * may retry against one server at once.
 *
 * @example
 * ```ts
 * setTimeout(retry, backoffDelay(failures, 1000, 60_000)); // 1 s, 2 s, 4 s … 60 s
 * await sleep(backoffDelay(attempt, 1000, 30_000, secureRandom())); // uniform in [0, that)
 * ```
 */
export function backoffDelay(failures: number, baseMs: number, maxMs: number, jitter?: () => number): number {
  const ceiling = failures >= 1 ? Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30)) : Math.min(baseMs, maxMs);
  return jitter ? jitter() * ceiling : ceiling;
}
