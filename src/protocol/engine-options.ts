import type { RecommenderConfig, IntentConfig } from './model-config.js';
import type { BackendName } from './engine-types.js';

/** Engine options of `init({ engine })`. Owned by the engine; extend here. */
export interface EngineOptions {
  /** Turn the on-device engine off entirely (recommendations fall back to trending/catalog). */
  enabled?: boolean;
  /** Where the worker bundle lives; default: `hearth.worker.js` next to the Hearth script. */
  workerUrl?: string | URL;
  /**
   * Where tfjs's `.wasm` files live (a folder URL, resolved against the page); default: `wasm/`
   * next to the worker. When a bundler (Vite, webpack) re-emits the worker under its own asset
   * folder, copy `dist/wasm/` into the app's public folder and point this at it.
   */
  wasmPath?: string;
  /** Force a backend instead of choosing by capability and measurement. */
  backend?: BackendName;
  /** A global starting model in the tfjs format (warm start). */
  modelUrl?: string;
  /**
   * A starting intent model in the tfjs format (`hearth-train --intent` writes it to
   * `out/intent/model.json`), so that `intent()` answers from a model before the device has trained.
   */
  intentModelUrl?: string;
  /** Train automatically when the browser is idle (default true). */
  autoTrain?: boolean;
  recommender?: Partial<RecommenderConfig>;
  intent?: Partial<IntentConfig>;
  /** Epochs over the local events per training run (default 2). */
  trainEpochs?: number;
  /** Automatic training waits for this many new events since the last run (default 20). */
  trainAfterEvents?: number;
  /** Train on at most this many of the newest events (default 5,000). */
  maxTrainEvents?: number;
}
