/**
 * The script tag's options: from its `data-*` attributes, and overlaid by a queued
 * `['init', options]`. Kept out of the tag's entry so that the global `Hearth` holds only the
 * documented API.
 */
import type { HearthOptions } from './config.js';

/** Options from the tag's `data-*` attributes. */
export function optionsFromAttributes(data: DOMStringMap): HearthOptions {
  const options: Record<string, unknown> = {};
  const flag = (value: string | undefined): boolean | undefined => (value === undefined ? undefined : value !== 'false');
  if (data.consent !== undefined) options.consent = data.consent;
  if (data.catalog) options.catalog = data.catalog;
  if (data.autocapture !== undefined) options.autocapture = flag(data.autocapture);
  if (data.datalayer !== undefined) options.dataLayer = data.datalayer === '' || data.datalayer === 'true' ? true : data.datalayer === 'false' ? false : data.datalayer;
  if (data.debug !== undefined) options.debug = flag(data.debug);
  if (data.dbName !== undefined) options.dbName = data.dbName;
  if (data.flushInterval !== undefined) options.flushIntervalMs = Number(data.flushInterval);
  if (data.worker || data.modelUrl || data.intentModelUrl || data.engine !== undefined || data.autoTrain !== undefined) {
    const engine: Record<string, unknown> = {};
    if (data.engine !== undefined) engine.enabled = flag(data.engine);
    if (data.autoTrain !== undefined) engine.autoTrain = flag(data.autoTrain);
    if (data.worker) engine.workerUrl = data.worker;
    if (data.modelUrl) engine.modelUrl = data.modelUrl;
    if (data.intentModelUrl) engine.intentModelUrl = data.intentModelUrl;
    options.engine = engine;
  }
  if (data.federatedServer) options.federated = { serverUrl: data.federatedServer, siteKey: data.siteKey ?? '' };
  return options as HearthOptions;
}

/**
 * The tag's options overlaid with a queued `['init', options]`, one level deep: a queued
 * `engine: { autoTrain: false }` keeps the tag's `data-model-url`.
 */
export function mergeTagOptions(fromTag: HearthOptions, queued: HearthOptions | undefined): HearthOptions {
  const out: Record<string, unknown> = { ...fromTag };
  for (const [key, value] of Object.entries(queued ?? {})) {
    const base = out[key];
    out[key] = base && value && typeof base === 'object' && typeof value === 'object' && !Array.isArray(value) ? { ...base, ...value } : value;
  }
  return out as HearthOptions;
}
