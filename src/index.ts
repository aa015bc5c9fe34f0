/**
 * Hearth: privacy-first, on-device personalisation. The public API — nothing else is exported.
 * Importing this module touches no browser global; `init()` does the work.
 */
import { createHearth } from './hearth/create-hearth.js';
import { runtime } from './entries/runtime.js';
import { validateCatalog } from './store/catalog-validation.js';
import { checkConsentPlatforms } from './consent/platform-options.js';
import { HearthError, readPageData } from './protocol/errors.js';
import type { HearthOptions } from './hearth/config.js';
import type { Hearth } from './hearth/types.js';

export { HearthError, hasErrorCode } from './protocol/errors.js';
export { EVENT_TYPES } from './protocol/event-types.js';

/**
 * Starts Hearth on this page: checks `options` at once (throws `HearthError('invalid_options')` or
 * `'invalid_catalog'`), then opens the on-device store and starts autocapture in the background.
 *
 * @example
 * ```ts
 * import { init } from 'hearth';
 * const hearth = init({ consent: 'opt-in', catalog: '/catalog.json' });
 * consentBanner.onAccept(() => hearth.consent.grant(['personalise']));
 * hearth.track({ type: 'add_to_cart', items: [{ item_id: 'sku-1', price: 12, quantity: 1 }] });
 * ```
 */
export function init(options?: HearthOptions): Hearth {
  readPageData('invalid_options', 'init() options', () =>
    checkConsentPlatforms((options as { consentPlatforms?: unknown } | undefined)?.consentPlatforms, (message) => {
      throw new HearthError('invalid_options', message);
    }),
  );
  return createHearth(options, { loadRuntime: () => Promise.resolve(runtime), validateCatalog });
}

export type { HearthOptions, AutocaptureOptions } from './hearth/config.js';
export type { Hearth, HearthConsent, TrainResult } from './hearth/types.js';
export type { HearthErrorCode } from './protocol/errors.js';
export type { EventType, EventItem, TrackEvent, StoredEvent } from './protocol/event-types.js';
export type { ConsentMode, ConsentScope } from './consent/consent.js';
export type { AbortSignalLike, UrlLike } from './protocol/platform-types.js';
export type { CatalogItem, ConsentState, ExportedData, RetentionPolicy } from './store/types.js';
export type {
  RecommendOptions,
  RecommendFilter,
  RecommendBoost,
  Recommendation,
  RecommendationSource,
  Explanation,
  IntentScore,
  EngineInfo,
  BackendName,
  TrainingProgress,
} from './protocol/engine-types.js';
export type { EngineOptions } from './protocol/engine-options.js';
export type { FederatedOptions } from './protocol/federated.js';
export type { FederatedRoundResult, FederatedRoundStatus, SecureUploadRecord, UploadRecord } from './protocol/federated.js';
export type {
  ExperimentOptions,
  ExperimentAssignment,
  ExperimentMetric,
  OptimiseOptions,
  OptimiseChoice,
  RewardEvent,
  ExperimentRecordView,
  ExperimentReportResult,
  ReportChannel,
  ExperimentResults,
  ExperimentComparison,
  Estimate,
} from './protocol/experiments.js';
