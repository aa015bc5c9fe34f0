import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { openStore, withMaintenanceLock, type LeaseStorage, type LockManagerLike } from '../../src/store/index.js';
import { recordingLogger, uniqueName } from '../fixtures/store/helpers.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** A minimal in-process Web Locks with `ifAvailable`. */
function fakeLocks(): LockManagerLike {
  const held = new Set<string>();
  return {
    async request(name, _options, callback) {
      if (held.has(name)) return callback(null);
      held.add(name);
      try {
        return await callback({ name });
      } finally {
        held.delete(name);
      }
    },
  };
}

function memoryStorage(): LeaseStorage {
  const map = new Map<string, string>();
  return {
    getItem: (key) => map.get(key) ?? null,
    setItem: (key, value) => void map.set(key, value),
    removeItem: (key) => void map.delete(key),
  };
}

describe('withMaintenanceLock', () => {
  it('runs only one holder at a time with Web Locks', async () => {
    const locks = fakeLocks();
    const gate = deferred();
    const first = withMaintenanceLock(
      'm',
      async () => {
        await gate.promise;
        return 'first';
      },
      { locks },
    );
    expect(await withMaintenanceLock('m', () => 'second', { locks })).toBeUndefined();
    gate.resolve();
    expect(await first).toBe('first');
    expect(await withMaintenanceLock('m', () => 'third', { locks })).toBe('third');
  });

  it('falls back to a lease in the meta store that two tabs cannot both take', async () => {
    const factory = new IDBFactory();
    const name = uniqueName();
    const [tabA, tabB] = await Promise.all([openStore({ name, logger: recordingLogger(), indexedDB: factory }), openStore({ name, logger: recordingLogger(), indexedDB: factory })]);
    let running = 0;
    let maxRunning = 0;
    const work = async (): Promise<string> => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running -= 1;
      return 'done';
    };
    const results = await Promise.all([
      withMaintenanceLock('m', work, { locks: null, store: tabA }),
      withMaintenanceLock('m', work, { locks: null, store: tabB }),
      withMaintenanceLock('m', work, { locks: null, store: tabA }),
    ]);
    expect(results.filter((r) => r === 'done')).toHaveLength(1);
    expect(maxRunning).toBe(1);
    // Released afterwards: the next caller gets it.
    expect(await withMaintenanceLock('m', () => 'again', { locks: null, store: tabB })).toBe('again');
    tabA.close();
    tabB.close();
  });

  it('takes over a fallback lease that has expired', async () => {
    const storage = memoryStorage();
    let now = 1_000;
    storage.setItem('hearth-lease:m', JSON.stringify({ owner: 'dead-tab', expiresAt: 2_000 }));
    expect(await withMaintenanceLock('m', () => 'x', { locks: null, storage, now: () => now })).toBeUndefined();
    now = 2_001;
    expect(await withMaintenanceLock('m', () => 'x', { locks: null, storage, now: () => now })).toBe('x');
    expect(storage.getItem('hearth-lease:m')).toBeNull();
  });

  it('releases the fallback lease when the maintenance throws', async () => {
    const storage = memoryStorage();
    await expect(
      withMaintenanceLock(
        'm',
        () => {
          throw new Error('boom');
        },
        { locks: null, storage },
      ),
    ).rejects.toThrow('boom');
    expect(await withMaintenanceLock('m', () => 'ok', { locks: null, storage })).toBe('ok');
  });

  it('just runs when neither Web Locks nor any lease storage exist', async () => {
    expect(await withMaintenanceLock('m', () => 7, { locks: null, storage: null })).toBe(7);
  });
});
