/**
 * The worker side of the engine API: opens the store, chooses the backend, and forwards every
 * call to an {@link EngineCore}. `src/entries/worker.ts` exposes what this returns.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { openStore } from '../store/open-store.js';
import { createLogger, silentLogger, type Logger } from '../shared/logger.js';
import { createRecommender } from '../model/sasrec-recommender.js';
import type { SequenceRecommender } from '../model/contract.js';
import { HearthError, errorCodeOf } from '../protocol/errors.js';
import type { BackendName, EngineInfo } from '../protocol/engine-types.js';
import type { EngineWorkerApi, EngineWorkerInit } from '../protocol/worker-api.js';
import { EngineCore, type BackendReport } from './engine-core.js';
import { BACKEND_META, chooseBackend } from './backend.js';

export interface WorkerHostOptions {
  /** The worker script's own URL (`self.location.href`): `wasm/` next to it is the default wasm path. */
  selfUrl: string;
  /** Backends loaded on demand (their own chunks). */
  load?: Partial<Record<BackendName, () => Promise<unknown>>>;
}

/** A forward pass of a model of the configured size over 1,000 items and 50 events. */
function measurer(init: EngineWorkerInit): { measure: () => Promise<void>; dispose: () => void } {
  let model: SequenceRecommender | null = null;
  let on = '';
  const items = Array.from({ length: 1000 }, (_, i) => ({ id: `m${i}`, category: `c${i % 20}` }));
  const history = Array.from({ length: 50 }, (_, i) => ({ itemId: `m${(i * 7) % 1000}`, type: 'view_item' as const, time: i }));
  return {
    async measure() {
      if (!model || on !== tf.getBackend()) {
        model?.dispose();
        model = createRecommender({ items, config: init.engine.recommender ?? {} });
        on = tf.getBackend();
      }
      model.score(history);
      // An asynchronous read too: on a broken GPU device the synchronous path can still succeed.
      const probe = tf.ones([4]);
      try {
        await probe.data();
      } finally {
        probe.dispose();
      }
    },
    dispose() {
      model?.dispose();
      model = null;
    },
  };
}

/**
 * @example
 * ```ts
 * expose(createWorkerHost({ selfUrl: self.location.href, load: { webgl: () => import('@tensorflow/tfjs-backend-webgl') } }));
 * ```
 */
export function createWorkerHost(host: WorkerHostOptions): EngineWorkerApi {
  let core: EngineCore | null = null;
  let starting: Promise<EngineInfo> | null = null;
  let logger: Logger = silentLogger;
  let wasmPathSet = false;

  const ready = async (): Promise<EngineCore> => {
    if (!starting) throw new HearthError('engine_unavailable', 'The engine worker was not started (call start() first)');
    await starting;
    if (!core) throw new HearthError('engine_unavailable', 'The engine worker was closed');
    return core;
  };

  let lastInit: EngineWorkerInit | null = null;
  let lastProgress: Parameters<EngineWorkerApi['start']>[1];
  let recovered = false;

  const openEngineStore = (init: EngineWorkerInit) =>
    openStore({
      name: init.dbName,
      logger,
      onVersionChange: (change) => {
        // Another tab (or the page's forget()) deleted the database: drop everything.
        if (change.deleted) void api.close();
      },
    });

  const makeCore = (init: EngineWorkerInit, store: Awaited<ReturnType<typeof openStore>>, backend: BackendReport, onProgress?: Parameters<EngineWorkerApi['start']>[1]): EngineCore =>
    new EngineCore({
      store,
      options: init.engine,
      ...(init.federated ? { federated: init.federated } : {}),
      logger,
      backend,
      onProgress: (progress) => {
        if (!onProgress) return;
        Promise.resolve(onProgress(progress)).catch(() => undefined);
      },
    });

  const start = async (init: EngineWorkerInit, onProgress?: Parameters<EngineWorkerApi['start']>[1]): Promise<EngineInfo> => {
    logger = init.debug ? createLogger(() => true, '[hearth worker]') : silentLogger;
    lastInit = init;
    lastProgress = onProgress;
    tf.env().set('PROD', true);
    if (!wasmPathSet) {
      // Before any backend starts: the wasm backend cannot be re-pointed once it has tried to load.
      setWasmPaths(init.engine.wasmPath ?? new URL('wasm/', host.selfUrl).href);
      wasmPathSet = true;
    }
    const store = await openEngineStore(init);
    const probe = measurer(init);
    const choice = await chooseBackend({ ...(init.engine.backend ? { forced: init.engine.backend } : {}), ...(host.load ? { load: host.load } : {}), measure: probe.measure, store, logger });
    probe.dispose();
    logger.debug(`Backend ${choice.backend}: ${choice.reason}`);
    core = makeCore(init, store, { backend: choice.backend, reason: choice.reason, adapter: choice.adapter }, onProgress);
    await core.start();
    return core.info();
  };

  /**
   * A GPU backend that fails at run time (a lost device: seen with SwiftShader's WebGPU adapter in
   * a worker) moves the engine to WASM once: the models are rebuilt from their checkpoints and
   * the call is retried. Errors the engine raises on purpose pass through.
   */
  const guarded = async <T>(fn: (c: EngineCore) => Promise<T>): Promise<T> => {
    const current = await ready();
    try {
      return await fn(current);
    } catch (error) {
      const backend = tf.getBackend();
      if (errorCodeOf(error) !== undefined || recovered || !lastInit || (backend !== 'webgpu' && backend !== 'webgl')) throw error;
      recovered = true;
      const why = `${backend} failed at run time (${error instanceof Error ? error.message : String(error)}); switched to wasm`;
      logger.warnOnce('backend-recovery', `The ${backend} backend failed; the engine moved to WASM.`, error);
      const init = lastInit;
      core = null;
      starting = (async () => {
        try {
          await current.close();
        } catch {
          // Models on a lost device may not dispose cleanly.
        }
        const ok = (await tf.setBackend('wasm').catch(() => false)) || (await tf.setBackend('cpu'));
        if (!ok) throw new HearthError('engine_unavailable', 'No backend left after a GPU failure');
        const store = await openEngineStore(init);
        const report: BackendReport = { backend: tf.getBackend() as BackendName, reason: why, adapter: current.info().adapter };
        // Remembered like a first-run choice, so the next page does not try the failing GPU again.
        const userAgent = typeof navigator !== 'undefined' ? navigator.userAgent : 'node';
        await store.setMeta(BACKEND_META, { ...report, timings: {}, userAgent, at: Date.now() }).catch(() => undefined);
        core = makeCore(init, store, report, lastProgress);
        await core.start();
        return core.info();
      })();
      return fn(await ready());
    }
  };

  const api: EngineWorkerApi = {
    start(init, onProgress) {
      starting ??= start(init, onProgress);
      starting.catch(() => {
        starting = null;
      });
      return starting;
    },
    async recommend(options, recent, consent) {
      return guarded((c) => c.recommend(options, recent, consent));
    },
    async similarItems(itemId, k) {
      return guarded((c) => c.similarItems(itemId, k));
    },
    async trending(k, recent, consent) {
      return guarded((c) => c.trending(k, recent, consent));
    },
    async intent(recent, consent) {
      return guarded((c) => c.intent(recent, consent));
    },
    async info() {
      return (await ready()).info();
    },
    async train(consent) {
      return guarded((c) => c.train(consent));
    },
    cancelTraining() {
      core?.cancelTraining();
    },
    async federatedRound(consent) {
      return guarded((c) => c.federatedRound(consent));
    },
    async lastUpload() {
      return (await ready()).lastUpload();
    },
    async reportExperiments(consent) {
      return guarded((c) => c.reportExperiments(consent));
    },
    catalogChanged() {
      core?.catalogChanged();
    },
    async idle(consent) {
      return guarded((c) => c.idle(consent));
    },
    async close() {
      const current = core;
      core = null;
      starting = null;
      await current?.close();
    },
  };
  return api;
}
