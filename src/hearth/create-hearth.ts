/**
 * Builds the Hearth object. This is the core half (see `runtime.ts`): options, consent, the
 * tracker and the forwarding of every other call to the runtime once it has started. Calls made
 * before that wait for it; tracked events wait in memory.
 */
import { resolveOptions, type HearthOptions } from './config.js';
import { HearthError, describeError, readPageData } from '../protocol/errors.js';
import { createLogger, silentLogger, type Logger } from '../shared/logger.js';
import { browserWindow, globalPrivacyControl } from '../shared/env.js';
import { engineInfoWithoutEngine, type TrainingProgress } from '../protocol/engine-types.js';
import { Consent, normaliseScopes, readConsentMirror, writeConsentMirror } from '../consent/consent.js';
import { Tracker } from '../tracker/tracker.js';
import { localStorageOf, pageExitStash } from '../tracker/page-exit-stash.js';
import { randomId } from '../shared/random-id.js';
import { listOf } from '../tracker/array-like.js';
import { validateEvent } from '../tracker/validate-event.js';
import type { TrackEvent } from '../protocol/event-types.js';
import type { HearthContext, Runtime, RuntimeSession } from './runtime.js';
import type { Hearth } from './types.js';

/**
 * The first of `options[key]` (the control, or the first arm) when it is a string, else ''. Without
 * the runtime (no storage) a device is not enrolled and gets it. Options are page data: read
 * defensively, never thrown from.
 */
function firstOf(options: unknown, key: string): string {
  try {
    const list = (options as Record<string, unknown>)[key];
    return Array.isArray(list) && typeof list[0] === 'string' ? list[0] : '';
  } catch {
    return '';
  }
}

const never = async (): Promise<void> => undefined;

/** What `createHearth` needs from its surroundings; tests replace any of it. */
export interface HearthDeps {
  /** The runtime (linked statically in the npm build, a lazy `import()` in the script tag). */
  loadRuntime(): Promise<Runtime>;
  /** The page (default: the global window; `null` for none, e.g. in Node). */
  window?: (Window & typeof globalThis) | null;
  /** Global Privacy Control (default: `navigator.globalPrivacyControl`). */
  gpc?: () => boolean;
  now?: () => number;
  newId?: () => string;
  /** URL of the Hearth script (script-tag builds), handed to the engine to find its worker. */
  scriptUrl?: string;
  fetch?: typeof fetch;
  /**
   * Checks an inline catalog at once (`invalid_catalog`), as the npm entry does. The script tag
   * passes none, to stay within its size budget: its runtime checks the catalog when it loads.
   */
  validateCatalog?: (items: unknown) => unknown;
  /** Runs maintenance when the browser is idle (default: requestIdleCallback, else a 5 s timer). */
  scheduleIdle?: (fn: () => void) => () => void;
}

/**
 * Creates a Hearth instance. Options are checked at once (`invalid_options`, `invalid_catalog`);
 * everything else happens in the background and never throws into the page.
 *
 * @example
 * ```ts
 * const hearth = createHearth({ consent: 'opt-out' }, { loadRuntime: async () => runtime });
 * await hearth.ready;
 * ```
 */
export function createHearth(input: HearthOptions | undefined, deps: HearthDeps): Hearth {
  const options = resolveOptions(input);
  const checkCatalog = (items: unknown): void => void readPageData('invalid_catalog', 'The catalog', () => deps.validateCatalog?.(items));
  if (Array.isArray(options.catalog)) checkCatalog(options.catalog);
  const logger: Logger = options.debug ? createLogger(() => true) : silentLogger;
  const win = deps.window === undefined ? browserWindow() : (deps.window ?? undefined);
  const now = deps.now ?? Date.now;
  const consent = new Consent(options.consent, deps.gpc ?? globalPrivacyControl, now);
  const progressListeners = new Set<(progress: TrainingProgress) => void>();
  let session: RuntimeSession | undefined;
  let destroyed = false;
  /**
   * Set by `forget()` here or in another tab: nothing is written again in this page's life unless
   * the shopper grants `personalise` explicitly (writing would recreate the deleted database).
   */
  let writesBlocked = false;

  const canWrite = (): boolean => !writesBlocked && consent.personalise;
  const tracker = new Tracker({
    logger,
    flushIntervalMs: options.flushIntervalMs,
    sessionTimeoutMs: options.sessionTimeoutMs,
    canWrite,
    now,
    newId: deps.newId,
  });

  /*
   * From the tag's first moment, not from the runtime's: what is tracked but not yet stored is
   * copied to localStorage when the page is hidden or left (see tracker/page-exit-stash.ts), and
   * again for every event tracked while it stays hidden (a dwell sent by autocapture's own
   * pagehide handler, a beacon-time push). Only when the shopper allowed writing: the decisions
   * come from their synchronous copy until the store has been read.
   */
  const storage = (): Storage | undefined => localStorageOf(win);
  consent.restore(readConsentMirror(storage(), options.dbName) ?? consent.decisions());
  const pageId = randomId();
  const stash = win ? pageExitStash(storage, options.dbName, pageId) : undefined;
  let hidden = false;
  /**
   * Until the runtime bridges the dataLayer, its entries are only in the page's array: they are
   * stashed raw (the runtime of the next page maps them), each under an id fixed by its index.
   */
  let bridged = !options.dataLayer;
  const layerEventId = (index: number): string => `${pageId}-dl-${index}`;
  const rawLayer = (): unknown[] => {
    try {
      const layer = (win as unknown as Record<string, unknown>)[options.dataLayer as string];
      return bridged || !Array.isArray(layer)
        ? []
        : layer.flatMap((entry: unknown, i) => {
            try {
              // gtag pushes `arguments`: kept as an array, which the bridge reads the same way.
              const plain: unknown = JSON.parse(JSON.stringify(listOf(entry) ?? entry));
              return [{ eventId: layerEventId(i), time: now(), layer: plain }];
            } catch {
              return [];
            }
          });
    } catch {
      return [];
    }
  };
  const keep = (): void => stash?.save(canWrite() && !destroyed ? [...tracker.unwritten(), ...rawLayer()] : []);
  const onHide = (): void => {
    hidden = true;
    keep();
    // Once the write commits (if the page lives that long), the stash shrinks to what is left.
    tracker.flush().then(
      () => hidden && keep(),
      () => undefined,
    );
  };
  const onShow = (): void => {
    hidden = false;
    stash?.clear();
  };
  if (win && stash) {
    win.addEventListener('pagehide', onHide);
    win.addEventListener('pageshow', onShow);
    win.document?.addEventListener('visibilitychange', () => (win.document.visibilityState === 'hidden' ? onHide() : onShow()));
    consent.onChange((state) => state.personalise || stash.clear());
  }
  const mirror = (): void => writeConsentMirror(storage(), options.dbName, consent.decisions().updatedAt === null ? undefined : consent.decisions());

  const track = (event: TrackEvent, eventId?: string): void => {
    // After destroy() a malformed event is still a programmer mistake; a valid one is ignored.
    if (destroyed) validateEvent(event);
    else {
      tracker.track(event, eventId);
      if (hidden) keep();
    }
  };

  const context: HearthContext = {
    options,
    logger,
    win,
    now,
    consent,
    tracker,
    track,
    layerEventId,
    layerBridged: () => {
      bridged = true;
    },
    writesBlocked: () => writesBlocked,
    stashKey: stash?.key,
    mirrorConsent: mirror,
    deletedElsewhere() {
      logger.debug('Another tab deleted the database (forget); this page stops writing.');
      writesBlocked = true;
      tracker.clear();
      consent.reset();
      stash?.clear();
    },
    destroyed: () => destroyed,
    progress(progress) {
      for (const listener of progressListeners) {
        try {
          listener(progress);
        } catch {
          // A listener's bug must not stop training.
        }
      }
    },
    scriptUrl: deps.scriptUrl,
    fetch: deps.fetch,
    scheduleIdle: deps.scheduleIdle,
  };

  /** Why the runtime did not load, for `engine.info()` and the rejections of calls that need it. */
  let unavailable = '';
  const ready: Promise<void> = (async () => {
    try {
      const runtime = await deps.loadRuntime();
      const started = await runtime.start(context);
      if (destroyed) started.stop();
      else session = started;
    } catch (error) {
      unavailable = `Hearth could not load its runtime, hearth.runtime.js (${describeError(error)}); served from another origin, its files need Access-Control-Allow-Origin`;
      logger.warnOnce('runtime-unavailable', 'Hearth could not load its storage; events stay in memory for this page.', error);
      tracker.attach(undefined, undefined);
      return;
    }
    if (consent.personalise) await tracker.releaseHeld().catch(() => undefined);
  })();

  /** Waits for the runtime; rejects when it could not start or the instance was destroyed. */
  const runtime = async (): Promise<RuntimeSession> => {
    if (destroyed) throw new HearthError('not_initialised', 'This Hearth instance was destroyed; call init() again.');
    await ready;
    if (!session) throw new HearthError('engine_unavailable', unavailable);
    return session;
  };

  /** The runtime, or undefined when it could not start (experiments then show the control). */
  const runtimeOrNot = async (): Promise<RuntimeSession | undefined> => {
    if (destroyed) throw new HearthError('not_initialised', 'This Hearth instance was destroyed; call init() again.');
    await ready;
    return session;
  };

  return {
    ready,
    track,
    async flush() {
      await ready;
      await tracker.flush();
    },
    async setCatalog(items) {
      checkCatalog(items);
      await (await runtime()).setCatalog(items);
    },
    consent: {
      mode: options.consent,
      get: () => consent.effective(),
      async grant(scopes) {
        const list = normaliseScopes(scopes);
        const resume = list.includes('personalise') && writesBlocked;
        if (resume) writesBlocked = false;
        consent.decide(list, true);
        mirror();
        await ready;
        if (resume) await session?.resume();
        await session?.saveConsent();
        // Checked again inside: a revoke that raced this grant wins.
        await tracker.releaseHeld();
      },
      async revoke(scopes) {
        const list = normaliseScopes(scopes);
        consent.decide(list, false);
        mirror();
        if (list.includes('personalise')) tracker.dropUnwritten();
        await ready;
        await session?.saveConsent();
      },
      onChange: (listener) => consent.onChange(listener),
    },
    recommend: async (recommendOptions) => (await runtime()).recommend(recommendOptions),
    similarItems: async (itemId, k) => (await runtime()).similarItems(itemId, k),
    recentlyViewed: async (k) => (await runtime()).recentlyViewed(k),
    trending: async (k) => (await runtime()).trending(k),
    intent: async () => (await runtime()).intent(),
    engine: {
      async info() {
        await ready;
        return session || destroyed ? (await runtime()).info() : engineInfoWithoutEngine('fallback', unavailable);
      },
      train: async (trainOptions) => (await runtime()).train(trainOptions),
      onProgress(listener) {
        if (typeof listener !== 'function') throw new HearthError('invalid_argument', 'engine.onProgress(listener) needs a function');
        progressListeners.add(listener);
        return () => progressListeners.delete(listener);
      },
    },
    federated: {
      round: async (roundOptions) => (await runtime()).federatedRound(roundOptions),
      lastUpload: async () => (await runtime()).lastUpload(),
    },
    async experiment(name, experimentOptions) {
      const session = await runtimeOrNot();
      return session ? session.experiment(name, experimentOptions) : { name, variant: firstOf(experimentOptions, 'variants'), enrolled: false, exposed: never };
    },
    async optimise(name, optimiseOptions) {
      const session = await runtimeOrNot();
      return session ? session.optimise(name, optimiseOptions) : { name, arm: firstOf(optimiseOptions, 'arms'), learning: false, exposed: never };
    },
    experiments: {
      list: async () => (await runtimeOrNot())?.listExperiments() ?? [],
      report: async () => (await runtimeOrNot())?.reportExperiments() ?? { status: 'skipped', reason: 'storage_unavailable' },
    },
    exportData: async () => (await runtime()).exportData(),
    async forget() {
      if (destroyed) throw new HearthError('not_initialised', 'This Hearth instance was destroyed; call init() again.');
      writesBlocked = true;
      tracker.clear();
      consent.reset();
      stash?.clear();
      writeConsentMirror(storage(), options.dbName, undefined);
      await ready;
      if (session) return session.forget();
      // The runtime never loaded, but an earlier page may have left a database: delete it directly.
      const factory = win?.indexedDB;
      if (factory) {
        await new Promise<void>((resolve, reject) => {
          const request = factory.deleteDatabase(options.dbName);
          request.onsuccess = () => resolve();
          request.onerror = () => reject(new HearthError('storage_unavailable', `Could not delete the database "${options.dbName}"`));
        });
      }
    },
    on(type, listener) {
      if (type !== 'event') throw new HearthError('invalid_argument', `on() knows one event type, "event"; got ${typeof type === 'string' ? 'another' : typeof type}`);
      if (typeof listener !== 'function') throw new HearthError('invalid_argument', 'on("event", listener) needs a function');
      return tracker.on(listener);
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      if (session) session.stop();
      else tracker.stop();
    },
  };
}
