import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { CATALOG_FEED_META_KEY, MemoryStore, openStore, refreshCatalogFromFeed, validateCatalog, type CatalogFeedState, type HearthStore } from '../../src/store/index.js';
import { recordingLogger, uniqueName } from '../fixtures/store/helpers.js';

function idbStore(): Promise<HearthStore> {
  return openStore({ name: uniqueName(), logger: recordingLogger(), indexedDB: new IDBFactory() });
}

describe('validateCatalog', () => {
  it('returns clean items with inStock defaulting to true and unknown fields dropped', () => {
    expect(validateCatalog([{ id: 'a', title: 'Mug', price: 0, brand: 'B', category: 'Kitchen', extra: 1 }])).toEqual([
      { id: 'a', title: 'Mug', price: 0, brand: 'B', category: 'Kitchen', inStock: true },
    ]);
  });

  it.each([
    [{ items: [] }, /must be an array/],
    [[null], /Catalog item 0: must be an object/],
    [[{ title: 'x' }], /Catalog item 0: id must be a non-empty string/],
    [[{ id: '', title: 'x' }], /id must be a non-empty string/],
    [[{ id: 'x'.repeat(257), title: 'x' }], /at most 256 characters, got 257/],
    [[{ id: 'a', title: 'A' }, { id: 'b' }], /Catalog item 1 \(id "b"\): title must be a string/],
    [[{ id: 'a', title: 'A', price: -1 }], /price must be a finite number ≥ 0 when present, got -1/],
    [[{ id: 'a', title: 'A', price: Number.POSITIVE_INFINITY }], /price must be a finite number/],
    [[{ id: 'a', title: 'A', price: '3' }], /price must be a finite number/],
    [[{ id: 'a', title: 'A', inStock: 'yes' }], /inStock must be a boolean/],
    [[{ id: 'a', title: 'A', category: 3 }], /category must be a string/],
    [
      [
        { id: 'a', title: 'A' },
        { id: 'a', title: 'B' },
      ],
      /Catalog item 1 \(id "a"\): duplicate id/,
    ],
  ])('rejects %j with a message naming the item and the problem', (input, message) => {
    expect(() => validateCatalog(input)).toThrow(message);
    try {
      validateCatalog(input);
    } catch (error) {
      expect(error).toMatchObject({ code: 'invalid_catalog' });
    }
  });
});

describe.each([
  ['IndexedDB store', idbStore],
  ['memory store', async (): Promise<HearthStore> => new MemoryStore()],
])('catalog in the %s', (_label, create) => {
  it('replaces the whole catalog and looks items up by id', async () => {
    const store = await create();
    await store.replaceCatalog([
      { id: 'a', title: 'A', inStock: true },
      { id: 'b', title: 'B', inStock: false, price: 2 },
    ]);
    await store.replaceCatalog([
      { id: 'b', title: 'B2', inStock: true },
      { id: 'c', title: 'C', inStock: true },
    ]);
    expect((await store.getCatalog()).map((i) => i.id)).toEqual(['b', 'c']);
    expect(await store.getCatalogItems(['c', 'a', 'b'])).toEqual([{ id: 'c', title: 'C', inStock: true }, undefined, { id: 'b', title: 'B2', inStock: true }]);
  });

  it('leaves the stored catalog untouched when the new one is invalid', async () => {
    const store = await create();
    await store.replaceCatalog([{ id: 'a', title: 'A', inStock: true }]);
    const bad = [
      { id: 'b', title: 'B', inStock: true },
      { id: 'c', price: -3 },
    ] as never;
    await expect(store.replaceCatalog(bad)).rejects.toMatchObject({ code: 'invalid_catalog' });
    expect(await store.getCatalog()).toEqual([{ id: 'a', title: 'A', inStock: true }]);
  });
});

/** A fake `fetch` that serves `body` with `etag` and answers 304 to a matching If-None-Match. */
function feedServer(responses: { body: string; etag: string }[]): { fetch: typeof fetch; requests: Headers[] } {
  const requests: Headers[] = [];
  let turn = 0;
  const fake = async (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    requests.push(headers);
    const current = responses[Math.min(turn, responses.length - 1)]!;
    turn += 1;
    if (headers.get('if-none-match') === current.etag) return new Response(null, { status: 304 });
    return new Response(current.body, { status: 200, headers: { etag: current.etag, 'content-type': 'application/json' } });
  };
  return { fetch: fake as typeof fetch, requests };
}

describe('refreshCatalogFromFeed', () => {
  it('downloads on 200, then sends the ETag and skips the download on 304', async () => {
    const store = await idbStore();
    const server = feedServer([
      { body: JSON.stringify([{ id: 'a', title: 'A' }]), etag: '"v1"' },
      { body: JSON.stringify([{ id: 'a', title: 'A' }]), etag: '"v1"' },
      { body: JSON.stringify({ items: [{ id: 'b', title: 'B', inStock: false }] }), etag: '"v2"' },
    ]);
    expect(await refreshCatalogFromFeed(store, '/catalog.json', server.fetch)).toBe('updated');
    expect(server.requests[0]?.get('if-none-match')).toBeNull();
    expect(await store.getCatalog()).toEqual([{ id: 'a', title: 'A', inStock: true }]);
    expect(await refreshCatalogFromFeed(store, '/catalog.json', server.fetch)).toBe('unchanged');
    expect(server.requests[1]?.get('if-none-match')).toBe('"v1"');
    expect(await refreshCatalogFromFeed(store, '/catalog.json', server.fetch)).toBe('updated');
    expect(await store.getCatalog()).toEqual([{ id: 'b', title: 'B', inStock: false }]);
    expect((await store.getMeta<CatalogFeedState>(CATALOG_FEED_META_KEY))?.etag).toBe('"v2"');
  });

  it.each([
    ['malformed JSON', async () => new Response('{not json', { status: 200, headers: { etag: '"x"' } })],
    ['an invalid item', async () => new Response(JSON.stringify([{ id: 'z', price: 1 }]), { status: 200, headers: { etag: '"x"' } })],
    ['an HTTP error', async () => new Response('oops', { status: 500 })],
    [
      'a network failure',
      async (): Promise<Response> => {
        throw new TypeError('Failed to fetch');
      },
    ],
  ])('returns failed on %s and changes nothing', async (_label, fake) => {
    const store = await idbStore();
    await store.replaceCatalog([{ id: 'a', title: 'A', inStock: true }]);
    const logger = recordingLogger();
    expect(await refreshCatalogFromFeed(store, '/feed.json', fake as typeof fetch, logger)).toBe('failed');
    expect(await store.getCatalog()).toEqual([{ id: 'a', title: 'A', inStock: true }]);
    expect(await store.getMeta(CATALOG_FEED_META_KEY)).toBeUndefined();
    expect(logger.warnings).toHaveLength(1);
  });
});
