/**
 * The public Hearth object that `init()` returns.
 */
import type { CatalogItem, ConsentState, ExportedData } from '../store/types.js';
import type { ConsentMode, ConsentScope } from '../consent/consent.js';
import type { StoredEvent, TrackEvent } from '../protocol/event-types.js';
import type { EngineInfo, IntentScore, Recommendation, RecommendOptions, TrainingProgress } from '../protocol/engine-types.js';
import type { FederatedRoundResult, UploadRecord } from '../protocol/federated.js';
import type { ExperimentAssignment, ExperimentOptions, ExperimentRecordView, ExperimentReportResult, OptimiseChoice, OptimiseOptions } from '../protocol/experiments.js';

export interface HearthConsent {
  /** The consent mode `init()` was given. */
  readonly mode: ConsentMode;
  /**
   * What applies now: booleans (undecided scopes resolved by the mode, `contribute` false under
   * Global Privacy Control); `updatedAt` is null while the shopper has not decided.
   */
  get(): ConsentState;
  /** Grants the scopes (default: both), persists the decision, then writes the events held in memory. */
  grant(scopes?: ConsentScope | ConsentScope[]): Promise<void>;
  /** Revokes the scopes (default: both); without `personalise` nothing more is written. */
  revoke(scopes?: ConsentScope | ConsentScope[]): Promise<void>;
  /** Called with the new state whenever what applies changes; returns the unsubscribe function. */
  onChange(listener: (state: ConsentState) => void): () => void;
}

export interface TrainResult {
  recommenderLoss: number | null;
  intentLoss: number | null;
}

/**
 * @example
 * ```ts
 * const hearth = init({ catalog: '/catalog.json' });
 * await hearth.consent.grant(['personalise']);
 * hearth.track({ type: 'view_item', items: [{ item_id: 'sku-1' }] });
 * const picks = await hearth.recommend({ k: 4 });
 * ```
 */
export interface Hearth {
  /** Resolves when the store is open and the stored consent and session are loaded. Never rejects. */
  readonly ready: Promise<void>;
  /** Records an event; a malformed one throws `HearthError('invalid_event')` at once. */
  track(event: TrackEvent): void;
  /** Writes what was tracked so far (when consent allows); resolves when stored. */
  flush(): Promise<void>;
  /** Validates and replaces the catalog (rejects with `invalid_catalog`). */
  setCatalog(items: CatalogItem[]): Promise<void>;
  readonly consent: HearthConsent;
  recommend(options?: RecommendOptions): Promise<Recommendation[]>;
  similarItems(itemId: string, k?: number): Promise<Recommendation[]>;
  /** Items this shopper viewed, newest first, distinct (source `'catalog'`, score 1/(rank+1)). */
  recentlyViewed(k?: number): Promise<Recommendation[]>;
  trending(k?: number): Promise<Recommendation[]>;
  intent(): Promise<IntentScore>;
  readonly engine: {
    info(): Promise<EngineInfo>;
    train(options?: { signal?: AbortSignal }): Promise<TrainResult>;
    onProgress(listener: (progress: TrainingProgress) => void): () => void;
  };
  readonly federated: {
    round(options?: { signal?: AbortSignal }): Promise<FederatedRoundResult>;
    lastUpload(): Promise<UploadRecord | null>;
  };
  /**
   * This device's variant of an A/B test: drawn at random (by `weights`) the first time, then
   * sticky across pages, reloads and tabs; kept with Hearth's data (erased by `forget()`) and never
   * sent anywhere. Call `exposed()` when the page has shown the variant: conversions tracked within
   * the experiment's attribution window after the first exposure count for it. Without the
   * `personalise` scope (or storage) the device is not enrolled and gets the control, the first
   * variant. Bad options reject with `invalid_argument`; nothing else rejects.
   *
   * @example
   * ```ts
   * const test = await hearth.experiment('home-recs', { variants: ['model', 'bestsellers'] });
   * render(test.variant === 'model' ? await hearth.recommend({ k: 8 }) : bestsellers);
   * void test.exposed();
   * ```
   */
  experiment(name: string, options: ExperimentOptions): Promise<ExperimentAssignment>;
  /**
   * Chooses one of `arms` for this showing by Thompson sampling over this device's own rewards and
   * the shop-wide priors that arrive from the server. Call `exposed()` when the arm was shown; the
   * `reward` event within `windowMinutes` then counts as its success. Bad options reject with
   * `invalid_argument`; nothing else rejects.
   *
   * @example
   * ```ts
   * const choice = await hearth.optimise('pdp-widget', { arms: ['carousel', 'grid'], reward: 'select_item' });
   * renderWidget(choice.arm);
   * void choice.exposed();
   * ```
   */
  optimise(name: string, options: OptimiseOptions): Promise<OptimiseChoice>;
  readonly experiments: {
    /** What this device knows about its experiments and optimisations (nothing here leaves the device). */
    list(): Promise<ExperimentRecordView[]>;
    /**
     * Sends the private reports that are ready now (also done at idle time): needs `contribute`
     * and `personalise`, a `federated` server, and an attribution window that has passed.
     */
    report(): Promise<ExperimentReportResult>;
  };
  /** Everything stored on this device, as JSON-serialisable data. */
  exportData(): Promise<ExportedData>;
  /** Deletes the database and every in-memory event; resolves when the database is gone. */
  forget(): Promise<void>;
  /** Subscribes to every accepted event (also those held for consent); returns the unsubscribe function. */
  on(type: 'event', listener: (event: StoredEvent) => void): () => void;
  /** Stops autocapture and timers, writes what is pending (best effort) and releases the engine. */
  destroy(): void;
}
