/**
 * The worker side of the engine API: opens the store, chooses the backend, and forwards every
 * call to an {@link EngineCore}. `workers/engine.worker.ts` exposes what this returns.
 */
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { openStore } from '../store/open-store.js';
import { createLogger, silentLogger, type Logger } from '../logger.js';
import { createRecommender } from '../model/sasrec-recommender.js';
import type { SequenceRecommender } from '../model/contract.js';
import { HearthError } from '../errors.js';
import type { BackendName, EngineInfo } from './types.js';
import type { EngineWorkerApi, EngineWorkerInit } from './worker-api.js';
import { EngineCore } from './engine-core.js';
import { chooseBackend } from './backend.js';

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

  const start = async (init: EngineWorkerInit, onProgress?: Parameters<EngineWorkerApi['start']>[1]): Promise<EngineInfo> => {
    logger = init.debug ? createLogger(() => true, '[hearth worker]') : silentLogger;
    tf.env().set('PROD', true);
    if (!wasmPathSet) {
      // Before any backend starts: the wasm backend cannot be re-pointed once it has tried to load.
      setWasmPaths(init.engine.wasmPath ?? new URL('wasm/', host.selfUrl).href);
      wasmPathSet = true;
    }
    const store = await openStore({
      name: init.dbName,
      logger,
      onVersionChange: (change) => {
        // Another tab (or the page's forget()) deleted the database: drop everything.
        if (change.deleted) void api.close();
      },
    });
    const probe = measurer(init);
    const choice = await chooseBackend({ ...(init.engine.backend ? { forced: init.engine.backend } : {}), ...(host.load ? { load: host.load } : {}), measure: probe.measure, store, logger });
    probe.dispose();
    logger.debug(`Backend ${choice.backend}: ${choice.reason}`);
    core = new EngineCore({
      store,
      options: init.engine,
      ...(init.federated ? { federated: init.federated } : {}),
      logger,
      backend: { backend: choice.backend, reason: choice.reason, adapter: choice.adapter },
      onProgress: (progress) => {
        if (!onProgress) return;
        Promise.resolve(onProgress(progress)).catch(() => undefined);
      },
    });
    await core.start();
    return core.info();
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
      return (await ready()).recommend(options, recent, consent);
    },
    async similarItems(itemId, k) {
      return (await ready()).similarItems(itemId, k);
    },
    async trending(k, recent, consent) {
      return (await ready()).trending(k, recent, consent);
    },
    async intent(recent, consent) {
      return (await ready()).intent(recent, consent);
    },
    async info() {
      return (await ready()).info();
    },
    async train(consent) {
      return (await ready()).train(consent);
    },
    cancelTraining() {
      core?.cancelTraining();
    },
    async federatedRound(consent) {
      return (await ready()).federatedRound(consent);
    },
    async lastUpload() {
      return (await ready()).lastUpload();
    },
    catalogChanged() {
      core?.catalogChanged();
    },
    async idle(consent) {
      return (await ready()).idle(consent);
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
