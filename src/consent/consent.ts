/**
 * Consent: two scopes, decided separately.
 * - `personalise`: learn from behaviour on this device and personalise this device. Without it no
 *   event or session is written to IndexedDB.
 * - `contribute`: send clipped, noised model updates to the shop's shared model.
 *
 * The mode says what an undecided scope means: `opt-in` (default) → no; `opt-out` → yes.
 * Global Privacy Control (`navigator.globalPrivacyControl`) forces `contribute` off whatever was
 * decided. The shopper's decisions (the raw state, with `null` for undecided) are kept in the
 * store's meta under {@link CONSENT_META_KEY}.
 */
import type { ConsentState } from '../store/types.js';
import { HearthError, readPageData } from '../protocol/errors.js';

export type ConsentMode = 'opt-in' | 'opt-out';
export type ConsentScope = 'personalise' | 'contribute';

export const CONSENT_MODES: readonly ConsentMode[] = ['opt-in', 'opt-out'];
export const CONSENT_SCOPES: readonly ConsentScope[] = ['personalise', 'contribute'];
/** Meta key of the shopper's decisions. */
export const CONSENT_META_KEY = 'consent';
/**
 * localStorage key prefix of a copy of the decisions (`hearth-consent:<dbName>`). The store keeps
 * the decisions; this synchronous copy lets the tag know them from its first moment, before the
 * store is open, so that it may keep events safe at a quick page exit only when the shopper allowed it.
 */
export const CONSENT_MIRROR_PREFIX = 'hearth-consent:';

/** The mirrored decisions, if any and well-formed. Never throws. */
export function readConsentMirror(storage: Storage | undefined, dbName: string): ConsentState | undefined {
  try {
    const value: unknown = JSON.parse(storage?.getItem(CONSENT_MIRROR_PREFIX + dbName) ?? 'null');
    return isConsentState(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Mirrors `state` (undefined: removes the copy). Never throws. */
export function writeConsentMirror(storage: Storage | undefined, dbName: string, state: ConsentState | undefined): void {
  try {
    if (state) storage?.setItem(CONSENT_MIRROR_PREFIX + dbName, JSON.stringify(state));
    else storage?.removeItem(CONSENT_MIRROR_PREFIX + dbName);
  } catch {
    // Blocked or full: the tag then waits for the store to learn the decisions.
  }
}

export type ConsentListener = (state: ConsentState) => void;

export function undecided(): ConsentState {
  return { personalise: null, contribute: null, updatedAt: null };
}

/** True when `value` looks like a stored consent state. */
export function isConsentState(value: unknown): value is ConsentState {
  const v = value as Partial<ConsentState> | undefined;
  const ok = (x: unknown): boolean => x === null || typeof x === 'boolean';
  return typeof v === 'object' && v !== null && ok(v.personalise) && ok(v.contribute) && (v.updatedAt === null || typeof v.updatedAt === 'number');
}

/** Checks the `scopes` argument of `grant()`/`revoke()`; undefined means both scopes. */
export function normaliseScopes(scopes: unknown): ConsentScope[] {
  if (scopes === undefined) return [...CONSENT_SCOPES];
  return readPageData('invalid_argument', 'The consent scopes', () => {
    const list: unknown[] = typeof scopes === 'string' ? [scopes] : Array.isArray(scopes) ? [...(scopes as unknown[])] : [0];
    if (list.some((s) => !CONSENT_SCOPES.includes(s as ConsentScope))) {
      throw new HearthError('invalid_argument', `Consent scopes must be a list of: ${CONSENT_SCOPES.join(', ')}`);
    }
    return list as ConsentScope[];
  });
}

/**
 * The consent state of one page: the raw decisions and what they mean under the mode and GPC.
 *
 * @example
 * ```ts
 * const consent = new Consent('opt-in', () => detectCapabilities().globalPrivacyControl);
 * consent.decide(['personalise'], true);
 * consent.effective().personalise; // true
 * ```
 */
export class Consent {
  private raw: ConsentState = undecided();
  private readonly listeners = new Set<ConsentListener>();

  constructor(
    readonly mode: ConsentMode,
    private readonly gpc: () => boolean,
    private readonly now: () => number = Date.now,
  ) {}

  /** The decisions as stored (null = undecided). */
  decisions(): ConsentState {
    return { ...this.raw };
  }

  /** What the decisions mean now: booleans, GPC applied; `updatedAt` null when never decided. */
  effective(): ConsentState {
    const byDefault = this.mode === 'opt-out';
    return {
      personalise: this.raw.personalise ?? byDefault,
      contribute: this.gpc() ? false : (this.raw.contribute ?? byDefault),
      updatedAt: this.raw.updatedAt,
    };
  }

  get personalise(): boolean {
    return this.effective().personalise === true;
  }

  /** Replaces the decisions with stored ones (at start-up), notifying listeners of a change. */
  restore(state: ConsentState): void {
    this.apply({ personalise: state.personalise, contribute: state.contribute, updatedAt: state.updatedAt });
  }

  /** Records a decision for `scopes` and returns the raw state to persist. */
  decide(scopes: readonly ConsentScope[], value: boolean): ConsentState {
    const next = { ...this.raw, updatedAt: this.now() };
    for (const scope of scopes) next[scope] = value;
    this.apply(next);
    return this.decisions();
  }

  /** Back to undecided (after `forget()` here or in another tab). */
  reset(): void {
    this.apply(undecided());
  }

  onChange(listener: ConsentListener): () => void {
    if (typeof listener !== 'function') throw new HearthError('invalid_argument', 'consent.onChange(listener) needs a function');
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private apply(next: ConsentState): void {
    const before = JSON.stringify(this.effective());
    this.raw = next;
    const after = this.effective();
    if (JSON.stringify(after) === before) return;
    for (const listener of [...this.listeners]) {
      try {
        listener({ ...after });
      } catch {
        // A listener's bug must not break consent handling.
      }
    }
  }
}
