/**
 * The page-side engine client against a fake worker (a MessageChannel with the worker API exposed
 * on the other end): errors with a code are revived on the page, a crashed worker is restarted once
 * and the call retried, a worker that cannot start leaves the page on fallbacks with info() saying
 * why, an AbortSignal cancels training across the boundary, and reset() closes the worker.
 */
import { describe, expect, test, vi } from 'vitest';
import { MessageChannel } from 'node:worker_threads';
import { expose } from 'comlink';
import { createEngineClient } from '../../src/client/engine-client.js';
import { HearthError } from '../../src/protocol/errors.js';
import { silentLogger } from '../../src/shared/logger.js';
import type { EngineWorkerApi } from '../../src/protocol/worker-api.js';
import type { EngineInfo } from '../../src/protocol/engine-types.js';

const consent = { personalise: true, contribute: false, updatedAt: 1 };
const info: EngineInfo = {
  status: 'ready',
  backend: 'wasm',
  backendReason: 'test',
  wasmThreads: 1,
  adapter: null,
  parameters: { recommender: 1, intent: 1 },
  lastTrainedAt: null,
  lastLoss: null,
  globalModelVersion: null,
  fallbackReason: null,
};

type FakeWorker = Worker & { crash(message: string): void; terminated: boolean };

/** A Worker look-alike whose other end runs `api` in this thread. */
function fakeWorker(api: Partial<EngineWorkerApi>): FakeWorker {
  const { port1, port2 } = new MessageChannel();
  expose({ start: async () => info, info: async () => info, close: async () => undefined, ...api }, port2 as unknown as MessagePort);
  const target = new EventTarget();
  const worker = {
    terminated: false,
    postMessage: (message: unknown, transfer?: Transferable[]) => port1.postMessage(message, transfer as never),
    addEventListener: (type: string, listener: EventListener) => (type === 'message' ? port1.addEventListener(type, listener as never) : target.addEventListener(type, listener)),
    removeEventListener: (type: string, listener: EventListener) => (type === 'message' ? port1.removeEventListener(type, listener as never) : target.removeEventListener(type, listener)),
    terminate() {
      worker.terminated = true;
      port1.close();
      port2.close();
    },
    crash(message: string) {
      const event = new Event('error') as Event & { message: string };
      event.message = message;
      target.dispatchEvent(event);
    },
  };
  port1.start();
  return worker as unknown as FakeWorker;
}

function client(createWorker: () => Worker, extra: Record<string, unknown> = {}) {
  return createEngineClient({ dbName: 'x', engine: { autoTrain: false }, consent: () => consent, logger: silentLogger, createWorker, ...extra });
}

describe('engine client', () => {
  test('hands the worker URLs resolved against the page (the worker would resolve them against its own script)', async () => {
    vi.stubGlobal('window', { location: { href: 'https://shop.example/store/p/42' }, addEventListener() {}, removeEventListener() {} });
    try {
      let seen: unknown;
      const engine = createEngineClient({
        dbName: 'x',
        engine: { autoTrain: false, modelUrl: 'model/model.json', intentModelUrl: '/m/intent/model.json', wasmPath: 'https://cdn.example/wasm/' },
        federated: { serverUrl: '../fl', siteKey: 'key-12345678' },
        consent: () => consent,
        logger: silentLogger,
        createWorker: () => fakeWorker({ start: async (init) => ((seen = init), info) }),
      });
      await engine.info();
      expect(seen).toMatchObject({
        engine: { modelUrl: 'https://shop.example/store/p/model/model.json', intentModelUrl: 'https://shop.example/m/intent/model.json', wasmPath: 'https://cdn.example/wasm/' },
        federated: { serverUrl: 'https://shop.example/store/fl', siteKey: 'key-12345678' },
      });
      engine.dispose();
    } finally {
      vi.unstubAllGlobals();
    }
  });

  test('revives errors by code: the page sees a HearthError with the worker’s message', async () => {
    const engine = client(() =>
      fakeWorker({
        similarItems: async (id) => {
          throw new HearthError('unknown_item', `Unknown item "${id}"`);
        },
      }),
    );
    const error = await engine.similarItems('nope', 3).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HearthError);
    expect(error).toMatchObject({ code: 'unknown_item', message: 'Unknown item "nope"' });
    engine.dispose();
  });

  test('restarts a crashed worker once and retries the call', async () => {
    const workers: FakeWorker[] = [];
    const engine = client(() => {
      const w = fakeWorker({
        recommend: async () => {
          if (workers.length === 1) {
            setTimeout(() => w.crash('boom'), 5);
            return new Promise(() => undefined);
          }
          return [{ itemId: 'a', score: 1, because: [], source: 'model' }];
        },
      });
      workers.push(w);
      return w;
    });
    const recs = await engine.recommend({ k: 1 }, []);
    expect(recs[0]?.itemId).toBe('a');
    expect(workers).toHaveLength(2);
    expect(workers[0]!.terminated).toBe(true);
    engine.dispose();
  });

  test('a worker that keeps crashing leaves the page on fallbacks, and info() says why', async () => {
    let made = 0;
    const engine = client(
      () => {
        made++;
        const w = fakeWorker({ start: () => new Promise(() => undefined) });
        setTimeout(() => w.crash('script failed to load'), 5);
        return w;
      },
      {
        store: {
          getCatalog: async () => [
            { id: 'c1', title: 'C1', inStock: true },
            { id: 'c2', title: 'C2', inStock: false },
          ],
          readEvents: async () => [],
        },
      },
    );
    const recs = await engine.recommend({ k: 5 }, []);
    expect(recs.map((r) => r.itemId)).toEqual(['c1']);
    const status = await engine.info();
    expect(status.status).toBe('fallback');
    expect(status.fallbackReason).toMatch(/script failed to load/);
    expect(made).toBe(2);
    expect(await engine.intent([])).toMatchObject({ source: 'heuristic' });
    engine.dispose();
  });

  test('an AbortSignal cancels training in the worker; progress reaches the page', async () => {
    const cancel = vi.fn();
    let reject: (e: unknown) => void = () => undefined;
    let progress: ((p: unknown) => void) | undefined;
    const engine = client(() =>
      fakeWorker({
        start: async (_init, onProgress) => {
          progress = onProgress as (p: unknown) => void;
          return info;
        },
        train: () =>
          new Promise((_, r) => {
            reject = r;
            void progress?.({ model: 'recommender', epoch: 1, epochs: 2, loss: 3, fraction: 0.5 });
          }),
        cancelTraining: () => {
          cancel();
          reject(new HearthError('aborted', 'training was cancelled'));
        },
      }),
    );
    const seen: number[] = [];
    engine.onProgress((p) => seen.push(p.fraction));
    const controller = new AbortController();
    const run = engine.train({ signal: controller.signal });
    await vi.waitFor(() => expect(seen).toEqual([0.5]));
    controller.abort();
    await expect(run).rejects.toMatchObject({ code: 'aborted' });
    expect(cancel).toHaveBeenCalledTimes(1);
    engine.dispose();
  });

  test('reset() asks the worker to close, then terminates it; the next call starts a new one', async () => {
    const closed = vi.fn();
    const workers: FakeWorker[] = [];
    const engine = client(() => {
      const w = fakeWorker({ close: async () => closed() });
      workers.push(w);
      return w;
    });
    await engine.info();
    await engine.reset();
    expect(closed).toHaveBeenCalledTimes(1);
    expect(workers[0]!.terminated).toBe(true);
    await engine.info();
    expect(workers).toHaveLength(2);
    engine.dispose();
  });

  test('engine.enabled: false never creates a worker', async () => {
    const create = vi.fn();
    const engine = createEngineClient({ dbName: 'x', engine: { enabled: false }, consent: () => consent, logger: silentLogger, createWorker: create });
    expect((await engine.info()).status).toBe('fallback');
    expect(await engine.recommend({ k: 2 }, [])).toEqual([]);
    expect(create).not.toHaveBeenCalled();
  });
});
