/**
 * Starting the engine worker and saying why it did not start, tested alone: a worker on another
 * origin starts through a same-origin blob: shim, a load failure is put in words a developer can act
 * on (a 404, a missing CORS header, a CSP), and the worker's own load report reaches the page.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { diagnoseWorkerLoad, isCrossOrigin, startModuleWorker, type WorkerFactory } from '../../src/client/worker-launch.js';
import { reportLoadFailures, workerSignalOf, WORKER_SIGNAL } from '../../src/protocol/worker-signals.js';

const PAGE = 'https://shop.example/p/sku-1';

function fakeFactory() {
  const started: { url: string; options?: WorkerOptions }[] = [];
  const blobs = new Map<string, Blob>();
  const revoked: string[] = [];
  const factory: WorkerFactory = {
    Worker: class {
      constructor(url: string | URL, options?: WorkerOptions) {
        started.push({ url: String(url), options });
      }
    } as unknown as WorkerFactory['Worker'],
    createObjectURL(blob) {
      const url = `blob:${PAGE.slice(0, 'https://shop.example'.length)}/${blobs.size}`;
      blobs.set(url, blob);
      return url;
    },
    revokeObjectURL: (url) => void revoked.push(url),
  };
  return { factory, started, blobs, revoked };
}

const answering = (status: number): typeof fetch => (async () => new Response('', { status })) as typeof fetch;
const refusing: typeof fetch = async () => {
  throw new TypeError('Failed to fetch');
};

afterEach(() => {
  vi.useRealTimers();
});

describe('starting the engine worker', () => {
  it('tells another origin from the page’s own, and treats what it cannot parse as same-origin', () => {
    expect(isCrossOrigin('https://cdn.example/hearth/hearth.worker.js', PAGE)).toBe(true);
    expect(isCrossOrigin('/hearth/hearth.worker.js', PAGE)).toBe(false);
    expect(isCrossOrigin('https://shop.example:8443/hearth.worker.js', PAGE)).toBe(true);
    expect(isCrossOrigin('https://cdn.example/hearth.worker.js', undefined)).toBe(false);
    expect(isCrossOrigin('http://[bad', PAGE)).toBe(false);
  });

  it('starts a same-origin worker directly, as a module worker', () => {
    const { factory, started, blobs } = fakeFactory();
    startModuleWorker('https://shop.example/hearth/hearth.worker.js', PAGE, factory);
    expect(started).toEqual([{ url: 'https://shop.example/hearth/hearth.worker.js', options: { type: 'module' } }]);
    expect(blobs.size).toBe(0);
  });

  it('starts a worker from a CDN through a blob: shim whose one line imports it, and revokes the shim later', async () => {
    vi.useFakeTimers();
    const { factory, started, blobs, revoked } = fakeFactory();
    const cdn = 'https://cdn.example/hearth/hearth.worker.js';
    startModuleWorker(cdn, PAGE, factory);
    expect(started).toHaveLength(1);
    expect(started[0]!.url.startsWith('blob:')).toBe(true);
    expect(started[0]!.options).toEqual({ type: 'module' });
    expect(await blobs.get(started[0]!.url)!.text()).toBe(`import "${cdn}";\n`);
    expect(revoked).toEqual([]);
    vi.advanceTimersByTime(30_000);
    expect(revoked).toEqual([started[0]!.url]);
  });
});

describe('why the engine worker did not load', () => {
  const own = 'https://shop.example/assets/hearth.worker.js';
  const cdn = 'https://cdn.example/hearth/hearth.worker.js';

  it('a 404: names the file and the copy (or engine.workerUrl) a bundler without asset support needs', async () => {
    const why = await diagnoseWorkerLoad(own, PAGE, answering(404));
    expect(why).toContain(`(${own}) was not found (HTTP 404)`);
    expect(why).toContain('hearth.worker*.js and wasm/ copied next to the bundle');
    expect(why).toContain('engine.workerUrl');
  });

  it('another origin that refuses the fetch: names the missing Access-Control-Allow-Origin header', async () => {
    expect(await diagnoseWorkerLoad(cdn, PAGE, refusing)).toContain('does not send Access-Control-Allow-Origin');
    expect(await diagnoseWorkerLoad(own, PAGE, refusing)).toContain('network error or a Content-Security-Policy refusal');
  });

  it('a script that loads but did not start: blob: in worker-src from a CDN, an evaluation error or worker-src on the same origin', async () => {
    expect(await diagnoseWorkerLoad(cdn, PAGE, answering(200))).toContain('needs blob: in worker-src');
    expect(await diagnoseWorkerLoad(own, PAGE, answering(200))).toContain('its script failed to evaluate');
    expect(await diagnoseWorkerLoad(own, PAGE, answering(503))).toContain('answered HTTP 503');
  });

  it('without a URL (a bundler rewrote it), says what it can', async () => {
    expect(await diagnoseWorkerLoad(undefined, PAGE, answering(404))).toBe('the engine worker script could not be loaded');
  });
});

describe("the worker's load report", () => {
  function fakeScope() {
    const listeners = new Map<string, (event: Event) => void>();
    const posted: unknown[] = [];
    return {
      posted,
      listeners,
      scope: {
        postMessage: (message: unknown) => void posted.push(message),
        addEventListener: (type: string, listener: (event: Event) => void) => void listeners.set(type, listener),
        removeEventListener: (type: string) => void listeners.delete(type),
      },
    };
  }

  it('reports the first error or unhandled rejection while loading, then "loaded", and stops listening', () => {
    const { scope, posted, listeners } = fakeScope();
    const report = reportLoadFailures(scope);
    listeners.get('unhandledrejection')!(Object.assign(new Event('unhandledrejection'), { reason: new TypeError('wasm fetch failed') }));
    listeners.get('error')!(Object.assign(new Event('error'), { message: 'ReferenceError: __filename is not defined' }));
    report.loaded();
    expect(posted).toEqual([
      { [WORKER_SIGNAL]: 'error', message: 'TypeError: wasm fetch failed' },
      { [WORKER_SIGNAL]: 'error', message: 'ReferenceError: __filename is not defined' },
      { [WORKER_SIGNAL]: 'loaded' },
    ]);
    expect(listeners.size).toBe(0);
  });

  it("the page recognises the two signals and leaves comlink's messages alone", () => {
    expect(workerSignalOf({ [WORKER_SIGNAL]: 'loaded' })).toEqual({ [WORKER_SIGNAL]: 'loaded' });
    expect(workerSignalOf({ [WORKER_SIGNAL]: 'error', message: 'x' })).toEqual({ [WORKER_SIGNAL]: 'error', message: 'x' });
    expect(workerSignalOf({ id: 'c0ffee', type: 'RETURN', value: 1 })).toBeUndefined();
    expect(workerSignalOf({ [WORKER_SIGNAL]: 'other' })).toBeUndefined();
    expect(workerSignalOf(null)).toBeUndefined();
    expect(workerSignalOf(undefined)).toBeUndefined();
  });
});
