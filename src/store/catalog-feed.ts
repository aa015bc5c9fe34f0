/**
 * Keeps the catalog in step with a JSON feed, downloading it only when its ETag changed.
 */
import { silentLogger, type Logger } from '../shared/logger.js';
import { validateCatalog } from './catalog-validation.js';
import type { HearthStore } from './types.js';

/** Meta key of what was last loaded from a feed. */
export const CATALOG_FEED_META_KEY = 'catalog-feed';

/** What is remembered of the last successful feed download. */
export interface CatalogFeedState {
  url: string;
  etag: string | null;
  fetchedAt: number;
  items: number;
}

export type CatalogRefreshResult = 'updated' | 'unchanged' | 'failed';

function itemsOf(body: unknown): unknown {
  if (Array.isArray(body)) return body;
  if (typeof body === 'object' && body !== null && 'items' in body) return (body as { items: unknown }).items;
  return body;
}

/**
 * Fetches the catalog feed with `If-None-Match` set to the stored ETag: 304 → `'unchanged'`;
 * 200 → the JSON (an array of items or `{ items: [...] }`) is validated, then replaces the catalog
 * atomically and its ETag is stored → `'updated'`. Network, HTTP, JSON or validation trouble →
 * `'failed'` with one warning and the stored catalog untouched. Never throws.
 *
 * @example
 * ```ts
 * const result = await refreshCatalogFromFeed(store, '/catalog.json');
 * if (result === 'updated') engine.catalogChanged();
 * ```
 */
export async function refreshCatalogFromFeed(store: HearthStore, url: string, fetchImpl?: typeof fetch, logger: Logger = silentLogger): Promise<CatalogRefreshResult> {
  try {
    // Read `fetch` at call time: importing this module must not touch globals.
    const doFetch = fetchImpl ?? fetch;
    const previous = await store.getMeta<CatalogFeedState>(CATALOG_FEED_META_KEY);
    const headers: Record<string, string> = { accept: 'application/json' };
    // The ETag only describes the URL it came from; a new feed URL is fetched unconditionally.
    if (previous?.url === url && previous.etag) headers['if-none-match'] = previous.etag;
    const response = await doFetch(url, { headers, credentials: 'same-origin' });
    if (response.status === 304) return 'unchanged';
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const items = validateCatalog(itemsOf(await response.json()));
    await store.replaceCatalog(items);
    const state: CatalogFeedState = { url, etag: response.headers.get('etag'), fetchedAt: Date.now(), items: items.length };
    await store.setMeta(CATALOG_FEED_META_KEY, state);
    return 'updated';
  } catch (error) {
    logger.warnOnce(`catalog-feed-failed:${url}`, `Could not refresh the catalog from ${url}; keeping the stored catalog. ${error instanceof Error ? error.message : String(error)}`, error);
    return 'failed';
  }
}
