/**
 * The page-side engine client: starts the engine worker lazily (first call, or browser idle time
 * after load; never during page load), forwards calls with the current consent, restarts a
 * crashed worker once and retries the call, and answers from page-side fallbacks when the worker
 * cannot run at all. Never imports tfjs or the models: this file ships in the page's bundles.
 */
import { proxy, wrap, type Remote } from 'comlink';
import { HearthError, errorCodeOf, reviveError } from '../protocol/errors.js';
import { mergeEvents } from '../protocol/merge-events.js';
import type { StoredEvent } from '../protocol/event-types.js';
import type { CatalogItem } from '../store/types.js';
import type { EngineClient, EngineClientConfig } from './contract.js';
import { engineInfoWithoutEngine, type TrainingProgress } from '../protocol/engine-types.js';
import type { EngineWorkerApi, EngineWorkerInit } from '../protocol/worker-api.js';
import type { ExperimentReportResult } from '../protocol/experiments.js';
import type { FederatedRoundResult } from '../protocol/federated.js';
import { fallbackRecommend, fallbackTrending } from './page-fallback.js';
import { workerSignalOf } from '../protocol/worker-signals.js';
import { diagnoseWorkerLoad, isCrossOrigin, startModuleWorker } from './worker-launch.js';

/** A call that gets no answer in this time counts as a crash (training and rounds are exempt). */
const CALL_TIMEOUT_MS = 30_000;
/** Starting includes the first-run backend measurement and restoring checkpoints. */
const START_TIMEOUT_MS = 90_000;
/**
 * A worker that has not evaluated its bundle by now counts as failed. Failures that report
 * themselves (a 404, a script error, a refused cross-origin load) are seen at once, not after this.
 */
const LOAD_TIMEOUT_MS = 30_000;
/** How often, at most, the client offers the worker idle time for automatic training. */
const IDLE_PERIOD_MS = 60_000;

/** The worker died or stopped answering (not an error the engine raised on purpose). */
class WorkerCrash extends Error {}

interface Live {
  worker: Worker;
  api: Remote<EngineWorkerApi>;
  started: Promise<void>;
  /** Rejects every pending call when the worker reports an error. */
  crashed: Promise<never>;
}

type Win = Window & typeof globalThis;

function pageWindow(): Win | undefined {
  return typeof window === 'undefined' ? undefined : window;
}

function withTimeout<T>(promise: Promise<T>, ms: number | null, crashed: Promise<never>, what: string): Promise<T> {
  const racers: Promise<T>[] = [promise, crashed];
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (ms !== null) racers.push(new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new WorkerCrash(`${what} got no answer in ${ms} ms`)), ms))));
  return Promise.race(racers).finally(() => clearTimeout(timer));
}

/**
 * Creates the engine client. Nothing starts until the first call or the browser's idle time.
 *
 * @example
 * ```ts
 * const engine = createEngineClient({ dbName: 'hearth', engine: {}, consent: () => consent.effective(), logger });
 * const items = await engine.recommend({ k: 5 }, await tracker.recent());
 * ```
 */
export function createEngineClient(config: EngineClientConfig): EngineClient {
  const { logger } = config;
  const listeners = new Set<(progress: TrainingProgress) => void>();
  const emit = proxy((progress: TrainingProgress) => {
    for (const listener of listeners) {
      try {
        listener(progress);
      } catch (error) {
        logger.warnOnce('progress-listener', 'An onProgress listener threw.', error);
      }
    }
  });
  let live: Live | null = null;
  let restarts = 0;
  let disposed = false;
  let fallbackReason: string | null = config.engine.enabled === false ? 'The engine is turned off (engine.enabled: false).' : null;
  if (fallbackReason === null && typeof Worker === 'undefined' && !config.createWorker) fallbackReason = 'This environment has no Web Worker.';

  const workerUrl = (): URL | string | undefined => {
    const win = pageWindow();
    const given = config.engine.workerUrl;
    if (given) return win ? new URL(typeof given === 'string' ? given : given.href, win.location.href) : typeof given === 'string' ? given : given.href;
    if (config.scriptUrl) return new URL('hearth.worker.js', config.scriptUrl);
    return undefined;
  };

  /** The URL the worker was started from, for error messages (undefined: a bundler's rewrite). */
  let startedFrom: string | undefined;
  const makeWorker = (): Worker => {
    const url = workerUrl();
    startedFrom = url === undefined ? undefined : String(url);
    if (config.createWorker) return config.createWorker(url ?? 'hearth.worker.js');
    if (config.engine.workerUrl || !canUseImportMetaUrl()) {
      if (!url) throw new HearthError('engine_unavailable', 'No worker URL: set engine.workerUrl');
      // From a CDN (another origin) through a same-origin blob: shim; see worker-launch.ts.
      return startModuleWorker(String(url), pageWindow()?.location.href);
    }
    // This module served as is from another origin (the tag's runtime on a CDN): the worker next to
    // it can only start through the blob shim. Not a `new URL(…, import.meta.url)` expression, which
    // a bundler would take for an asset to emit; under webpack `import.meta.url` is a file: URL.
    const here = moduleUrl();
    const sibling = `${here.slice(0, here.lastIndexOf('/') + 1)}hearth.worker.js`;
    const page = pageWindow()?.location.href;
    startedFrom = /^https?:/.test(here) ? sibling : undefined;
    if (startedFrom && isCrossOrigin(sibling, page)) return startModuleWorker(sibling, page);
    // The literal pattern that bundlers (Vite, webpack 5, Parcel) recognise and bundle: this file
    // ships as dist/hearth.js or dist/hearth.runtime.js, next to dist/hearth.worker.js.
    return new Worker(new URL('./hearth.worker.js', import.meta.url), { type: 'module' });
  };

  const init = (): EngineWorkerInit => {
    const { workerUrl: _url, ...engine } = config.engine;
    const win = pageWindow();
    // The worker resolves relative URLs against its own script; the page's author meant the page.
    const fromPage = (url: string): string => (win ? new URL(url, win.location.href).href : url);
    if (engine.wasmPath) engine.wasmPath = fromPage(engine.wasmPath);
    if (engine.modelUrl) engine.modelUrl = fromPage(engine.modelUrl);
    if (engine.intentModelUrl) engine.intentModelUrl = fromPage(engine.intentModelUrl);
    const out: EngineWorkerInit = { dbName: config.dbName, engine, consent: config.consent() };
    if (config.debug) out.debug = true;
    if (config.federated) out.federated = { ...config.federated, serverUrl: fromPage(config.federated.serverUrl) };
    return out;
  };

  const kill = (): void => {
    if (!live) return;
    live.worker.terminate();
    live = null;
  };

  const launch = (): Live => {
    if (live) return live;
    const worker = makeWorker();
    let crash: (error: Error) => void = () => undefined;
    const crashed = new Promise<never>((_, reject) => (crash = reject));
    crashed.catch(() => undefined);
    let loaded = false;
    let loadTimer: ReturnType<typeof setTimeout> | undefined;
    const from = startedFrom;
    const onError = (event: Event): void => {
      clearTimeout(loadTimer);
      const message = (event as ErrorEvent).message;
      if (message) crash(new WorkerCrash(message));
      else if (loaded) crash(new WorkerCrash('the worker crashed'));
      // A module worker that did not load says nothing about why: find out.
      else void diagnoseWorkerLoad(from, pageWindow()?.location.href).then((why) => crash(new WorkerCrash(why)));
    };
    worker.addEventListener('error', onError);
    worker.addEventListener('messageerror', onError);
    worker.addEventListener('message', (event: MessageEvent) => {
      const signal = workerSignalOf(event.data);
      if (!signal) return;
      clearTimeout(loadTimer);
      if (signal.hearthWorker === 'loaded') loaded = true;
      else crash(new WorkerCrash(`the engine worker failed while loading: ${signal.message}`));
    });
    if (!config.createWorker) {
      loadTimer = setTimeout(() => crash(new WorkerCrash(`the engine worker${from ? ` (${from})` : ''} did not load in ${LOAD_TIMEOUT_MS / 1000} s`)), LOAD_TIMEOUT_MS);
    }
    crashed.catch(() => clearTimeout(loadTimer));
    const api = wrap<EngineWorkerApi>(worker);
    const started = withTimeout(api.start(init(), emit), START_TIMEOUT_MS, crashed, 'engine start').then(() => undefined);
    started.catch(() => undefined);
    live = { worker, api, started, crashed };
    return live;
  };

  const goFallback = (reason: string, error?: unknown): void => {
    fallbackReason = reason;
    kill();
    logger.warnOnce('engine-fallback', `${reason} Recommendations use fallbacks.`, error);
  };

  /**
   * Runs `fn` on the worker. A crash or timeout restarts the worker once and retries; a second
   * failure (or a worker that cannot start) switches to the fallbacks for the page's life.
   * Errors the engine raised on purpose (they carry a code) are revived and thrown.
   */
  async function call<T>(what: string, fn: (api: Remote<EngineWorkerApi>) => Promise<T>, fallback: () => Promise<T>, timeoutMs: number | null = CALL_TIMEOUT_MS): Promise<T> {
    for (;;) {
      if (disposed || fallbackReason !== null) return fallback();
      let current: Live;
      try {
        current = launch();
        await current.started;
      } catch (error) {
        if (errorCodeOf(error) !== undefined && !(error instanceof WorkerCrash)) {
          goFallback(`The engine could not start: ${(error as Error).message}.`, error);
        } else if (restarts++ >= 1) {
          goFallback(`The engine worker could not start: ${error instanceof Error ? error.message : String(error)}.`, error);
        } else {
          kill();
          logger.debug(`Engine worker failed to start (${String(error)}); trying once more.`);
        }
        continue;
      }
      try {
        return await withTimeout(fn(current.api), timeoutMs, current.crashed, what);
      } catch (error) {
        if (!(error instanceof WorkerCrash)) {
          if (errorCodeOf(error) !== undefined) throw reviveError(error);
          // A bug inside the engine: degrade for this answer, do not throw into the page.
          logger.warnOnce(`engine-${what}`, `The engine failed in ${what}; answering from fallbacks.`, error);
          return fallback();
        }
        if (live === current) kill();
        if (restarts++ >= 1) {
          goFallback(`The engine worker crashed twice (${error.message}).`, error);
          continue;
        }
        logger.debug(`Engine worker crashed in ${what} (${error.message}); restarting it once.`);
      }
    }
  }

  const catalog = async (): Promise<CatalogItem[]> => (config.store ? config.store.getCatalog().catch(() => []) : []);
  const history = async (recent: readonly StoredEvent[]): Promise<StoredEvent[]> => {
    if (!config.store || config.consent().personalise !== true) return config.consent().personalise === true ? [...recent] : [];
    const stored = await config.store.readEvents({ limit: 500 }).catch(() => [] as StoredEvent[]);
    // A write may be in flight (or the store memory-only): the same event may be in both lists.
    return mergeEvents(stored, recent);
  };

  // Automatic training and federated rounds at idle time, after the page has loaded.
  let stopIdle: () => void = () => undefined;
  const wantsIdle = config.engine.autoTrain !== false || config.federated?.autoParticipate !== false;
  const win = pageWindow();
  if (win && wantsIdle && fallbackReason === null) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let idleHandle: number | undefined;
    let stopped = false;
    const tick = (): void => {
      if (stopped || disposed || fallbackReason !== null) return;
      const run = (): void => {
        idleHandle = undefined;
        if (stopped || disposed || fallbackReason !== null) return;
        // Nothing to learn without the personalise scope: do not even start the worker.
        const consent = config.consent();
        if (consent.personalise !== true && !live) return schedule();
        call(
          'idle',
          (api) => api.idle(config.consent()),
          async () => undefined,
          null,
        )
          .catch((error: unknown) => logger.debug('Idle training failed.', error))
          .finally(schedule);
      };
      if (typeof win.requestIdleCallback === 'function') idleHandle = win.requestIdleCallback(run, { timeout: 10_000 });
      else run();
    };
    const schedule = (): void => {
      if (!stopped) timer = setTimeout(tick, IDLE_PERIOD_MS);
    };
    const first = (): void => {
      if (!stopped) timer = setTimeout(tick, 1_000);
    };
    if (win.document?.readyState === 'complete') first();
    else win.addEventListener('load', first, { once: true });
    stopIdle = () => {
      stopped = true;
      clearTimeout(timer);
      if (idleHandle !== undefined && typeof win.cancelIdleCallback === 'function') win.cancelIdleCallback(idleHandle);
      win.removeEventListener('load', first);
    };
  }

  return {
    recommend(options, recent) {
      return call(
        'recommend',
        (api) => api.recommend(options, [...recent], config.consent()),
        async () => fallbackRecommend(options, await history(recent), await catalog(), Date.now()),
      );
    },
    similarItems(itemId, k) {
      return call(
        'similarItems',
        (api) => api.similarItems(itemId, k),
        async () => {
          const items = await catalog();
          const self = items.find((i) => i.id === itemId);
          return fallbackTrending([], items, k, Date.now(), (id, item) => id !== itemId && (!self || item?.category === self.category));
        },
      );
    },
    trending(k, recent) {
      return call(
        'trending',
        (api) => api.trending(k, [...recent], config.consent()),
        async () => fallbackTrending(await history(recent), await catalog(), k, Date.now()),
      );
    },
    intent(recent) {
      return call(
        'intent',
        (api) => api.intent([...recent], config.consent()),
        async () => ({ cart: 0, purchase: 0, because: [], source: 'heuristic' as const }),
      );
    },
    info() {
      return call(
        'info',
        (api) => api.info(),
        async () => engineInfoWithoutEngine('fallback', fallbackReason ?? 'The engine was disposed.'),
      );
    },
    async train(options) {
      const signal = options?.signal;
      if (signal?.aborted) throw new HearthError('aborted', 'Training was cancelled before it started.');
      const onAbort = (): void => {
        live?.api.cancelTraining().catch(() => undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await call(
          'train',
          (api) => api.train(config.consent()),
          async () => {
            // Training cannot fall back to anything: say why it did not happen.
            throw new HearthError('engine_unavailable', `Cannot train: ${fallbackReason ?? 'the engine was disposed.'}`);
          },
          null,
        );
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
    onProgress(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async federatedRound(options) {
      const signal = options?.signal;
      if (signal?.aborted) throw new HearthError('aborted', 'The federated round was cancelled before it started.');
      const onAbort = (): void => {
        live?.api.cancelTraining().catch(() => undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await call<FederatedRoundResult>(
          'federatedRound',
          (api) => api.federatedRound(config.consent()),
          async () => ({ status: 'skipped' as const, reason: fallbackReason ?? 'engine unavailable' }),
          null,
        );
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
    lastUpload() {
      return call(
        'lastUpload',
        (api) => api.lastUpload(),
        async () => null,
      );
    },
    reportExperiments() {
      return call<ExperimentReportResult>(
        'reportExperiments',
        (api) => api.reportExperiments(config.consent()),
        async () => ({ status: 'skipped' as const, reason: fallbackReason ?? 'engine unavailable' }),
        null,
      );
    },
    catalogChanged() {
      live?.api.catalogChanged().catch(() => undefined);
    },
    async reset() {
      const current = live;
      live = null;
      restarts = 0;
      if (!current) return;
      try {
        // Let the worker close its IndexedDB connection; terminate() alone may leave it open
        // until the worker is collected, and the deletion would wait on it.
        await withTimeout(current.api.close(), 2_000, current.crashed, 'close');
      } catch (error) {
        logger.debug('The engine worker did not close cleanly.', error);
      }
      current.worker.terminate();
    },
    dispose() {
      disposed = true;
      stopIdle();
      listeners.clear();
      kill();
    },
  };
}

function moduleUrl(): string {
  try {
    return String(import.meta.url);
  } catch {
    return '';
  }
}

function canUseImportMetaUrl(): boolean {
  try {
    return typeof import.meta.url === 'string' && import.meta.url !== '';
  } catch {
    return false;
  }
}
