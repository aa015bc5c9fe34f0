/**
 * Options of the consent-platform bridges (`init({ consentPlatforms })`): which platforms Hearth
 * listens to, and the table that maps each platform's signals to Hearth's two scopes. Small, because
 * the script tag checks them at `init()`; the bridges themselves load with the runtime.
 */
import type { ConsentScope } from './consent.js';

/** GA4 Consent Mode v2 consent types (`gtag('consent', 'default' | 'update', { … })`). */
export type GoogleConsentType = 'ad_storage' | 'ad_user_data' | 'ad_personalization' | 'analytics_storage' | 'functionality_storage' | 'personalization_storage' | 'security_storage';

/**
 * A scope is granted when every signal listed for it is granted, refused when any is refused, and
 * left to the shopper's own choice (and the consent mode) while none of them is known.
 */
export type ConsentTable<Signal> = Record<ConsentScope, readonly Signal[]>;

export interface ConsentPlatformOptions {
  /** GA4 Consent Mode v2 from the dataLayer's consent commands (default on; `false` ignores it). */
  googleConsentMode?: boolean | { table: ConsentTable<GoogleConsentType> };
  /** IAB TCF v2.2 through `window.__tcfapi`, when a CMP provides it (default on; `false` ignores it). */
  tcf?: boolean | { table: ConsentTable<number> };
}

/** The default table for GA4 Consent Mode v2. */
export const GOOGLE_CONSENT_TABLE: ConsentTable<GoogleConsentType> = {
  personalise: ['ad_personalization'],
  contribute: ['analytics_storage'],
};

/**
 * The default table for TCF v2.2 purposes: personalise needs 1 (store and access information on a
 * device), 5 (create profiles to personalise content) and 6 (use them to select content); contribute
 * needs 1 and 10 (develop and improve services).
 */
export const TCF_TABLE: ConsentTable<number> = {
  personalise: [1, 5, 6],
  contribute: [1, 10],
};

/**
 * Checks `consentPlatforms` (a programmer mistake throws through `fail`); returns it unchanged.
 * Tables are checked for shape only: a signal Hearth does not know simply never arrives.
 */
export function checkConsentPlatforms(value: unknown, fail: (message: string) => never): ConsentPlatformOptions | undefined {
  if (value === undefined) return undefined;
  const valid = 'consentPlatforms must be { googleConsentMode?, tcf? }, each true, false or { table: { personalise: [...], contribute: [...] } }';
  if (typeof value !== 'object' || value === null) fail(valid);
  for (const [key, option] of Object.entries(value)) {
    const table = (option as { table?: Record<string, unknown> } | null)?.table;
    const ok =
      (key === 'googleConsentMode' || key === 'tcf') &&
      (typeof option === 'boolean' || (typeof table === 'object' && table !== null && Array.isArray(table.personalise) && Array.isArray(table.contribute)));
    if (!ok) fail(valid);
  }
  return value as ConsentPlatformOptions;
}
