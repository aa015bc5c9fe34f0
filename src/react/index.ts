/**
 * React bindings (`hearth/react`): a provider that starts Hearth in the browser, and hooks that
 * read recommendations and shopping intent from it.
 *
 * Safe under server-side rendering: importing does nothing, and Hearth starts only in an effect, so
 * a server render (which runs no effects) touches no browser global and renders the loading state.
 * Nothing here throws into the page: a failed call is returned as `error`.
 *
 * @example
 * ```ts
 * import { createElement as h } from 'react';
 * import { HearthProvider, useRecommendations } from 'hearth/react';
 *
 * function ForYou() {
 *   const { data: items, loading } = useRecommendations({ k: 4 });
 *   return loading ? null : h('ul', null, items.map((r) => h('li', { key: r.itemId }, r.item?.title ?? r.itemId)));
 * }
 * const app = h(HearthProvider, { options: { catalog: '/catalog.json' } }, h(ForYou));
 * ```
 */
import { createContext, createElement, useCallback, useContext, useEffect, useState, type ReactElement, type ReactNode } from 'react';
import { init } from '../index.js';
import type { Hearth, HearthError, HearthOptions, IntentScore, Recommendation, RecommendOptions } from '../index.js';

const HearthContext = createContext<Hearth | null>(null);

export interface HearthProviderProps {
  /** Options for `init()`; read once, when the provider mounts. Ignored when `hearth` is given. */
  options?: HearthOptions;
  /** An instance started elsewhere (e.g. the script tag's `window.hearth`); the provider does not destroy it. */
  hearth?: Hearth;
  children?: ReactNode;
}

/**
 * Starts Hearth when it mounts in the browser (never during a server render) and destroys it when
 * it unmounts; its children read it with the hooks below.
 *
 * @example
 * ```ts
 * createElement(HearthProvider, { options: { consent: 'opt-in', catalog: '/catalog.json' } }, createElement(App));
 * ```
 */
export function HearthProvider({ options, hearth: given, children }: HearthProviderProps): ReactElement {
  const [started, setStarted] = useState<Hearth | null>(null);
  useEffect(() => {
    if (given) return undefined;
    let instance: Hearth;
    try {
      instance = init(options);
    } catch (error) {
      // Bad options are a programmer mistake: say so, but do not break the page.
      console.error('[hearth] HearthProvider could not start Hearth:', error);
      return undefined;
    }
    setStarted(instance);
    return () => {
      instance.destroy();
      setStarted(null);
    };
    // Options are read once, like init(); a new instance per render would lose the session.
  }, [given]);
  return createElement(HearthContext.Provider, { value: given ?? started }, children);
}

/**
 * The Hearth instance of the nearest provider: null during a server render, before it has started,
 * or outside a provider.
 */
export function useHearth(): Hearth | null {
  return useContext(HearthContext);
}

/** What a query hook returns. */
export interface HearthQuery<T> {
  /** The last answer (`initial` until the first one). */
  data: T;
  /** True until the first answer, and while a refresh runs. */
  loading: boolean;
  /** Why the last call failed (`hasErrorCode(error, …)`), or null. */
  error: HearthError | null;
  /** Asks again, e.g. after the shopper added something to the cart. */
  refresh(): void;
}

/**
 * Runs `ask` against the provider's Hearth when it is ready, again when the consent in force changes
 * and whenever `refresh()` is called; `key` identifies the question (a new key asks again).
 */
function useQuery<T>(key: string, initial: T, ask: (hearth: Hearth) => Promise<T>): HearthQuery<T> {
  const hearth = useHearth();
  const [round, setRound] = useState(0);
  // Which question (key and round) the data answers: loading is derived from it, so the very render
  // that follows refresh() (or a new key) already says loading, not only the one after the effect.
  const question = `${round}:${key}`;
  const [state, setState] = useState<{ data: T; error: HearthError | null; answers: string | null }>({ data: initial, error: null, answers: null });
  const refresh = useCallback(() => setRound((n) => n + 1), []);
  useEffect(() => {
    if (!hearth) return undefined;
    return hearth.consent.onChange(() => setRound((n) => n + 1));
  }, [hearth]);
  useEffect(() => {
    if (!hearth) return undefined;
    let current = true;
    ask(hearth).then(
      (data) => current && setState({ data, error: null, answers: question }),
      (error: unknown) => current && setState((previous) => ({ data: previous.data, error: error as HearthError, answers: question })),
    );
    return () => {
      current = false;
    };
    // `ask` is a new function each render; `key` says when the question changed.
  }, [hearth, key, round]);
  return { data: state.data, error: state.error, loading: state.answers !== question, refresh };
}

const NO_ITEMS: Recommendation[] = [];

/**
 * Recommendations for this shopper: `recommend(options)` once Hearth has started, again when
 * `options` change (compared by value), when consent changes, and on `refresh()`.
 *
 * @example
 * ```ts
 * const { data: picks, loading, error } = useRecommendations({ k: 4, context: { itemId: product.id } });
 * ```
 */
export function useRecommendations(options?: RecommendOptions): HearthQuery<Recommendation[]> {
  return useQuery(JSON.stringify(options ?? null), NO_ITEMS, (hearth) => hearth.recommend(options));
}

/**
 * The shopper's intent in this session (`intent()`): probabilities of an add-to-cart and a purchase,
 * with the events behind them; null until the first answer.
 *
 * @example
 * ```ts
 * const { data: intent } = useIntent();
 * if (intent && intent.purchase > 0.5) showFreeShippingNote();
 * ```
 */
export function useIntent(): HearthQuery<IntentScore | null> {
  return useQuery<IntentScore | null>('intent', null, (hearth) => hearth.intent());
}
