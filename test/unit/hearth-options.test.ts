import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../src/hearth/config.js';
import { hasErrorCode } from '../../src/protocol/errors.js';
import { createHearth } from '../../src/hearth/create-hearth.js';

function rejection(options: unknown): string {
  try {
    resolveOptions(options);
  } catch (error) {
    expect(hasErrorCode(error, 'invalid_options')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected the options to be rejected');
}

describe('init options', () => {
  it('fills in the defaults', () => {
    const options = resolveOptions({});
    expect(options).toMatchObject({
      dbName: 'hearth',
      consent: 'opt-in',
      dataLayer: 'dataLayer',
      sessionTimeoutMs: 30 * 60_000,
      flushIntervalMs: 1_000,
      retention: { maxEvents: 10_000, maxAgeDays: 90 },
      debug: false,
    });
    expect(options.autocapture).toEqual({ impressions: true, clicks: true, actions: true, productPage: true, search: true, pageViews: true });
  });

  it('turns autocapture off entirely or in parts', () => {
    expect(resolveOptions({ autocapture: false }).autocapture).toBe(false);
    expect(resolveOptions({ autocapture: { impressions: false } }).autocapture).toMatchObject({ impressions: false, clicks: true });
  });

  it('says what was wrong and what is valid', () => {
    expect(rejection({ consent: 'optin' })).toBe('consent must be one of: opt-in, opt-out; got "optin"');
    expect(rejection({ colour: 'red' })).toMatch(/Unknown option colour; valid options: dbName, consent/);
    expect(rejection({ autocapture: { scroll: true } })).toMatch(/Unknown option autocapture\.scroll/);
    expect(rejection({ sessionTimeoutMinutes: 0 })).toMatch(/sessionTimeoutMinutes must be a number from 1 to 1440/);
    expect(rejection({ flushIntervalMs: -1 })).toMatch(/flushIntervalMs/);
    expect(rejection({ retention: { maxEvents: 1.5 } })).toMatch(/retention.maxEvents must be an integer/);
    expect(rejection({ dbName: '' })).toMatch(/dbName/);
    expect(rejection({ dataLayer: 'not a name!' })).toMatch(/dataLayer/);
    expect(rejection({ catalog: 5 })).toMatch(/catalog must be an array of items or the URL/);
    expect(rejection({ engine: { backend: 'tpu' } })).toMatch(/engine.backend must be one of: webgpu, webgl, wasm, cpu/);
    expect(rejection({ federated: { serverUrl: 'https://fl.example' } })).toMatch(/federated.siteKey/);
    expect(rejection({ debug: 'yes' })).toMatch(/debug must be true or false/);
    expect(rejection('opt-in')).toMatch(/must be an object/);
  });

  it('init fails fast, before loading anything, on bad options or a bad catalog', () => {
    let loaded = false;
    const deps = {
      loadRuntime: async () => {
        loaded = true;
        throw new Error('unused');
      },
      window: null,
    };
    expect(() => createHearth({ consent: 'maybe' } as never, deps)).toThrow(/consent must be one of/);
    expect(() => createHearth({ catalog: [{ id: 'a' }] } as never, deps)).toThrow(expect.objectContaining({ code: 'invalid_catalog' }));
    expect(loaded).toBe(false);
  });
});
