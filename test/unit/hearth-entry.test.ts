import { describe, expect, it } from 'vitest';

describe('the entry points', () => {
  it('src/index.ts exports exactly init, HearthError, hasErrorCode and EVENT_TYPES, and importing it touches no browser global', async () => {
    expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
    const api = await import('../../src/index.js');
    expect(Object.keys(api).sort()).toEqual(['EVENT_TYPES', 'HearthError', 'hasErrorCode', 'init']);
  });

  it('init() works in Node without window or IndexedDB: tracking in memory, no throw', async () => {
    const { init } = await import('../../src/index.js');
    const hearth = init({ consent: 'opt-out' });
    hearth.track({ type: 'view_item', items: [{ item_id: 'ssr' }] });
    await hearth.ready;
    await hearth.flush();
    expect((await hearth.recentlyViewed()).map((r) => r.itemId)).toEqual(['ssr']);
    expect((await hearth.exportData()).events).toHaveLength(1);
    hearth.destroy();
  });

  it('the script tag reads its data-* attributes into init options', async () => {
    const { optionsFromAttributes } = await import('../../src/entries/script-tag.js');
    expect(
      optionsFromAttributes({
        consent: 'opt-out',
        catalog: '/catalog.json',
        autocapture: 'false',
        datalayer: 'myLayer',
        debug: '',
        worker: '/hearth.worker.js',
        modelUrl: '/model/model.json',
        federatedServer: 'https://fl.example',
        siteKey: 'site-1',
        dbName: 'shop',
        flushInterval: '200',
      }),
    ).toEqual({
      consent: 'opt-out',
      catalog: '/catalog.json',
      autocapture: false,
      dataLayer: 'myLayer',
      debug: true,
      dbName: 'shop',
      flushIntervalMs: 200,
      engine: { workerUrl: '/hearth.worker.js', modelUrl: '/model/model.json' },
      federated: { serverUrl: 'https://fl.example', siteKey: 'site-1' },
    });
    expect(optionsFromAttributes({ datalayer: 'false', debug: 'false' })).toEqual({ dataLayer: false, debug: false });
    expect(optionsFromAttributes({})).toEqual({});
    expect(optionsFromAttributes({ engine: 'false' })).toEqual({ engine: { enabled: false } });
    expect(optionsFromAttributes({ autoTrain: 'false' })).toEqual({ engine: { autoTrain: false } });
  });
});
