/**
 * Consent platforms: GA4 Consent Mode v2 commands in the dataLayer and an IAB TCF v2.2 CMP's
 * `__tcfapi` are mapped to Hearth's scopes by a table, so the shopper decides once, in the shop's
 * banner. An update or a TCF decision is kept like the shopper's own; a default is not.
 */
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { decideByTable, readConsentCommand, watchConsentPlatforms, type PlatformSignal } from '../../src/consent/consent-platforms.js';
import { GOOGLE_CONSENT_TABLE, TCF_TABLE } from '../../src/consent/platform-options.js';
import { resolveOptions } from '../../src/hearth/config.js';
import { init } from '../../src/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { createHearth } from '../../src/hearth/create-hearth.js';
import { createRuntime } from '../../src/hearth/runtime-session.js';
import { openStore } from '../../src/store/open-store.js';
import { withMaintenanceLock } from '../../src/store/maintenance-lock.js';
import { refreshCatalogFromFeed } from '../../src/store/catalog-feed.js';
import { fallbackEngine } from '../../src/hearth/fallback-engine.js';
import type { HearthOptions } from '../../src/hearth/config.js';

/** What gtag() pushes: its `arguments`. */
function gtag(..._args: unknown[]): IArguments {
  // eslint-disable-next-line prefer-rest-params
  return arguments;
}

function fakeTcf(data: Record<string, unknown>) {
  const listeners: ((data: unknown, success: boolean) => void)[] = [];
  const api = (command: string, _version: number, callback: (data: unknown, success: boolean) => void) => {
    if (command === 'addEventListener') {
      listeners.push(callback);
      callback({ ...data, listenerId: 7 }, true);
    }
  };
  return { api, decide: (next: Record<string, unknown>) => listeners.forEach((l) => l({ ...next, listenerId: 7 }, true)) };
}

function watch(win: Record<string, unknown>, options?: HearthOptions['consentPlatforms']): PlatformSignal[] {
  const seen: PlatformSignal[] = [];
  watchConsentPlatforms(win, 'dataLayer', options, (signal) => seen.push(signal), silentLogger);
  return seen;
}

describe('consent platforms', () => {
  it('a scope is granted when all its signals are, refused when any is, and undecided while none is known', () => {
    const table = { personalise: ['a', 'b'], contribute: ['c'] };
    expect(decideByTable(table, (s) => ({ a: true, b: true })[s as 'a'])).toEqual({ personalise: true });
    expect(decideByTable(table, (s) => ({ a: true, b: false, c: true })[s as 'a'])).toEqual({ personalise: false, contribute: true });
    expect(decideByTable(table, () => undefined)).toEqual({});
  });

  it("reads gtag('consent', …) and GTM's array form, and ignores everything else", () => {
    expect(readConsentCommand(gtag('consent', 'update', { ad_personalization: 'granted', analytics_storage: 'denied', region: ['DE'] }))).toEqual({
      command: 'update',
      params: { ad_personalization: true, analytics_storage: false },
    });
    expect(readConsentCommand(['consent', 'default', { ad_personalization: 'denied' }])).toEqual({ command: 'default', params: { ad_personalization: false } });
    expect(readConsentCommand(gtag('event', 'add_to_cart', {}))).toBeUndefined();
    expect(readConsentCommand({ event: 'consent' })).toBeUndefined();
  });

  it('GA4 Consent Mode v2: a default already in the dataLayer, then an update pushed later, mapped by the default table', () => {
    const win: Record<string, unknown> = { dataLayer: [gtag('consent', 'default', { ad_personalization: 'denied', analytics_storage: 'denied' })] };
    const seen = watch(win);
    expect(seen).toEqual([{ source: 'google-consent-mode', decisions: { personalise: false, contribute: false }, kept: false }]);
    (win.dataLayer as unknown[]).push(gtag('consent', 'update', { ad_personalization: 'granted' }));
    expect(seen[1]).toEqual({ source: 'google-consent-mode', decisions: { personalise: true, contribute: false }, kept: true });
    expect(GOOGLE_CONSENT_TABLE).toEqual({ personalise: ['ad_personalization'], contribute: ['analytics_storage'] });
  });

  it('IAB TCF v2.2: purposes 1, 5, 6 grant personalise, 1 and 10 contribute; nothing when GDPR does not apply or the UI is only shown', () => {
    const tcf = fakeTcf({ gdprApplies: true, eventStatus: 'cmpuishown', purpose: { consents: {} } });
    const seen = watch({ __tcfapi: tcf.api });
    expect(seen).toEqual([]);
    tcf.decide({ gdprApplies: true, eventStatus: 'useractioncomplete', purpose: { consents: { 1: true, 5: true, 6: true } } });
    expect(seen).toEqual([{ source: 'tcf', decisions: { personalise: true, contribute: false }, kept: true }]);
    tcf.decide({ gdprApplies: false, eventStatus: 'tcloaded', purpose: { consents: {} } });
    expect(seen).toHaveLength(1);
    expect(TCF_TABLE).toEqual({ personalise: [1, 5, 6], contribute: [1, 10] });
  });

  it('the tables can be replaced, and a platform turned off', () => {
    const win: Record<string, unknown> = {
      dataLayer: [gtag('consent', 'update', { personalization_storage: 'granted', ad_personalization: 'denied' })],
      __tcfapi: fakeTcf({ gdprApplies: true, eventStatus: 'tcloaded', purpose: { consents: { 1: true } } }).api,
    };
    const seen = watch(win, { googleConsentMode: { table: { personalise: ['personalization_storage'], contribute: [] } }, tcf: false });
    expect(seen).toEqual([{ source: 'google-consent-mode', decisions: { personalise: true }, kept: true }]);
    // The npm entry refuses a malformed option at once; the script tag's runtime turns the bridges off.
    expect(() => init({ consentPlatforms: { tcf: 'yes' } } as never)).toThrow(/consentPlatforms must be/);
    expect(() => init({ consentPlatforms: { onetrust: true } } as never)).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    expect(() => resolveOptions({ consentPlatforms: 'tcf' })).toThrow(/consentPlatforms must be an object/);
    expect(watch({ __tcfapi: fakeTcf({ gdprApplies: true, eventStatus: 'tcloaded', purpose: { consents: { 1: true } } }).api }, { tcf: { table: 'x' } } as never)).toEqual([]);
  });

  it('the shopper consents once: a Consent Mode update in the banner grants personalise in Hearth, keeps it, and writes the held events', async () => {
    const dataLayer: unknown[] = [gtag('consent', 'default', { ad_personalization: 'denied', analytics_storage: 'denied' })];
    const win = { dataLayer, addEventListener() {}, removeEventListener() {} } as unknown as Window & typeof globalThis;
    const dbName = `platforms-${Date.now()}`;
    const runtime = createRuntime({ openStore, withMaintenanceLock, refreshCatalogFromFeed, createEngineClient: () => fallbackEngine('test') });
    const hearth = createHearth(
      { dbName, consent: 'opt-in', autocapture: false, engine: { enabled: false } },
      { loadRuntime: async () => runtime, window: win, gpc: () => false, scheduleIdle: () => () => undefined },
    );
    hearth.track({ type: 'view_item', items: [{ item_id: 'held' }] });
    await hearth.ready;
    expect(hearth.consent.get()).toMatchObject({ personalise: false, contribute: false });
    dataLayer.push(gtag('consent', 'update', { ad_personalization: 'granted', analytics_storage: 'granted' }));
    expect(hearth.consent.get()).toMatchObject({ personalise: true, contribute: true });
    await hearth.flush();
    expect((await hearth.exportData()).events.map((e) => e.itemIds[0])).toEqual(['held']);
    hearth.destroy();
    // The next page knows the decision from the store, before any consent command.
    const next = createHearth(
      { dbName, consent: 'opt-in', autocapture: false, engine: { enabled: false } },
      { loadRuntime: async () => runtime, window: null, gpc: () => false, scheduleIdle: () => () => undefined },
    );
    await next.ready;
    expect(next.consent.get()).toMatchObject({ personalise: true, contribute: true });
    next.destroy();
  });
});
