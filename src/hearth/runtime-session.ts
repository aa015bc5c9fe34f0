/**
 * The runtime: the store, the engine client, autocapture, the dataLayer bridge and the query API,
 * started for one Hearth instance. See `runtime.ts` for why it is a separate half.
 */
import { HearthError } from '../protocol/errors.js';
import { validateCatalog } from '../store/catalog-validation.js';
import type { OpenStoreOptions } from '../store/open-store.js';
import type { MaintenanceLockOptions } from '../store/maintenance-lock.js';
import type { CatalogRefreshResult } from '../store/catalog-feed.js';
import type { ExportedData, HearthStore } from '../store/types.js';
import type { EngineClient, EngineClientConfig } from '../client/contract.js';
import type { Recommendation } from '../protocol/engine-types.js';
import type { Logger } from '../shared/logger.js';
import { meaningOf, type StoredEvent } from '../protocol/event-types.js';
import { CONSENT_META_KEY, isConsentState } from '../consent/consent.js';
import { SESSION_META_KEY } from '../tracker/session.js';
import { drainStashes, localStorageOf, STASH_PREFIX } from '../tracker/page-exit-stash.js';
import { mergeEvents } from '../protocol/merge-events.js';
import { startAutocapture } from '../tracker/autocapture.js';
import { bridgeDataLayer, mapDataLayerEntry } from '../tracker/data-layer.js';
import { validateEvent } from '../tracker/validate-event.js';
import { toStoredEvent } from '../tracker/tracker.js';
import { checkItemId, checkK, checkRecommendOptions } from '../protocol/recommend-options.js';
import { fallbackEngine } from './fallback-engine.js';
import { pageExperiments } from './page-experiments.js';
import { applyExperimentMarkup } from './experiment-markup.js';
import type { HearthContext, Runtime, RuntimeSession } from './runtime.js';

/** The factories the runtime is built from (real ones in the bundle, fakes in tests). */
export interface RuntimeParts {
  openStore(options: OpenStoreOptions): Promise<HearthStore>;
  withMaintenanceLock<T>(name: string, fn: () => Promise<T> | T, options?: MaintenanceLockOptions): Promise<T | undefined>;
  refreshCatalogFromFeed(store: HearthStore, url: string, fetchImpl?: typeof fetch, logger?: Logger): Promise<CatalogRefreshResult>;
  /** Absent where the engine is not bundled; answers then come from non-model fallbacks. */
  createEngineClient?: (config: EngineClientConfig) => EngineClient;
}

export { STASH_PREFIX };

/** Events of a memory-only store handed to the engine as `recent`. */
export const MAX_RECENT = 200;

function defaultIdle(win: (Window & typeof globalThis) | undefined): (fn: () => void) => () => void {
  return (fn) => {
    if (win && typeof win.requestIdleCallback === 'function') {
      const handle = win.requestIdleCallback(fn, { timeout: 10_000 });
      return () => win.cancelIdleCallback(handle);
    }
    const timer = setTimeout(fn, 5_000);
    return () => clearTimeout(timer);
  };
}

/**
 * @example
 * ```ts
 * const runtime = createRuntime({ openStore, withMaintenanceLock, refreshCatalogFromFeed, createEngineClient });
 * const hearth = createHearth(options, { loadRuntime: async () => runtime });
 * ```
 */
export function createRuntime(parts: RuntimeParts): Runtime {
  return { start: (context) => startRuntime(parts, context) };
}

async function startRuntime(parts: RuntimeParts, ctx: HearthContext): Promise<RuntimeSession> {
  const { options, logger, win, consent, tracker } = ctx;
  const stops: (() => void)[] = [];
  let engine: EngineClient | undefined;

  const openOptions: OpenStoreOptions = {
    name: options.dbName,
    logger,
    retention: options.retention,
    onVersionChange: (change) => {
      if (change.deleted) ctx.deletedElsewhere();
    },
  };
  let store = await parts.openStore(openOptions);
  /** Set by this page's `forget()`: the store object then lives in memory only. */
  let forgotten = false;
  const [savedConsent, session] = await Promise.all([store.getMeta(CONSENT_META_KEY), store.getMeta(SESSION_META_KEY)]).catch(() => [undefined, undefined] as const);
  // The newer decision wins: one taken on this page before the store opened, or the stored one
  // (the tag may have started from an older synchronous copy of it).
  const pageDecision = consent.decisions().updatedAt;
  if (isConsentState(savedConsent) && (pageDecision === null || (savedConsent.updatedAt ?? 0) >= pageDecision)) consent.restore(savedConsent);
  ctx.mirrorConsent?.();
  tracker.attach(store, session);

  const usable = (): HearthStore | undefined => (ctx.writesBlocked() ? undefined : store);
  const canWrite = (): boolean => consent.personalise && !ctx.writesBlocked();
  const experiments = pageExperiments({ store: usable, canWrite, unwritten: () => tracker.unwritten(), now: ctx.now, logger });

  // Other pages' page-exit stashes (see tracker/page-exit-stash.ts): each removed only once its
  // events are committed; the store skips those already written.
  const storage = (): Storage | undefined => localStorageOf(win);
  const drain = async (): Promise<void> => {
    if (!store.persistent) return; // A memory-only page leaves the stashes to one that can store them.
    const drained = await drainStashes({
      storage: storage(),
      dbName: options.dbName,
      ownKey: ctx.stashKey ?? '',
      canWrite,
      adopt: (events) => events.map((event) => (event.session ? event : { ...event, session: tracker.sessionFor(event.time) ?? '' })),
      write: async (events) => (await store.appendEvents(events)).dropped === 0,
      fromLayer: ({ eventId, time, layer }) => {
        const event = mapDataLayerEntry(layer);
        return event && toStoredEvent(validateEvent(event), time, '', eventId);
      },
    });
    if (drained.events > 0) logger.debug(`Recovered ${drained.events} events kept at an earlier page exit.`);
  };
  drain().catch((error: unknown) => logger.warnOnce('stash-drain', 'Could not recover events kept at the last page exit.', error));

  const getEngine = (): EngineClient => {
    if (engine) return engine;
    try {
      engine = parts.createEngineClient
        ? parts.createEngineClient({
            dbName: options.dbName,
            engine: options.engine,
            federated: options.federated,
            consent: () => consent.effective(),
            logger,
            scriptUrl: ctx.scriptUrl,
            // Read through `store` at call time: forget() swaps it for an in-memory one.
            store: { getCatalog: () => store.getCatalog(), readEvents: (query) => store.readEvents(query) },
            debug: options.debug,
          })
        : fallbackEngine('The engine is not part of this build.');
    } catch (error) {
      logger.warnOnce('engine-create', 'The engine could not be created; recommendations use fallbacks.', error);
      engine = fallbackEngine(`The engine could not be created: ${String(error)}`);
    }
    engine.onProgress((progress) => ctx.progress(progress));
    return engine;
  };

  const background = (): void => {
    if (Array.isArray(options.catalog)) {
      store.replaceCatalog(validateCatalog(options.catalog)).catch((error: unknown) => logger.warnOnce('catalog', 'Could not store the catalog.', error));
    } else if (typeof options.catalog === 'string') {
      const url = win ? new URL(options.catalog, win.location.href).href : options.catalog;
      parts
        .refreshCatalogFromFeed(store, url, ctx.fetch, logger)
        .then((result) => {
          if (result === 'updated') engine?.catalogChanged();
        })
        .catch(() => undefined);
    }
    // The engine client is lazy itself: creating it schedules its worker (and automatic training)
    // for idle time. Without the personalise scope there is nothing to learn from, so it is not
    // created (nor its worker downloaded) until consent is granted or the page asks the engine.
    if (win && options.engine.enabled !== false) {
      if (consent.personalise) getEngine();
      else {
        const off = consent.onChange((state) => {
          if (!state.personalise) return;
          off();
          getEngine();
        });
        stops.push(off);
      }
    }
    if (store.persistent) {
      const schedule = ctx.scheduleIdle ?? defaultIdle(win);
      stops.push(
        schedule(() => {
          if (ctx.destroyed() || ctx.writesBlocked()) return;
          parts
            .withMaintenanceLock(`hearth-maintenance:${options.dbName}`, () => store.enforceRetention(options.retention), { store })
            .then((removed) => removed && logger.debug(`Retention removed ${removed} old events.`))
            .catch((error: unknown) => logger.warnOnce('maintenance', 'Maintenance failed; will try on the next page.', error));
        }),
      );
    }
  };

  const page = (): void => {
    const doc = win?.document;
    if (!win || !doc) return;
    const startPage = (): void => {
      if (ctx.destroyed()) return;
      if (options.autocapture) stops.push(startAutocapture(win, options.autocapture, { track: ctx.track, logger, now: ctx.now }));
      // Experiments declared in markup (data-hearth-experiment): assigned and shown without script.
      stops.push(applyExperimentMarkup(doc, (name, declared) => experiments.experiment(name, declared), logger));
      if (options.dataLayer) {
        stops.push(bridgeDataLayer(win as unknown as Record<string, unknown>, options.dataLayer, ctx.track, logger, ctx.layerEventId));
        ctx.layerBridged();
      }
      // Page exit (stash and flush) is the core's, from the tag's first moment: see create-hearth.ts.
    };
    if (doc.readyState === 'loading') {
      doc.addEventListener('DOMContentLoaded', startPage, { once: true });
      stops.push(() => doc.removeEventListener('DOMContentLoaded', startPage));
    } else {
      startPage();
    }
  };

  for (const [name, step] of [
    ['background', background],
    ['page', page],
  ] as const) {
    try {
      step();
    } catch (error) {
      logger.warnOnce(`start-${name}`, `Part of Hearth's start-up (${name}) failed; tracking goes on.`, error);
    }
  }

  /**
   * The events the engine cannot read from the store yet: those waiting or being written, or —
   * when the store is memory-only (the worker cannot see it) — the newest {@link MAX_RECENT} too,
   * merged by id (a memory store already holds the batch being written). Empty without the
   * `personalise` scope.
   */
  const recent = async (): Promise<StoredEvent[]> => {
    if (!canWrite()) return [];
    const unwritten = tracker.unwritten();
    const target = tracker.target;
    if (!target || target.persistent) return unwritten;
    const stored = await target.readEvents({ limit: MAX_RECENT }).catch(() => [] as StoredEvent[]);
    return mergeEvents(stored, unwritten).slice(-MAX_RECENT);
  };

  // Consent decided in one tab applies at once in the shop's other tabs (each reads it from the
  // store only at start). Nothing but the decision itself is broadcast, and only on this device.
  const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(`hearth-consent:${options.dbName}`) : undefined;
  if (channel) {
    (channel as { unref?: () => void }).unref?.(); // Node: never keep a server-side render alive.
    channel.onmessage = (message: MessageEvent) => {
      const state: unknown = (message.data as { consent?: unknown } | null)?.consent;
      if (!isConsentState(state) || ctx.destroyed()) return;
      consent.restore(state);
      if (consent.personalise) tracker.releaseHeld().catch(() => undefined);
      else tracker.dropUnwritten();
    };
    stops.push(() => channel.close());
  }

  return {
    async resume() {
      // A destroyed store keeps working in memory only; a new grant after forget() persists again.
      if (!forgotten) return;
      forgotten = false;
      store = await parts.openStore(openOptions);
      tracker.attach(store, undefined);
    },
    async saveConsent() {
      try {
        await store.setMeta(CONSENT_META_KEY, consent.decisions());
        channel?.postMessage({ consent: consent.decisions() });
      } catch (error) {
        logger.warnOnce('consent-persist', 'Could not store the consent decision; it applies to this page only.', error);
      }
    },
    async setCatalog(items) {
      await store.replaceCatalog(validateCatalog(items));
      engine?.catalogChanged();
    },
    async recommend(raw) {
      const checked = checkRecommendOptions(raw);
      return getEngine().recommend(checked, await recent());
    },
    async similarItems(itemId, k) {
      return getEngine().similarItems(checkItemId(itemId), checkK(k));
    },
    async trending(k) {
      const count = checkK(k);
      return getEngine().trending(count, await recent());
    },
    async intent() {
      return getEngine().intent(await recent());
    },
    async recentlyViewed(k) {
      const count = checkK(k);
      if (!consent.personalise) return [];
      const s = usable();
      const stored = s ? await s.readEvents({ limit: 500 }).catch(() => [] as StoredEvent[]) : [];
      const events = mergeEvents(stored, tracker.unwritten());
      const seen: { id: string; event: StoredEvent }[] = [];
      const ids = new Set<string>();
      for (let i = events.length - 1; i >= 0 && seen.length < count; i--) {
        const event = events[i]!;
        if (meaningOf(event.type)?.view !== true) continue;
        for (const id of event.itemIds) {
          if (ids.has(id) || seen.length >= count) continue;
          ids.add(id);
          seen.push({ id, event });
        }
      }
      const catalog = s ? await s.getCatalogItems(seen.map((entry) => entry.id)).catch(() => []) : [];
      return seen.map(({ id, event }, rank): Recommendation => {
        const rec: Recommendation = {
          itemId: id,
          score: 1 / (rank + 1),
          because: [{ itemId: id, type: event.type, time: event.time, weight: 1 }],
          source: 'catalog',
        };
        const item = catalog[rank];
        if (item) rec.item = item;
        return rec;
      });
    },
    info: () => getEngine().info(),
    train: (trainOptions) => getEngine().train(trainOptions),
    federatedRound: (roundOptions) => getEngine().federatedRound(roundOptions),
    lastUpload: () => getEngine().lastUpload(),
    experiment: (name, experimentOptions) => experiments.experiment(name, experimentOptions),
    optimise: (name, optimiseOptions) => experiments.optimise(name, optimiseOptions),
    listExperiments: () => experiments.list(),
    async reportExperiments() {
      await tracker.flush().catch(() => undefined);
      return getEngine().reportExperiments();
    },
    async exportData(): Promise<ExportedData> {
      await tracker.flush();
      const s = usable();
      return s ? s.exportAll() : { exportedAt: ctx.now(), events: [], catalog: [], meta: {}, checkpoints: [] };
    },
    async forget() {
      try {
        const ls = storage();
        for (const key of ls ? Object.keys(ls) : []) if (key.startsWith(`${STASH_PREFIX}${options.dbName}:`)) ls!.removeItem(key);
      } catch {
        // No localStorage: nothing stashed.
      }
      // The worker holds its own connection: close it first or the deletion waits for it.
      if (engine) await engine.reset();
      try {
        await store.destroy();
        forgotten = true;
      } catch (error) {
        throw error instanceof HearthError ? error : new HearthError('storage_unavailable', `Could not delete the database: ${String(error)}`);
      }
    },
    stop() {
      for (const stop of stops.splice(0)) {
        try {
          stop();
        } catch {
          // Best effort.
        }
      }
      tracker
        .flush()
        .catch(() => undefined)
        .finally(() => {
          tracker.stop();
          store.close();
        });
      engine?.dispose();
    },
  };
}
