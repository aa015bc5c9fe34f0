/**
 * The page's half of experiments and on-device optimisation: `hearth.experiment()` (a random,
 * sticky assignment kept with Hearth's data), `exposed()`, `hearth.optimise()` (Thompson sampling
 * over this device's own rewards and the shop-wide priors the worker last fetched) and
 * `hearth.experiments.list()`.
 *
 * Nothing here makes a request: assignments, exposures and showings are written to the on-device
 * store only (one meta key, so `exportData()` shows them and `forget()` erases them). Reports are
 * the worker's (`worker/experiment-reporting.ts`), and only with the `contribute` scope.
 *
 * Every write is one atomic read-modify-write (`updateMeta`), so two tabs that assign the same
 * experiment at once agree on one variant.
 */
import { HearthError } from '../protocol/errors.js';
import { mergeEvents } from '../protocol/merge-events.js';
import type { StoredEvent } from '../protocol/event-types.js';
import type { BanditPriors, ExperimentAssignment, ExperimentRecordView, OptimiseChoice } from '../protocol/experiments.js';
import type { HearthStore } from '../store/types.js';
import type { Logger } from '../shared/logger.js';
import { secureRandom, type RandomSource } from '../shared/random.js';
import { checkExperimentOptions, checkOptimiseOptions, drawIndex } from '../experiments/options.js';
import { chooseArm } from '../experiments/thompson.js';
import {
  EXPERIMENTS_META_KEY,
  MAX_PENDING_SHOWINGS,
  PRIORS_META_KEY,
  readMeta,
  resolveShowings,
  viewOf,
  type BanditRecord,
  type DeviceRecord,
  type ExperimentRecord,
  type ExperimentsMeta,
} from '../experiments/device-records.js';

export interface PageExperimentsDeps {
  /** The store while this page may use it (undefined after `forget()`). */
  store(): HearthStore | undefined;
  /** True when the shopper granted `personalise` and nothing blocks writing. */
  canWrite(): boolean;
  /** Events tracked on this page and not yet stored (they count for rewards at once). */
  unwritten(): StoredEvent[];
  now(): number;
  logger: Logger;
  /** Uniforms for assignments and Thompson draws (default: the CSPRNG). */
  random?: RandomSource;
}

export interface PageExperiments {
  experiment(name: unknown, options: unknown): Promise<ExperimentAssignment>;
  optimise(name: unknown, options: unknown): Promise<OptimiseChoice>;
  list(): Promise<ExperimentRecordView[]>;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Runs `fn` once; later calls return the first call's promise. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

function kindClash(name: string, wanted: DeviceRecord['kind'], found: DeviceRecord['kind'] | undefined): void {
  if (found !== undefined && found !== wanted) {
    throw new HearthError(
      'invalid_argument',
      `"${name}" is already ${found === 'bandit' ? 'an optimise()' : 'an experiment()'} name on this device; experiments and optimisations need distinct names`,
    );
  }
}

function validPrior(value: unknown): [number, number] | undefined {
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [a, b] = value as unknown[];
  return typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0 && Number.isFinite(a) && Number.isFinite(b) ? [a, b] : undefined;
}

/**
 * @example
 * ```ts
 * const experiments = pageExperiments({ store: () => store, canWrite: () => true, unwritten: () => [], now: Date.now, logger });
 * const { variant, exposed } = await experiments.experiment('home-recs', { variants: ['model', 'bestsellers'] });
 * ```
 */
export function pageExperiments(deps: PageExperimentsDeps): PageExperiments {
  const random = deps.random ?? secureRandom();
  /** The store when this device may keep what it learns about experiments. */
  const writable = (): HearthStore | undefined => {
    const store = deps.store();
    return store && store.persistent && deps.canWrite() ? store : undefined;
  };
  const update = async (store: HearthStore, change: (meta: ExperimentsMeta) => void): Promise<ExperimentsMeta | undefined> =>
    store.updateMeta<ExperimentsMeta>(EXPERIMENTS_META_KEY, (current) => {
      const next = readMeta(current);
      change(next);
      return next;
    });
  const readRecords = async (store: HearthStore): Promise<ExperimentsMeta> => readMeta(await store.getMeta<ExperimentsMeta>(EXPERIMENTS_META_KEY).catch(() => undefined));
  const eventsSince = async (store: HearthStore, since: number): Promise<StoredEvent[]> => {
    const stored = await store.readEvents({ since }).catch(() => [] as StoredEvent[]);
    return mergeEvents(
      stored,
      deps.unwritten().filter((e) => e.time >= since),
    );
  };

  return {
    async experiment(rawName, rawOptions) {
      const o = checkExperimentOptions(rawName, rawOptions);
      const control = o.variants[0] as string;
      const notEnrolled: ExperimentAssignment = { name: o.name, variant: control, enrolled: false, exposed: async () => undefined };
      const store = writable();
      if (!store) return notEnrolled;
      kindClash(o.name, 'experiment', (await readRecords(store)).records[o.name]?.kind);
      // Drawn outside the transaction (it must not await anything but IndexedDB) and used only when
      // this device has no assignment yet.
      const drawn = o.variants[drawIndex(o.weights, random())] as string;
      let record: ExperimentRecord | undefined;
      try {
        const meta = await update(store, (next) => {
          const current = next.records[o.name];
          // Same variants: the assignment sticks (new weights apply to new devices only). Changed
          // variants are a new experiment: the device is assigned again and reports afresh.
          if (current?.kind === 'experiment' && sameList(current.variants, o.variants) && o.variants.includes(current.variant)) {
            if (!current.metrics || !sameList(current.metrics, o.metrics)) next.records[o.name] = { ...current, metrics: o.metrics };
            return;
          }
          if (current?.kind === 'bandit') return;
          next.records[o.name] = { kind: 'experiment', variants: o.variants, metrics: o.metrics, variant: drawn, assignedAt: deps.now(), exposedAt: null, report: null, attempts: 0 };
        });
        const found = meta?.records[o.name];
        if (found?.kind === 'experiment') record = found;
      } catch (error) {
        deps.logger.warnOnce('experiment-assign', 'Could not store an experiment assignment; this device shows the control and is not counted.', error);
      }
      if (!record) return notEnrolled;
      const variant = record.variant;
      return {
        name: o.name,
        variant,
        enrolled: true,
        exposed: once(async () => {
          const now = writable();
          if (!now) return;
          try {
            await update(now, (next) => {
              const current = next.records[o.name];
              if (current?.kind === 'experiment' && current.variant === variant && current.exposedAt === null) next.records[o.name] = { ...current, exposedAt: deps.now() };
            });
          } catch (error) {
            deps.logger.warnOnce('experiment-exposure', 'Could not record an experiment exposure.', error);
          }
        }),
      };
    },

    async optimise(rawName, rawOptions) {
      const o = checkOptimiseOptions(rawName, rawOptions);
      const store = writable();
      const priorsAll = await deps
        .store()
        ?.getMeta<BanditPriors>(PRIORS_META_KEY)
        .catch(() => undefined);
      let local: Record<string, [number, number]> = {};
      if (store) {
        const meta = await readRecords(store);
        const record = meta.records[o.name];
        kindClash(o.name, 'bandit', record?.kind);
        if (record?.kind === 'bandit' && sameList(record.arms, o.arms) && record.reward === o.reward) {
          local = record.local;
          const first = record.pending[0];
          if (first) {
            // Showings whose window passed (or that a later showing ended) become successes or failures.
            const events = await eventsSince(store, first.at);
            try {
              const updated = await update(store, (next) => {
                const current = next.records[o.name];
                if (current?.kind === 'bandit' && sameList(current.arms, o.arms)) next.records[o.name] = resolveShowings(current, events, deps.now());
              });
              const resolved = updated?.records[o.name];
              if (resolved?.kind === 'bandit') local = resolved.local;
            } catch (error) {
              deps.logger.warnOnce('optimise-resolve', 'Could not update the optimisation counts.', error);
            }
          }
        }
      }
      const posteriors = o.arms.map((arm): [number, number] => {
        const prior = validPrior(priorsAll?.[o.name]?.[arm]) ?? [1, 1];
        // Counts read back from storage are trusted only as non-negative numbers.
        const count = (x: unknown): number => (typeof x === 'number' && x > 0 && Number.isFinite(x) ? x : 0);
        const own = local[arm];
        return [prior[0] + count(own?.[0]), prior[1] + count(own?.[1])];
      });
      const arm = o.arms[chooseArm(posteriors, random)] as string;
      return {
        name: o.name,
        arm,
        learning: store !== undefined,
        exposed: once(async () => {
          const now = writable();
          if (!now) return;
          const at = deps.now();
          try {
            await update(now, (next) => {
              let current = next.records[o.name];
              if (current?.kind === 'experiment') return;
              if (!current || !sameList(current.arms, o.arms) || current.reward !== o.reward || current.windowMs !== o.windowMs) {
                const fresh: BanditRecord = { kind: 'bandit', arms: o.arms, reward: o.reward, windowMs: o.windowMs, first: null, pending: [], local: {}, report: null, attempts: 0 };
                current = fresh;
              }
              next.records[o.name] = {
                ...current,
                first: current.first ?? { arm, at, rewarded: null },
                pending: [...current.pending, { arm, at }].slice(-MAX_PENDING_SHOWINGS),
              };
            });
          } catch (error) {
            deps.logger.warnOnce('optimise-exposure', 'Could not record an optimisation showing.', error);
          }
        }),
      };
    },

    async list() {
      const store = deps.store();
      if (!store) return [];
      const meta = await readRecords(store);
      const entries = Object.entries(meta.records);
      if (entries.length === 0) return [];
      const since = Math.min(...entries.map(([, r]) => (r.kind === 'experiment' ? r.assignedAt : (r.first?.at ?? deps.now()))));
      const events = await eventsSince(store, since);
      return entries.map(([name, record]) => viewOf(name, record, events, undefined, record.kind === 'experiment' ? (record.metrics ?? []) : []));
    },
  };
}
