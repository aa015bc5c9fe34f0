/**
 * The script-tag build (`dist/hearth.iife.js`, global `Hearth`). It configures itself from its own
 * `data-*` attributes and replays the pre-init queue:
 *
 * ```html
 * <script>window.hearth = window.hearth || []; hearth.push(['track', { type: 'page_view' }]);</script>
 * <script src="/hearth/hearth.iife.js" data-consent="opt-in" data-catalog="/catalog.json" async></script>
 * ```
 *
 * An experiment from the queue: `hearth.push(['experiment', 'home-recs', { variants: ['model',
 * 'bestsellers'] }, (test) => { render(test.variant); test.exposed(); }])` (`'optimise'` likewise);
 * or in markup with `data-hearth-experiment` (see `hearth/experiment-markup.ts`).
 *
 * The tag holds the tracker only; the store and the engine client live in `hearth.runtime.js`,
 * loaded with `import()` from next to the tag (or `data-runtime`), so the tag stays small and
 * tracking starts before storage is ready. It sets no cookie and, besides its own files and the
 * catalog feed, makes no request; it needs neither `unsafe-eval` nor `unsafe-inline`.
 */
import { createHearth } from '../hearth/create-hearth.js';
import type { HearthOptions } from '../hearth/config.js';
import type { Hearth } from '../hearth/types.js';
import type { Runtime } from '../hearth/runtime.js';
import { describeError } from '../protocol/errors.js';
import { listOf } from '../tracker/array-like.js';

export { HearthError, hasErrorCode } from '../protocol/errors.js';
export { EVENT_TYPES } from '../protocol/event-types.js';

/** The live instance as `window.hearth`: the Hearth object plus a `push` that runs commands at once. */
export type LiveHearth = Hearth & { push(...commands: unknown[]): number };

type QueueWindow = Window & typeof globalThis & { hearth?: unknown };

const script: HTMLScriptElement | null = typeof document !== 'undefined' && document.currentScript instanceof HTMLScriptElement ? document.currentScript : null;
let live: LiveHearth | undefined;
/** Warnings about skipped commands are debug output: `data-debug` on the tag, or `debug` once started. */
let debug = script?.dataset.debug !== undefined && script.dataset.debug !== 'false';

function warn(message: string, detail?: unknown): void {
  if (debug && typeof console !== 'undefined') console.warn('[hearth]', message, detail ?? '');
}

function runtimeUrl(): string {
  const base = script?.src || (typeof location !== 'undefined' ? location.href : '');
  return new URL(script?.dataset.runtime || 'hearth.runtime.js', base).href;
}

async function loadRuntime(): Promise<Runtime> {
  // A computed specifier: bundlers leave it alone, the browser loads the file next to the tag.
  const url = runtimeUrl();
  const module = (await import(/* @vite-ignore */ url)) as { runtime: Runtime };
  return module.runtime;
}

/** Options from the tag's `data-*` attributes. */
export function optionsFromAttributes(data: DOMStringMap): HearthOptions {
  const options: Record<string, unknown> = {};
  const flag = (value: string | undefined): boolean | undefined => (value === undefined ? undefined : value !== 'false');
  if (data.consent !== undefined) options.consent = data.consent;
  if (data.catalog) options.catalog = data.catalog;
  if (data.autocapture !== undefined) options.autocapture = flag(data.autocapture);
  if (data.datalayer !== undefined) options.dataLayer = data.datalayer === '' || data.datalayer === 'true' ? true : data.datalayer === 'false' ? false : data.datalayer;
  if (data.debug !== undefined) options.debug = flag(data.debug);
  if (data.dbName !== undefined) options.dbName = data.dbName;
  if (data.flushInterval !== undefined) options.flushIntervalMs = Number(data.flushInterval);
  if (data.worker || data.modelUrl || data.intentModelUrl || data.engine !== undefined || data.autoTrain !== undefined) {
    const engine: Record<string, unknown> = {};
    if (data.engine !== undefined) engine.enabled = flag(data.engine);
    if (data.autoTrain !== undefined) engine.autoTrain = flag(data.autoTrain);
    if (data.worker) engine.workerUrl = data.worker;
    if (data.modelUrl) engine.modelUrl = data.modelUrl;
    if (data.intentModelUrl) engine.intentModelUrl = data.intentModelUrl;
    options.engine = engine;
  }
  if (data.federatedServer) options.federated = { serverUrl: data.federatedServer, siteKey: data.siteKey ?? '' };
  return options as HearthOptions;
}

/**
 * A queued command as a fresh array, or undefined when it is not one. Commands are page data and
 * may be hostile (a revoked Proxy, throwing getters): reading one may throw, and the callers
 * contain that.
 */
const commandOf = listOf;

/** The command's name for a warning; never throws, never serialises page data. */
function nameOf(command: unknown[] | undefined): string {
  const name = command?.[0];
  return typeof name === 'string' ? JSON.stringify(name.slice(0, 40)) : 'without a name';
}

/**
 * Runs one queued command. Whatever it throws (a malformed event, a hostile object) is contained:
 * the command is skipped with one debug warning and the next one runs.
 */
function run(hearth: Hearth, raw: unknown): void {
  let command: unknown[] | undefined;
  const report = (error: unknown): void => warn(`The command ${nameOf(command)} failed and was skipped.`, error);
  try {
    command = commandOf(raw);
    if (!command) throw new TypeError('A command is an array like ["track", { type: "page_view" }]');
    const [name, a, b] = command;
    if (name === 'track') hearth.track(a as never);
    else if (name === 'setCatalog') hearth.setCatalog(a as never).catch(report);
    else if (name === 'consent' && (a === 'grant' || a === 'revoke')) hearth.consent[a](b as never).catch(report);
    else if (name === 'flush') hearth.flush().catch(report);
    else if (name === 'forget') hearth.forget().catch(report);
    else if (name === 'on') hearth.on(a as 'event', b as never);
    else if (name === 'experiment' || name === 'optimise') {
      // ['experiment', name, options, callback]: the callback gets the assignment (or the choice).
      const callback = command[3];
      (name === 'experiment' ? hearth.experiment(a as never, b as never) : hearth.optimise(a as never, b as never)).then((answer: unknown) => {
        try {
          if (typeof callback === 'function') (callback as (answer: unknown) => void)(answer);
        } catch (error) {
          report(error); // The page's callback threw: reported like a failed command, never rethrown.
        }
      }, report);
    } else if (name !== 'init') throw new TypeError('Unknown command; expected one of: track, setCatalog, consent (grant|revoke), flush, forget, on, experiment, optimise, init');
    else if (live) warn('Hearth is already initialised; ["init"] was skipped.');
  } catch (error) {
    report(error);
  }
}

/** The commands queued before Hearth started; none when `window.hearth` cannot be read. */
function queued(): unknown[] {
  try {
    const queue = (window as QueueWindow).hearth;
    return Array.isArray(queue) ? Array.from(queue) : [];
  } catch {
    warn('window.hearth could not be read; its queued commands were skipped.');
    return [];
  }
}

/**
 * Starts Hearth (once per page), replays the queued commands in order and makes `window.hearth`
 * the live instance. A second call returns the first instance.
 *
 * @example
 * ```ts
 * const hearth = Hearth.init({ consent: 'opt-out' });
 * ```
 */
export function init(options?: HearthOptions): LiveHearth {
  if (live) {
    warn('Hearth is already initialised on this page; returning that instance.');
    return live;
  }
  const hearth = createHearth(options, { loadRuntime, scriptUrl: script?.src || undefined });
  try {
    debug ||= options?.debug === true;
  } catch {
    // Unreadable options were refused by createHearth already.
  }
  const pending = typeof window === 'undefined' ? [] : queued();
  // Live before the replay: a queued ["init"] is then recognised as a repeat and skipped.
  live = Object.assign(hearth, {
    push(...commands: unknown[]): number {
      for (const command of commands) run(hearth, command);
      return 0;
    },
  });
  for (const command of pending) run(hearth, command);
  if (typeof window !== 'undefined') (window as QueueWindow).hearth = live;
  return live;
}

function start(options: HearthOptions): void {
  try {
    init(options);
  } catch (error) {
    // A misconfigured tag: say so loudly, but never break the page.
    if (typeof console !== 'undefined') console.error('[hearth] Not started:', describeError(error));
  }
}

function autoInit(tag: HTMLScriptElement): void {
  const fromTag = optionsFromAttributes(tag.dataset);
  if (tag.dataset.autoInit !== 'false') {
    start(fromTag);
    return;
  }
  // Wait for ['init', options] in the queue (already there or pushed later), or Hearth.init().
  const win = window as QueueWindow;
  const initOf = (raw: unknown): HearthOptions | undefined => {
    try {
      const command = commandOf(raw);
      return command?.[0] === 'init' ? { ...fromTag, ...((command[1] as HearthOptions | undefined) ?? {}) } : undefined;
    } catch (error) {
      // A hostile init command is skipped; a later one may still start Hearth.
      warn('A queued ["init"] could not be read and was skipped.', error);
      return undefined;
    }
  };
  for (const command of queued()) {
    const options = initOf(command);
    if (options) return start(options);
  }
  const queue: unknown[] = queued();
  win.hearth = queue;
  queue.push = (...commands: unknown[]): number => {
    Array.prototype.push.apply(queue, commands);
    if (live) return 0;
    for (const command of commands) {
      const options = initOf(command);
      if (options) start(options);
    }
    return queue.length;
  };
}

if (script) {
  try {
    autoInit(script);
  } catch (error) {
    warn('Auto-init failed.', error);
  }
}
