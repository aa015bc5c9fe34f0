/**
 * The options of `init()`, their defaults, and their validation. Bad options are a programmer
 * mistake: `resolveOptions` throws `HearthError('invalid_options')` naming the option, what it
 * got and what is valid, before anything is opened or listened to.
 */
import { HearthError, readPageData } from '../protocol/errors.js';
import type { CatalogItem, RetentionPolicy } from '../store/types.js';
import type { EngineOptions } from '../protocol/engine-options.js';
import type { FederatedOptions } from '../protocol/federated.js';
import { CONSENT_MODES, type ConsentMode } from '../consent/consent.js';

/** Which parts of autocapture run; every part is on unless set to false. */
export interface AutocaptureOptions {
  /** `view_item_list` for `data-hearth-item` elements at least half visible for one second. */
  impressions?: boolean;
  /** `select_item` on clicks on `data-hearth-item` elements. */
  clicks?: boolean;
  /** `data-hearth-action="add_to_cart|remove_from_cart|add_to_wishlist|begin_checkout|purchase"`. */
  actions?: boolean;
  /** `view_item` and `dwell` on pages marked `data-hearth-page-item` / `data-hearth-product`. */
  productPage?: boolean;
  /** `search` on submit of `<form role="search">` / `<form data-hearth-search>`. */
  search?: boolean;
  /** `page_view` on load and on single-page-app route changes (history API, popstate). */
  pageViews?: boolean;
}

/**
 * Options of `init()`.
 *
 * @example
 * ```ts
 * const hearth = init({ consent: 'opt-in', catalog: '/catalog.json', debug: true });
 * ```
 */
export interface HearthOptions {
  /** IndexedDB database name (default `'hearth'`); use one per shop on a shared origin. */
  dbName?: string;
  /** `'opt-in'` (default): nothing personal is written until `consent.grant()`. `'opt-out'`: written unless revoked. */
  consent?: ConsentMode;
  /** Autocapture (default on); `false` turns it off, an object turns parts off. */
  autocapture?: boolean | AutocaptureOptions;
  /** Read GA4 e-commerce events from `window.dataLayer` (default true); a string names another array. */
  dataLayer?: boolean | string;
  /** The catalog: the items themselves, or the URL of a JSON feed (refreshed when its ETag changes). */
  catalog?: CatalogItem[] | string;
  /** Minutes of inactivity that end a session (default 30). */
  sessionTimeoutMinutes?: number;
  /** Retention (defaults: 10,000 events, 90 days). */
  retention?: Partial<RetentionPolicy>;
  /** How long events wait in memory before a batched write (default 1,000 ms). */
  flushIntervalMs?: number;
  /** Log degraded modes and decisions to the console (default false). */
  debug?: boolean;
  engine?: EngineOptions;
  federated?: FederatedOptions;
}

export interface ResolvedOptions {
  dbName: string;
  consent: ConsentMode;
  autocapture: Required<AutocaptureOptions> | false;
  dataLayer: string | false;
  catalog: CatalogItem[] | string | undefined;
  sessionTimeoutMs: number;
  retention: RetentionPolicy;
  flushIntervalMs: number;
  debug: boolean;
  engine: EngineOptions;
  federated: FederatedOptions | undefined;
}

const OPTION_KEYS = ['dbName', 'consent', 'autocapture', 'dataLayer', 'catalog', 'sessionTimeoutMinutes', 'retention', 'flushIntervalMs', 'debug', 'engine', 'federated'] as const;
const AUTOCAPTURE_KEYS = ['impressions', 'clicks', 'actions', 'productPage', 'search', 'pageViews'] as const;

function fail(message: string): never {
  throw new HearthError('invalid_options', message);
}

function show(value: unknown): string {
  try {
    return typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  } catch {
    try {
      return String(value);
    } catch {
      return typeof value;
    }
  }
}

function plainObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${name} must be an object, got ${show(value)}`);
  return value as Record<string, unknown>;
}

function onlyKeys(name: string, value: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) fail(`Unknown option ${name ? `${name}.` : ''}${key}; valid options: ${keys.join(', ')}`);
  }
}

function range(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    fail(`${name} must be a number from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

function resolveAutocapture(value: unknown): Required<AutocaptureOptions> | false {
  const all: Required<AutocaptureOptions> = { impressions: true, clicks: true, actions: true, productPage: true, search: true, pageViews: true };
  if (value === undefined || value === true) return all;
  if (value === false) return false;
  const parts = plainObject('autocapture', value);
  onlyKeys('autocapture', parts, AUTOCAPTURE_KEYS);
  for (const key of AUTOCAPTURE_KEYS) {
    const part = parts[key];
    if (part === undefined) continue;
    if (typeof part !== 'boolean') fail(`autocapture.${key} must be true or false, got ${show(part)}`);
    all[key] = part;
  }
  return all;
}

function resolveFederated(value: unknown): FederatedOptions | undefined {
  if (value === undefined) return undefined;
  const federated = plainObject('federated', value);
  for (const key of ['serverUrl', 'siteKey'] as const) {
    if (typeof federated[key] !== 'string' || federated[key] === '') fail(`federated.${key} must be a non-empty string, got ${show(federated[key])}`);
  }
  try {
    new URL(federated.serverUrl as string, 'http://localhost/');
  } catch {
    fail(`federated.serverUrl must be a URL, got ${show(federated.serverUrl)}`);
  }
  return federated as unknown as FederatedOptions;
}

function resolveEngine(value: unknown): EngineOptions {
  if (value === undefined) return {};
  const engine = plainObject('engine', value);
  const backends = ['webgpu', 'webgl', 'wasm', 'cpu'];
  if (engine.enabled !== undefined && typeof engine.enabled !== 'boolean') fail(`engine.enabled must be true or false, got ${show(engine.enabled)}`);
  if (engine.autoTrain !== undefined && typeof engine.autoTrain !== 'boolean') fail(`engine.autoTrain must be true or false, got ${show(engine.autoTrain)}`);
  if (engine.backend !== undefined && !backends.includes(engine.backend as string)) {
    fail(`engine.backend must be one of: ${backends.join(', ')}; got ${show(engine.backend)}`);
  }
  for (const key of ['workerUrl', 'wasmPath', 'modelUrl', 'intentModelUrl'] as const) {
    const url = engine[key];
    if (url !== undefined && typeof url !== 'string' && !(typeof URL !== 'undefined' && url instanceof URL)) {
      fail(`engine.${key} must be a URL string, got ${show(url)}`);
    }
  }
  return engine as EngineOptions;
}

/**
 * Checks `init()` options and fills in the defaults. Throws `HearthError('invalid_options')`.
 *
 * @example
 * ```ts
 * resolveOptions({ consent: 'opt-out' }).flushIntervalMs; // 1000
 * resolveOptions({ consent: 'optin' }); // throws: consent must be one of: opt-in, opt-out; got "optin"
 * ```
 */
export function resolveOptions(input: unknown = {}): ResolvedOptions {
  // Options are page data too: a throwing getter becomes `invalid_options`, not a raw TypeError.
  return readPageData('invalid_options', 'init() options', () => resolve(input));
}

function resolve(input: unknown): ResolvedOptions {
  const options = plainObject('init() options', input ?? {});
  onlyKeys('', options, OPTION_KEYS);
  const dbName = options.dbName ?? 'hearth';
  if (typeof dbName !== 'string' || dbName === '' || dbName.length > 100) fail(`dbName must be a non-empty string of at most 100 characters, got ${show(dbName)}`);
  const consent = options.consent ?? 'opt-in';
  if (!CONSENT_MODES.includes(consent as ConsentMode)) fail(`consent must be one of: ${CONSENT_MODES.join(', ')}; got ${show(consent)}`);
  let dataLayer: string | false = 'dataLayer';
  if (options.dataLayer === false) dataLayer = false;
  else if (typeof options.dataLayer === 'string' && /^[A-Za-z_$][\w$]*$/.test(options.dataLayer)) dataLayer = options.dataLayer;
  else if (options.dataLayer !== undefined && options.dataLayer !== true) {
    fail(`dataLayer must be true, false or the name of a global array, got ${show(options.dataLayer)}`);
  }
  const catalog = options.catalog;
  if (catalog !== undefined && typeof catalog !== 'string' && !Array.isArray(catalog)) {
    fail(`catalog must be an array of items or the URL of a JSON feed, got ${show(catalog)}`);
  }
  if (typeof catalog === 'string' && catalog === '') fail('catalog must not be an empty URL');
  const retentionInput = options.retention === undefined ? {} : plainObject('retention', options.retention);
  onlyKeys('retention', retentionInput, ['maxEvents', 'maxAgeDays']);
  const maxEvents = range('retention.maxEvents', retentionInput.maxEvents, 1, 10_000_000, 10_000);
  if (!Number.isInteger(maxEvents)) fail(`retention.maxEvents must be an integer, got ${maxEvents}`);
  const retention: RetentionPolicy = {
    maxEvents,
    maxAgeDays: range('retention.maxAgeDays', retentionInput.maxAgeDays, Number.MIN_VALUE, Number.POSITIVE_INFINITY, 90),
  };
  if (options.debug !== undefined && typeof options.debug !== 'boolean') fail(`debug must be true or false, got ${show(options.debug)}`);
  return {
    dbName,
    consent: consent as ConsentMode,
    autocapture: resolveAutocapture(options.autocapture),
    dataLayer,
    catalog: catalog as CatalogItem[] | string | undefined,
    sessionTimeoutMs: range('sessionTimeoutMinutes', options.sessionTimeoutMinutes, 1, 24 * 60, 30) * 60_000,
    retention,
    flushIntervalMs: range('flushIntervalMs', options.flushIntervalMs, 0, 60_000, 1_000),
    debug: options.debug === true,
    engine: resolveEngine(options.engine),
    federated: resolveFederated(options.federated),
  };
}
