import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { makeEvent, recordingLogger, uniqueName } from '../fixtures/store/helpers.js';

afterEach(() => {
  vi.unstubAllGlobals();
});

async function rawOpen(factory: IDBFactory, name: string, version?: number): Promise<IDBDatabase> {
  const request = factory.open(name, version);
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

describe('openStore fallback to memory', () => {
  it('keeps working in memory and warns once when indexedDB is undefined', async () => {
    vi.stubGlobal('indexedDB', undefined);
    const logger = recordingLogger();
    const store = await openStore({ name: 'x', logger });
    expect(store.persistent).toBe(false);
    await store.appendEvents([makeEvent(1, ['a'])]);
    expect(await store.readEvents({ itemId: 'a' })).toHaveLength(1);
    expect(logger.warnings).toEqual([{ key: 'storage-unavailable', message: expect.stringContaining('memory') }]);
  });

  it('falls back when touching indexedDB throws', async () => {
    Object.defineProperty(globalThis, 'indexedDB', {
      configurable: true,
      get() {
        throw new DOMException('denied', 'SecurityError');
      },
    });
    try {
      const logger = recordingLogger();
      const store = await openStore({ name: 'x', logger });
      expect(store.persistent).toBe(false);
      expect(logger.warnings.map((w) => w.key)).toEqual(['storage-unavailable']);
    } finally {
      Object.defineProperty(globalThis, 'indexedDB', { configurable: true, writable: true, value: new IDBFactory() });
    }
  });

  it('falls back when open throws', async () => {
    const factory = {
      open() {
        throw new DOMException('The operation is insecure.', 'SecurityError');
      },
    } as unknown as IDBFactory;
    const logger = recordingLogger();
    const store = await openStore({ name: 'x', logger, indexedDB: factory });
    expect(store.persistent).toBe(false);
    expect(logger.warnings[0]?.message).toContain('SecurityError');
  });

  it('falls back when open fails with an error event', async () => {
    const factory = new IDBFactory();
    // A newer version on disk (written by a newer Hearth in another tab) makes our open fail.
    (await rawOpen(factory, 'newer', 99)).close();
    const logger = recordingLogger();
    const store = await openStore({ name: 'newer', logger, indexedDB: factory });
    expect(store.persistent).toBe(false);
    expect(logger.warnings[0]?.message).toContain('VersionError');
  });

  it('falls back when the upgrade stays blocked by another tab past the timeout', async () => {
    const factory = new IDBFactory();
    // An old tab holds version 1 open and never closes it.
    const request = factory.open('blocked', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('events', { keyPath: 'id', autoIncrement: true });
    const old = await new Promise<IDBDatabase>((resolve) => {
      request.onsuccess = () => resolve(request.result);
    });
    const logger = recordingLogger();
    const store = await openStore({ name: 'blocked', logger, indexedDB: factory, blockedTimeoutMs: 30 });
    expect(store.persistent).toBe(false);
    expect(logger.warnings[0]?.message).toContain('TimeoutError');
    old.close();
  });
});

describe('openStore options', () => {
  it('rejects an invalid retention policy before opening anything', async () => {
    await expect(openStore({ name: 'x', logger: recordingLogger(), indexedDB: new IDBFactory(), retention: { maxEvents: 1.5, maxAgeDays: 9 } })).rejects.toMatchObject({
      code: 'invalid_options',
      message: expect.stringContaining('maxEvents'),
    });
  });
});

describe('other tabs upgrading or deleting the database', () => {
  it('closes on versionchange so deletion proceeds, then reopens lazily on next use', async () => {
    const factory = new IDBFactory();
    const name = uniqueName();
    const onVersionChange = vi.fn();
    const store = await openStore({ name, logger: recordingLogger(), indexedDB: factory, onVersionChange });
    await store.appendEvents([makeEvent(1)]);
    await new Promise<void>((resolve, reject) => {
      const request = factory.deleteDatabase(name);
      request.onsuccess = () => resolve();
      request.onerror = () => reject(request.error);
    });
    expect(onVersionChange).toHaveBeenCalledExactlyOnceWith({ deleted: true });
    await store.appendEvents([makeEvent(2)]);
    expect(store.persistent).toBe(true);
    expect((await store.readEvents()).map((e) => e.time)).toEqual([2]);
    store.close();
  });

  it('lets one store destroy the database while another connection is open', async () => {
    const factory = new IDBFactory();
    const name = uniqueName();
    const [tabA, tabB] = await Promise.all([openStore({ name, logger: recordingLogger(), indexedDB: factory }), openStore({ name, logger: recordingLogger(), indexedDB: factory })]);
    await tabA.appendEvents([makeEvent(1)]);
    await tabA.destroy();
    expect((await factory.databases()).map((d) => d.name)).not.toContain(name);
    tabB.close();
  });
});
