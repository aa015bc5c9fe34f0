/**
 * Starting the engine worker where the page's scripts come from another origin (a CDN), and
 * saying exactly why a worker did not load. No tfjs here: this ships in the page's bundles.
 *
 * Browsers refuse `new Worker(url)` for a script on another origin, even with CORS. A module
 * worker started from a same-origin `blob:` URL whose only line is `import "<url>"` works when the
 * CDN sends `Access-Control-Allow-Origin` (which the tag's `import()` of its runtime needs anyway),
 * and the worker keeps the page's origin, so it opens the page's IndexedDB. A page whose CSP lists
 * `worker-src` must allow `blob:` for it.
 */

/** True when `url` is on another origin than the page's (`pageHref`). */
export function isCrossOrigin(url: string, pageHref: string | undefined): boolean {
  if (!pageHref) return false;
  try {
    return new URL(url, pageHref).origin !== new URL(pageHref).origin;
  } catch {
    return false;
  }
}

export interface WorkerFactory {
  Worker: new (url: string | URL, options?: WorkerOptions) => Worker;
  createObjectURL(blob: Blob): string;
  revokeObjectURL(url: string): void;
}

function browserFactory(): WorkerFactory {
  return { Worker, createObjectURL: (blob) => URL.createObjectURL(blob), revokeObjectURL: (url) => URL.revokeObjectURL(url) };
}

/**
 * A module worker for `url`: directly when it is on the page's origin, else through a blob shim.
 *
 * @example
 * ```ts
 * const worker = startModuleWorker('https://cdn.example/hearth/hearth.worker.js', location.href);
 * ```
 */
export function startModuleWorker(url: string, pageHref: string | undefined, factory: WorkerFactory = browserFactory()): Worker {
  if (!isCrossOrigin(url, pageHref)) return new factory.Worker(url, { type: 'module' });
  const shim = factory.createObjectURL(new Blob([`import ${JSON.stringify(url)};\n`], { type: 'text/javascript' }));
  try {
    return new factory.Worker(shim, { type: 'module' });
  } finally {
    // The worker has fetched nothing yet but holds its own reference to the blob's contents once
    // started; revoking after a turn keeps the URL from leaking.
    setTimeout(() => factory.revokeObjectURL(shim), 30_000);
  }
}

/**
 * Why the worker script at `url` did not load, in words a developer can act on. Called only after
 * a load failed (the `error` event of a module worker carries no message): it fetches the script
 * once to tell a 404 from a CORS refusal from a network error.
 */
export async function diagnoseWorkerLoad(url: string | undefined, pageHref: string | undefined, fetchImpl: typeof fetch | undefined = globalThis.fetch): Promise<string> {
  if (!url) return 'the engine worker script could not be loaded';
  const where = `the engine worker (${url})`;
  const crossOrigin = isCrossOrigin(url, pageHref);
  if (typeof fetchImpl !== 'function') return `${where} could not be loaded`;
  let status: number;
  try {
    status = (await fetchImpl(url, { cache: 'no-store' })).status;
  } catch {
    return crossOrigin
      ? `${where} is on another origin that does not send Access-Control-Allow-Origin (or is unreachable); serve Hearth's files with that header, or from the page's origin`
      : `${where} could not be fetched (network error or a Content-Security-Policy refusal)`;
  }
  if (status === 404) {
    return `${where} was not found (HTTP 404); a bundler that does not emit files referenced by new URL(…, import.meta.url) (esbuild, Rollup without a plugin) needs hearth.worker*.js and wasm/ copied next to the bundle, or engine.workerUrl set`;
  }
  if (status >= 400) return `${where} answered HTTP ${status}`;
  return crossOrigin
    ? `${where} loads but the worker did not start; its page needs blob: in worker-src (Hearth starts a cross-origin worker through a blob: shim)`
    : `${where} loads but the worker did not start (its script failed to evaluate, or a Content-Security-Policy worker-src refused it)`;
}
