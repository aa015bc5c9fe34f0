import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { MemoryStore, openStore, type HearthStore, type ModelCheckpoint } from '../../src/store/index.js';
import { makeEvent, recordingLogger, uniqueName } from '../fixtures/store/helpers.js';
import { writeRaw } from '../fixtures/store/v1-database.js';

function checkpoint(name = 'recommender'): ModelCheckpoint {
  return {
    name,
    formatVersion: 3,
    config: { dims: 2, vocabulary: ['a', 'b', 'c'] },
    weights: [
      { name: 'embedding', shape: [3, 2], values: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      { name: 'bias', shape: [2], values: Float32Array.from([0.5, -0.5]) },
    ],
    savedAt: 1_700_000_000_000,
  };
}

describe.each([
  ['IndexedDB store', (): Promise<HearthStore> => openStore({ name: uniqueName(), logger: recordingLogger(), indexedDB: new IDBFactory() })],
  ['memory store', async (): Promise<HearthStore> => new MemoryStore()],
])('checkpoints, meta and export in the %s', (_label, create) => {
  it('round-trips a checkpoint with Float32Array weights', async () => {
    const store = await create();
    await store.putCheckpoint(checkpoint());
    const read = await store.getCheckpoint('recommender');
    expect(read?.weights[0]?.values).toBeInstanceOf(Float32Array);
    expect(read).toEqual(checkpoint());
    await store.deleteCheckpoint('recommender');
    expect(await store.getCheckpoint('recommender')).toBeUndefined();
  });

  it('stores weights that are views into one shared buffer without copying the whole buffer each', async () => {
    const store = await create();
    const shard = new Float32Array(1_000);
    shard.set([1, 2, 3, 4, 5, 6, 0.5, -0.5]);
    const viewed = checkpoint();
    viewed.weights[0]!.values = shard.subarray(0, 6);
    viewed.weights[1]!.values = shard.subarray(6, 8);
    await store.putCheckpoint(viewed);
    const read = await store.getCheckpoint('recommender');
    expect(read?.weights.map((w) => w.values.buffer.byteLength)).toEqual([24, 8]);
    expect(read).toEqual(checkpoint());
  });

  it('refuses to save a checkpoint whose shape does not match its values', async () => {
    const store = await create();
    const bad = checkpoint();
    bad.weights[0]!.shape = [4, 2];
    await expect(store.putCheckpoint(bad)).rejects.toMatchObject({ code: 'invalid_checkpoint' });
  });

  it('stores meta values by key', async () => {
    const store = await create();
    expect(await store.getMeta('consent')).toBeUndefined();
    await store.setMeta('consent', { personalise: true, contribute: null, updatedAt: 5 });
    expect(await store.getMeta('consent')).toEqual({ personalise: true, contribute: null, updatedAt: 5 });
  });

  it('exports everything as JSON-friendly data with checkpoints summarised', async () => {
    const store = await create();
    await store.appendEvents([makeEvent(2, ['b']), makeEvent(1, ['a'])]);
    await store.replaceCatalog([{ id: 'a', title: 'A', inStock: true }]);
    await store.setMeta('session', { id: 's1' });
    await store.putCheckpoint(checkpoint());
    const exported = await store.exportAll();
    expect(exported.events.map((e) => e.time)).toEqual([1, 2]);
    expect(exported.catalog).toEqual([{ id: 'a', title: 'A', inStock: true }]);
    expect(exported.meta).toEqual({ session: { id: 's1' } });
    expect(exported.checkpoints).toEqual([{ name: 'recommender', formatVersion: 3, savedAt: 1_700_000_000_000, parameters: 8 }]);
    expect(JSON.parse(JSON.stringify(exported))).toEqual(exported);
  });

  it('destroy leaves nothing behind', async () => {
    const store = await create();
    await store.appendEvents([makeEvent(1)]);
    await store.setMeta('k', 1);
    await store.destroy();
    expect(await store.countEvents()).toBe(0);
    expect(await store.getMeta('k')).toBeUndefined();
  });
});

describe('checkpoints and destroy in the IndexedDB store', () => {
  it('discards a corrupt checkpoint on read', async () => {
    const factory = new IDBFactory();
    const name = uniqueName();
    const logger = recordingLogger();
    const store = await openStore({ name, logger, indexedDB: factory });
    store.close();
    const corrupt = checkpoint();
    corrupt.weights[1]!.shape = [3];
    await writeRaw(factory, name, 'checkpoints', corrupt);
    expect(await store.getCheckpoint('recommender')).toBeUndefined();
    expect(logger.warnings[0]?.message).toContain('shape [3]');
    expect((await store.exportAll()).checkpoints).toEqual([]);
  });

  it('deletes the database so that indexedDB.databases() no longer lists it', async () => {
    const factory = new IDBFactory();
    const name = uniqueName();
    const store = await openStore({ name, logger: recordingLogger(), indexedDB: factory });
    await store.appendEvents([makeEvent(1)]);
    expect((await factory.databases()).map((d) => d.name)).toContain(name);
    await store.destroy();
    expect((await factory.databases()).map((d) => d.name)).not.toContain(name);
    // Later calls do not recreate the database.
    await store.appendEvents([makeEvent(2)]);
    expect(store.persistent).toBe(false);
    expect((await factory.databases()).map((d) => d.name)).not.toContain(name);
  });
});
