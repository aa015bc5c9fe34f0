/**
 * Choosing the tfjs backend in the worker: WebGPU, then WebGL, WASM, CPU, by capability and by a
 * short measurement of the real model on first run; the choice is cached in store meta.
 *
 * Why not "WebGPU when present": a software adapter (SwiftShader, `isFallbackAdapter`) runs this
 * model ~15× slower than WASM SIMD on the same machine, and WebGL on a software renderer ~10×
 * slower. Those are skipped by capability (unless forced); real GPUs are measured against WASM.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import type { BackendName, EngineInfo } from '../protocol/engine-types.js';
import type { HearthStore } from '../store/types.js';
import type { Logger } from '../shared/logger.js';

/** Store meta key of the cached choice. */
export const BACKEND_META = 'engine.backend';
/** A cached choice is measured again after this long (a new GPU driver, a browser update). */
const CACHE_MS = 30 * 24 * 3600 * 1000;

export type AdapterInfo = NonNullable<EngineInfo['adapter']>;

export interface BackendChoice {
  backend: BackendName;
  reason: string;
  adapter: AdapterInfo | null;
  /** Milliseconds per forward pass of the real model, per measured backend. */
  timings: Partial<Record<BackendName, number>>;
}

interface CachedChoice extends BackendChoice {
  userAgent: string;
  at: number;
}

export interface ChooseBackendOptions {
  /** `engine.backend`: use this one when it starts. */
  forced?: BackendName;
  /** Registers a backend that is loaded on demand (e.g. WebGL in its own chunk). */
  load?: Partial<Record<BackendName, () => Promise<unknown>>>;
  /** One forward pass of the real model on the current backend, awaited until its data is read. */
  measure: () => Promise<void>;
  store?: Pick<HearthStore, 'getMeta' | 'setMeta'>;
  logger: Logger;
  now?: () => number;
  userAgent?: string;
}

interface GpuLike {
  requestAdapter(options?: unknown): Promise<{
    isFallbackAdapter?: boolean;
    info?: { vendor?: string; architecture?: string; isFallbackAdapter?: boolean };
    requestAdapterInfo?: () => Promise<{ vendor?: string; architecture?: string }>;
  } | null>;
}

/**
 * The probed adapter is kept alive: in Chromium, letting a probed adapter be collected can take
 * the WebGPU instance with it ("A valid external Instance reference no longer exists"), killing
 * the device tfjs requested afterwards.
 */
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- held, never read: see above.
let probedAdapter: unknown = null;

/** The WebGPU adapter as the browser describes it, or null (no WebGPU, no adapter). */
export async function probeWebGpu(): Promise<AdapterInfo | null> {
  const gpu = (globalThis.navigator as unknown as { gpu?: GpuLike } | undefined)?.gpu;
  if (!gpu) return null;
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return null;
    probedAdapter = adapter;
    const info = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : {});
    const fallback = adapter.isFallbackAdapter === true || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
    const vendor = info.vendor ?? '';
    const architecture = info.architecture ?? '';
    // SwiftShader reports vendor "google", architecture "swiftshader" on some versions without the flag.
    const software = fallback || /swiftshader|llvmpipe|software/i.test(`${vendor} ${architecture}`);
    return { vendor, architecture, isFallbackAdapter: software };
  } catch {
    return null;
  }
}

/** The WebGL renderer string, and whether it is a software rasteriser; null without WebGL. */
export function probeWebGl(): { renderer: string; software: boolean } | null {
  try {
    const canvas: { getContext(kind: string): unknown } | null =
      typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1) : typeof document !== 'undefined' ? document.createElement('canvas') : null;
    const gl = canvas?.getContext('webgl2') as WebGL2RenderingContext | null | undefined;
    if (!gl) return null;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '');
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return { renderer, software: /swiftshader|llvmpipe|software|basic render/i.test(renderer) };
  } catch {
    return null;
  }
}

async function activate(name: BackendName, load: ChooseBackendOptions['load'], logger: Logger): Promise<boolean> {
  try {
    if (!tf.findBackendFactory(name)) await load?.[name]?.();
    if (!tf.findBackendFactory(name)) return false;
    const ok = await tf.setBackend(name);
    if (ok) await tf.ready();
    return ok && tf.getBackend() === name;
  } catch (error) {
    logger.debug(`The ${name} backend did not start.`, error);
    return false;
  }
}

async function time(measure: () => Promise<void>, now: () => number): Promise<number> {
  await measure(); // warm-up: shader compilation, wasm instantiation
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = now();
    await measure();
    runs.push(now() - start);
  }
  return runs.sort((a, b) => a - b)[1] as number;
}

/**
 * Chooses, activates and caches the backend. Never rejects: CPU is the last resort.
 *
 * @example
 * ```ts
 * const choice = await chooseBackend({ forced: options.backend, measure: () => probeModel(), store, logger });
 * console.log(choice.backend, choice.reason);
 * ```
 */
export async function chooseBackend(options: ChooseBackendOptions): Promise<BackendChoice> {
  const { logger, load } = options;
  const now = options.now ?? (() => (typeof performance !== 'undefined' ? performance.now() : Date.now()));
  const userAgent = options.userAgent ?? (typeof navigator !== 'undefined' ? navigator.userAgent : 'node');
  const adapter = await probeWebGpu();
  const notes: string[] = [];

  if (options.forced) {
    // A forced backend still has to run the model: a backend that starts but cannot compute
    // (a lost GPU device) would otherwise fail every later call.
    if (await activate(options.forced, load, logger)) {
      try {
        const ms = await time(options.measure, now);
        return { backend: options.forced, reason: `forced by engine.backend (${ms.toFixed(1)} ms per forward pass)`, adapter, timings: { [options.forced]: ms } };
      } catch (error) {
        notes.push(`engine.backend "${options.forced}" started but failed a forward pass (${error instanceof Error ? error.message : String(error)})`);
      }
    } else {
      notes.push(`engine.backend "${options.forced}" could not start`);
    }
  }

  const cached = await options.store?.getMeta<CachedChoice>(BACKEND_META).catch(() => undefined);
  if (!options.forced && cached && cached.userAgent === userAgent && Date.now() - cached.at < CACHE_MS && (await activate(cached.backend, load, logger))) {
    return { backend: cached.backend, reason: `cached from the first run: ${cached.reason}`, adapter, timings: cached.timings };
  }

  const candidates: BackendName[] = [];
  if (adapter && !adapter.isFallbackAdapter) candidates.push('webgpu');
  else notes.push(adapter ? 'WebGPU skipped: software adapter (fallback), slower than WASM' : 'no WebGPU adapter');
  const gl = probeWebGl();
  if (gl && !gl.software) candidates.push('webgl');
  else notes.push(gl ? `WebGL skipped: software renderer (${gl.renderer})` : 'no WebGL');
  candidates.push('wasm');

  const timings: Partial<Record<BackendName, number>> = {};
  for (const name of candidates) {
    if (!(await activate(name, load, logger))) {
      notes.push(`${name} did not start`);
      continue;
    }
    try {
      timings[name] = await time(options.measure, now);
    } catch (error) {
      notes.push(`${name} failed the measurement`);
      logger.debug(`The ${name} backend failed the measurement.`, error);
    }
  }
  const measured = Object.entries(timings).sort((a, b) => (a[1] as number) - (b[1] as number));
  let backend: BackendName = 'cpu';
  if (measured.length > 0) backend = measured[0]![0] as BackendName;
  if (!(await activate(backend, load, logger))) {
    backend = 'cpu';
    await activate('cpu', load, logger);
  }
  const figures = measured.map(([name, ms]) => `${name} ${(ms as number).toFixed(1)} ms`).join(', ');
  const reason = measured.length > 1 ? `fastest forward pass on first run (${figures})` : measured.length === 1 ? `the only fast backend available (${figures})` : 'nothing else started';
  const choice: BackendChoice = { backend, reason: notes.length ? `${reason}; ${notes.join('; ')}` : reason, adapter, timings };
  await options.store?.setMeta(BACKEND_META, { ...choice, userAgent, at: Date.now() } satisfies CachedChoice).catch(() => undefined);
  return choice;
}

/**
 * The WASM backend's thread count once it has started; null before that. tfjs picks its threaded
 * build by itself where SharedArrayBuffer can be posted (the page is cross-origin isolated) and
 * then computes on half the logical cores (it assumes two hyper-threads a core), at most 8.
 */
export function wasmThreads(): number | null {
  try {
    return getThreadsCount();
  } catch {
    return null;
  }
}
