import type { EventType } from './event-types.js';
import type { CatalogItem } from './catalog.js';

/** Business rules applied to recommendations, over the catalog's attributes. */
export interface RecommendFilter {
  /** Only items whose catalog entry says they are in stock (default true). */
  inStock?: boolean;
  categories?: string[];
  brands?: string[];
  minPrice?: number;
  maxPrice?: number;
}

/** Multiplies the score of matching items (factor > 1 promotes, 0 < factor < 1 demotes). */
export interface RecommendBoost {
  factor: number;
  itemIds?: string[];
  categories?: string[];
  brands?: string[];
}

export interface RecommendOptions {
  /** How many items (1–100, default 10). */
  k?: number;
  /** What the shopper is looking at now, e.g. the product page's item. */
  context?: { itemId?: string };
  /** Item ids never to return. */
  exclude?: string[];
  /** Leave out items the shopper already bought (default true). */
  excludePurchased?: boolean;
  /**
   * Leave out items viewed in the current session and items in the cart now (default true), so a
   * "for you" widget does not show what the shopper just looked at. Set false for a "recently
   * viewed"-style list, or where seeing the same items again is the point.
   */
  excludeSeen?: boolean;
  /**
   * Explain each model pick by the recent events that raised it most (`because`; default true).
   * Explaining scores the history again with each of the newest events hidden, about a third of
   * the call's time at 10k items (bench:speed); a widget that shows no reasons can pass false, and
   * its picks then come with an empty `because`.
   */
  explain?: boolean;
  filter?: RecommendFilter;
  boost?: RecommendBoost[];
}

/** One past event that weighed in a recommendation or intent score. */
export interface Explanation {
  itemId: string;
  type: EventType;
  time: number;
  /**
   * In [0, 1]; the weights of one answer sum to at most 1. For a recommendation: this event's
   * share of what raised the item's score (measured by scoring the history without it). For
   * intent: the model's attention on it.
   */
  weight: number;
}

export type RecommendationSource = 'model' | 'similar' | 'trending' | 'catalog';

export interface Recommendation {
  itemId: string;
  score: number;
  /** The catalog entry, when the catalog knows the item. */
  item?: CatalogItem;
  /** The past events the model attended to most (empty for non-model sources). */
  because: Explanation[];
  source: RecommendationSource;
}

export interface IntentScore {
  /** Probability of an add-to-cart in this session: 1 once there was one, else the model's estimate that one comes. */
  cart: number;
  /** Probability of a purchase in this session: 1 once there was one, else the model's estimate that one comes. */
  purchase: number;
  because: Explanation[];
  source: 'model' | 'heuristic';
}

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export interface TrainingProgress {
  model: 'recommender' | 'intent';
  epoch: number;
  epochs: number;
  loss: number;
  /** 0–1 over the whole run. */
  fraction: number;
}

export interface EngineInfo {
  status: 'idle' | 'starting' | 'ready' | 'training' | 'fallback';
  backend: BackendName | null;
  /** Why this backend: capability checks and the first-run measurement. */
  backendReason: string;
  /**
   * Threads the WASM backend computes on: the number of cores where the page is cross-origin
   * isolated (SharedArrayBuffer available), else 1; null on any other backend.
   */
  wasmThreads: number | null;
  /** The WebGPU adapter, when one was found. */
  adapter: { vendor: string; architecture: string; isFallbackAdapter: boolean } | null;
  /** Parameters of the recommender and the intent model. */
  parameters: { recommender: number; intent: number };
  /** Ms since the epoch of the last finished training run, or null. */
  lastTrainedAt: number | null;
  lastLoss: number | null;
  /** Global model version the device started from, if any. */
  globalModelVersion: string | null;
  /** When the engine runs on fallbacks: why. */
  fallbackReason: string | null;
}

/** `info()` where no engine runs: no backend, no parameters, and `reason` (if any) says why. */
export function engineInfoWithoutEngine(status: EngineInfo['status'], reason: string | null): EngineInfo {
  return {
    status,
    backend: null,
    backendReason: reason ?? '',
    wasmThreads: null,
    adapter: null,
    parameters: { recommender: 0, intent: 0 },
    lastTrainedAt: null,
    lastLoss: null,
    globalModelVersion: null,
    fallbackReason: reason,
  };
}
