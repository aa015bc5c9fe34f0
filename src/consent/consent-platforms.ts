/**
 * Consent platforms: the shopper decides once, in the shop's consent banner, and Hearth follows.
 *
 * - GA4 Consent Mode v2: `gtag('consent', 'default' | 'update', { ad_personalization: 'granted', … })`
 *   pushes `['consent', command, params]` to the dataLayer (GTM's consent commands too); Hearth reads
 *   the entries already there and wraps `push` for later ones.
 * - IAB TCF v2.2: when the page has `window.__tcfapi` (a CMP, or its stub), Hearth registers with
 *   `addEventListener` and reads `purpose.consents` when the CMP has loaded a decision (`tcloaded`) or
 *   the shopper just made one (`useractioncomplete`), where GDPR applies.
 *
 * Each platform's signals map to Hearth's scopes by a table ({@link GOOGLE_CONSENT_TABLE},
 * {@link TCF_TABLE}, or the site's own). An `update` or a TCF decision is the shopper's decision and is
 * kept like `consent.grant()`/`revoke()`; a Consent Mode `default` applies only while the shopper has
 * decided nothing, and is not kept. Nothing here throws into the page.
 */
import type { ConsentScope } from './consent.js';
import { CONSENT_SCOPES } from './consent.js';
import { GOOGLE_CONSENT_TABLE, TCF_TABLE, checkConsentPlatforms, type ConsentPlatformOptions, type ConsentTable } from './platform-options.js';
import { listOf } from '../tracker/array-like.js';
import type { Logger } from '../shared/logger.js';

/** A decision per scope (scopes a platform said nothing about are absent). */
export type ScopeDecisions = Partial<Record<ConsentScope, boolean>>;

/** What a platform told Hearth: `kept` decisions are the shopper's; others are a site default. */
export interface PlatformSignal {
  source: 'google-consent-mode' | 'tcf';
  decisions: ScopeDecisions;
  kept: boolean;
}

/** Maps known signals (true granted, false refused) to scopes by `table`. */
export function decideByTable<S>(table: ConsentTable<S>, known: (signal: S) => boolean | undefined): ScopeDecisions {
  const out: ScopeDecisions = {};
  for (const scope of CONSENT_SCOPES) {
    const values = table[scope].map(known);
    if (values.length === 0) continue;
    if (values.includes(false)) out[scope] = false;
    else if (values.every((v) => v === true)) out[scope] = true;
  }
  return out;
}

/**
 * The Consent Mode state after one dataLayer entry, or undefined when the entry is not a consent
 * command. `state` holds what each consent type was last set to.
 *
 * @example
 * ```ts
 * readConsentCommand(['consent', 'update', { ad_personalization: 'granted' }]); // { command: 'update', params: { ad_personalization: true } }
 * ```
 */
export function readConsentCommand(entry: unknown): { command: 'default' | 'update'; params: Record<string, boolean> } | undefined {
  const list = listOf(entry);
  if (!list || list[0] !== 'consent' || (list[1] !== 'default' && list[1] !== 'update')) return undefined;
  const raw = list[2];
  if (typeof raw !== 'object' || raw === null) return undefined;
  const params: Record<string, boolean> = {};
  for (const [type, value] of Object.entries(raw as Record<string, unknown>)) {
    if (value === 'granted' || value === 'denied') params[type] = value === 'granted';
  }
  return { command: list[1], params };
}

function tableOf<S>(option: boolean | { table: ConsentTable<S> } | undefined, fallback: ConsentTable<S>): ConsentTable<S> | undefined {
  if (option === false) return undefined;
  return typeof option === 'object' ? option.table : fallback;
}

interface TcData {
  gdprApplies?: boolean;
  eventStatus?: string;
  listenerId?: number;
  purpose?: { consents?: Record<string, boolean> };
}

type TcfApi = (command: string, version: number, callback: (data: TcData, success: boolean) => void, parameter?: unknown) => void;

/**
 * Starts the bridges the options allow; `apply` receives every signal. Returns the function that
 * stops them.
 *
 * @example
 * ```ts
 * const stop = watchConsentPlatforms(window, 'dataLayer', options.consentPlatforms, (signal) => apply(signal), logger);
 * ```
 */
export function watchConsentPlatforms(
  win: Record<string, unknown>,
  dataLayer: string | false,
  options: ConsentPlatformOptions | undefined,
  apply: (signal: PlatformSignal) => void,
  logger: Logger,
): () => void {
  const stops: (() => void)[] = [];
  try {
    // The script tag's init() leaves this check to here: a malformed option turns the bridges off.
    checkConsentPlatforms(options, (message) => {
      throw new TypeError(message);
    });
  } catch (error) {
    logger.warnOnce('consent-platform-options', 'consentPlatforms is malformed; the consent-platform bridges are off.', error);
    return () => undefined;
  }
  const safely = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      logger.warnOnce(`consent-platform-${what}`, `Could not read ${what}; Hearth's own consent applies.`, error);
    }
  };

  const google = tableOf(options?.googleConsentMode, GOOGLE_CONSENT_TABLE);
  if (google && dataLayer) {
    safely('Google Consent Mode', () => {
      const state: Record<string, boolean> = {};
      const read = (entry: unknown): void => {
        let consent: ReturnType<typeof readConsentCommand>;
        try {
          consent = readConsentCommand(entry);
        } catch {
          return; // A hostile entry: not a consent command Hearth can read.
        }
        if (!consent) return;
        // A default never overrides a type already updated on this page.
        for (const [type, granted] of Object.entries(consent.params)) if (consent.command === 'update' || !(type in updated)) state[type] = granted;
        if (consent.command === 'update') Object.assign(updated, consent.params);
        const decisions = decideByTable(google, (type) => state[type]);
        if (Object.keys(decisions).length > 0) apply({ source: 'google-consent-mode', decisions, kept: consent.command === 'update' });
      };
      const updated: Record<string, boolean> = {};
      const existing = win[dataLayer];
      const layer = (Array.isArray(existing) ? existing : (win[dataLayer] = [])) as unknown[];
      for (const entry of layer.slice()) read(entry);
      const original = layer.push;
      const push = function (this: unknown, ...items: unknown[]): number {
        const result = original.apply(this, items);
        for (const item of items) read(item);
        return result;
      };
      layer.push = push;
      stops.push(() => {
        if (layer.push === push) layer.push = original;
      });
    });
  }

  const tcfTable = tableOf(options?.tcf, TCF_TABLE);
  if (tcfTable) {
    const listen = (): boolean => {
      const api = win.__tcfapi;
      if (typeof api !== 'function') return false;
      safely('the TCF API', () => {
        let listenerId: number | undefined;
        (api as TcfApi)('addEventListener', 2, (data, success) => {
          try {
            if (!success || !data) return;
            listenerId ??= data.listenerId;
            if (data.gdprApplies === false || (data.eventStatus !== 'tcloaded' && data.eventStatus !== 'useractioncomplete')) return;
            const consents = data.purpose?.consents ?? {};
            const decisions = decideByTable(tcfTable, (purpose) => consents[purpose] === true);
            apply({ source: 'tcf', decisions, kept: true });
          } catch (error) {
            logger.warnOnce('consent-platform-tcf-data', 'Could not read the TCF decision.', error);
          }
        });
        stops.push(() => {
          if (listenerId !== undefined) safely('the TCF API', () => (api as TcfApi)('removeEventListener', 2, () => undefined, listenerId));
        });
      });
      return true;
    };
    // A CMP usually installs its stub before any other script; if not, look again once the page has loaded.
    if (!listen() && typeof (win as { addEventListener?: unknown }).addEventListener === 'function') {
      const target = win as unknown as Window;
      const later = (): void => void listen();
      target.addEventListener('load', later, { once: true });
      stops.push(() => target.removeEventListener('load', later));
    }
  }

  return () => {
    for (const stop of stops.splice(0)) stop();
  };
}
