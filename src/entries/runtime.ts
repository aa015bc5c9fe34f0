/**
 * The runtime with every part linked in: the npm entry uses it directly, and it is the entry of
 * the script tag's lazily imported `hearth.runtime.js`.
 */
import { openStore } from '../store/open-store.js';
import { withMaintenanceLock } from '../store/maintenance-lock.js';
import { refreshCatalogFromFeed } from '../store/catalog-feed.js';
import { createEngineClient } from '../client/engine-client.js';
import { createRuntime } from '../hearth/runtime-session.js';

/**
 * @example
 * ```ts
 * const hearth = createHearth(options, { loadRuntime: async () => runtime });
 * ```
 */
export const runtime = /* @__PURE__ */ createRuntime({ openStore, withMaintenanceLock, refreshCatalogFromFeed, createEngineClient });
