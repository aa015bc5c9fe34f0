import { describe, expect, it } from 'vitest';
import { makeEvent, recordingLogger } from '../fixtures/store/helpers.js';

describe('the store module without any browser global', () => {
  it('imports without touching indexedDB and opens an in-memory store', async () => {
    expect(typeof indexedDB).toBe('undefined');
    const { openStore } = await import('../../src/store/index.js');
    const logger = recordingLogger();
    const store = await openStore({ name: 'ssr', logger });
    expect(store.persistent).toBe(false);
    await store.appendEvents([makeEvent(1)]);
    expect(await store.countEvents()).toBe(1);
    expect(logger.warnings).toHaveLength(1);
  });
});
