/**
 * The two messages a worker sends outside the comlink protocol, so that the page learns within
 * moments whether its worker loaded: `loaded` once the bundle has evaluated and exposed its API,
 * or `error` with what went wrong first (a script error or an unhandled rejection while loading,
 * which browsers do not report to the page as an `error` event). Comlink ignores both (no id).
 */
export const WORKER_SIGNAL = 'hearthWorker';

export type WorkerSignal = { [WORKER_SIGNAL]: 'loaded' } | { [WORKER_SIGNAL]: 'error'; message: string };

/** The signal carried by a message from the worker, if it is one. */
export function workerSignalOf(data: unknown): WorkerSignal | undefined {
  const signal = (data as Record<string, unknown> | null | undefined)?.[WORKER_SIGNAL];
  return signal === 'loaded' || signal === 'error' ? (data as WorkerSignal) : undefined;
}

interface WorkerScope {
  postMessage(message: unknown): void;
  addEventListener(type: string, listener: (event: Event) => void): void;
  removeEventListener(type: string, listener: (event: Event) => void): void;
}

/**
 * Worker side: reports load-time failures until {@link WorkerLoadReport.loaded} is called.
 * Imported first by the worker entry, before tfjs.
 *
 * @example
 * ```ts
 * const report = reportLoadFailures(self);
 * expose(api);
 * report.loaded();
 * ```
 */
export interface WorkerLoadReport {
  loaded(): void;
}

export function reportLoadFailures(scope: WorkerScope): WorkerLoadReport {
  const onError = (event: Event): void => {
    const e = event as Event & { message?: unknown; reason?: unknown };
    const cause = e.reason ?? e.message;
    const message = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause ?? 'unknown error');
    try {
      scope.postMessage({ [WORKER_SIGNAL]: 'error', message } satisfies WorkerSignal);
    } catch {
      // Nothing more to say.
    }
  };
  scope.addEventListener('error', onError);
  scope.addEventListener('unhandledrejection', onError);
  return {
    loaded() {
      scope.removeEventListener('error', onError);
      scope.removeEventListener('unhandledrejection', onError);
      scope.postMessage({ [WORKER_SIGNAL]: 'loaded' } satisfies WorkerSignal);
    },
  };
}
