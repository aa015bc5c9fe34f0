import { describe, expect, it } from 'vitest';
import { Consent, isConsentState, normaliseScopes } from '../../src/consent/consent.js';
import { hasErrorCode } from '../../src/protocol/errors.js';

describe('Consent', () => {
  it('opt-in: nothing is granted until the shopper decides', () => {
    const consent = new Consent(
      'opt-in',
      () => false,
      () => 5,
    );
    expect(consent.effective()).toEqual({ personalise: false, contribute: false, updatedAt: null });
    consent.decide(['personalise'], true);
    expect(consent.effective()).toEqual({ personalise: true, contribute: false, updatedAt: 5 });
    expect(consent.decisions()).toEqual({ personalise: true, contribute: null, updatedAt: 5 });
  });

  it('opt-out: everything is granted until revoked, scope by scope', () => {
    const consent = new Consent('opt-out', () => false);
    expect(consent.effective()).toMatchObject({ personalise: true, contribute: true });
    consent.decide(['contribute'], false);
    expect(consent.effective()).toMatchObject({ personalise: true, contribute: false });
  });

  it('Global Privacy Control forces contribute off, even when granted', () => {
    const consent = new Consent('opt-out', () => true);
    expect(consent.effective().contribute).toBe(false);
    consent.decide(['contribute', 'personalise'], true);
    expect(consent.effective()).toMatchObject({ personalise: true, contribute: false });
  });

  it('tells listeners about changes of what applies, once each', () => {
    const consent = new Consent('opt-in', () => false);
    const seen: unknown[] = [];
    const off = consent.onChange((state) => seen.push(state.personalise));
    consent.onChange(() => {
      throw new Error('a broken listener');
    });
    consent.decide(['personalise'], true);
    consent.decide(['personalise'], true);
    consent.reset();
    off();
    consent.decide(['personalise'], true);
    expect(seen).toEqual([true, false]);
  });

  it('checks scopes and stored states', () => {
    expect(normaliseScopes(undefined)).toEqual(['personalise', 'contribute']);
    expect(normaliseScopes('contribute')).toEqual(['contribute']);
    try {
      normaliseScopes(['personalize']);
      throw new Error('expected a rejection');
    } catch (error) {
      expect(hasErrorCode(error, 'invalid_argument')).toBe(true);
      expect((error as Error).message).toContain('personalise, contribute');
    }
    expect(isConsentState({ personalise: true, contribute: null, updatedAt: 1 })).toBe(true);
    expect(isConsentState({ personalise: 'yes', contribute: null, updatedAt: 1 })).toBe(false);
  });
});
