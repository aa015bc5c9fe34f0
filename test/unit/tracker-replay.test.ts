/**
 * Event ids and every path that may hand an event over twice: the merge rule, the page-exit
 * stash and its drain, retried writes, the pre-consent buffer, a memory-only store.
 */
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { mergeEvents } from '../../src/protocol/merge-events.js';
import { backoffDelay } from '../../src/shared/backoff.js';
import { drainStashes, pageExitStash, STASH_PREFIX } from '../../src/tracker/page-exit-stash.js';
import { Tracker } from '../../src/tracker/tracker.js';
import { validateEvent } from '../../src/tracker/validate-event.js';
import { MemoryStore, openStore, type HearthStore } from '../../src/store/index.js';
import { hasErrorCode } from '../../src/protocol/errors.js';
import { makeEvent, recordingLogger, uniqueName } from '../fixtures/store/helpers.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';

/** A localStorage stand-in. */
class MapStorage {
  private readonly map = new Map<string, string>();
  get length(): number {
    return this.map.size;
  }
  key(i: number): string | null {
    return [...this.map.keys()][i] ?? null;
  }
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, String(value));
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
  }
}

/** `Object.keys(localStorage)` lists its keys: a proxy gives the stand-in the same shape. */
function storage(): Storage {
  const inner = new MapStorage();
  return new Proxy(inner, {
    ownKeys: () => [...Array.from({ length: inner.length }, (_, i) => inner.key(i) as string)],
    getOwnPropertyDescriptor: (_t, key) => (typeof key === 'string' && inner.getItem(key) !== null ? { enumerable: true, configurable: true, value: inner.getItem(key) } : undefined),
  }) as unknown as Storage;
}

async function idbStore(): Promise<HearthStore> {
  return openStore({ name: uniqueName(), logger: recordingLogger(), indexedDB: new IDBFactory() });
}

describe('the merge rule', () => {
  it('keeps one copy per eventId and keeps distinct events that look alike', () => {
    const a = makeEvent(1, ['x'], 's', 'view_item', 'id-a');
    const twin = makeEvent(1, ['x'], 's', 'view_item', 'id-b');
    expect(mergeEvents([a, twin], [{ ...a }], [twin]).map((e) => e.eventId)).toEqual(['id-a', 'id-b']);
  });

  it('orders the merged events oldest first and drops entries that are not events', () => {
    const merged = mergeEvents([makeEvent(5, [], 's', 'view_item', 'late')], [null as unknown as StoredEvent, makeEvent(2, [], 's', 'view_item', 'early')]);
    expect(merged.map((e) => e.eventId)).toEqual(['early', 'late']);
  });
});

describe('back-off', () => {
  it('doubles from the base delay up to the cap', () => {
    expect([1, 2, 3, 4, 10, 100].map((n) => backoffDelay(n, 1_000, 60_000))).toEqual([1_000, 2_000, 4_000, 8_000, 60_000, 60_000]);
  });

  it('with jitter, waits a uniform share of the same ceiling', () => {
    expect([0, 0.5, 0.999].map((u) => backoffDelay(3, 1_000, 60_000, () => u))).toEqual([0, 2_000, 3_996]);
    expect(backoffDelay(100, 1_000, 30_000, () => 0.5)).toBe(15_000);
  });
});

describe('the tracker', () => {
  const tracker = (store: HearthStore | undefined, canWrite = () => true): Tracker => {
    const t = new Tracker({ logger: recordingLogger(), flushIntervalMs: 60_000, sessionTimeoutMs: 1_800_000, canWrite });
    t.attach(store, undefined);
    return t;
  };

  it('stamps a stable id on every event at track() time', () => {
    const t = new Tracker({ logger: recordingLogger(), flushIntervalMs: 60_000, sessionTimeoutMs: 1_800_000, canWrite: () => true });
    const early = t.track({ type: 'page_view' });
    expect(early?.eventId).toMatch(/^[0-9a-f-]{32,36}$/);
    expect(t.unwritten().map((e) => e.eventId)).toEqual([early?.eventId]);
    t.attach(new MemoryStore(), undefined);
    expect(t.unwritten()[0]?.eventId).toBe(early?.eventId);
    t.stop();
  });

  it('keeps a batch whose write failed and writes it once on the retry', async () => {
    const store = new MemoryStore();
    let fail = true;
    const flaky: HearthStore = Object.assign(Object.create(store) as HearthStore, {
      appendEvents: async (events: readonly StoredEvent[]) => {
        if (fail) {
          // The write reached the store but its answer was lost: a retry must not double it.
          await store.appendEvents(events);
          return { added: 0, duplicates: 0, dropped: events.length };
        }
        return store.appendEvents(events);
      },
    });
    const t = tracker(flaky);
    t.track({ type: 'view_item', items: [{ item_id: 'kept' }] });
    await t.flush();
    expect(t.unwritten().map((e) => e.itemIds[0])).toEqual(['kept']);
    fail = false;
    await t.flush();
    expect(t.unwritten()).toEqual([]);
    expect((await store.readEvents()).map((e) => e.itemIds[0])).toEqual(['kept']);
    t.stop();
  });

  it('replays the pre-consent buffer once, however often consent is granted', async () => {
    const store = await idbStore();
    let granted = false;
    const t = tracker(store, () => granted);
    t.track({ type: 'view_item', items: [{ item_id: 'held' }] });
    granted = true;
    await Promise.all([t.releaseHeld(), t.releaseHeld(), t.releaseHeld()]);
    expect((await store.readEvents()).map((e) => e.itemIds[0])).toEqual(['held']);
    t.stop();
    store.close();
  });

  it('turns an unreadable event (throwing getter, revoked Proxy, BigInt) into invalid_event, never a raw error', () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const getter = Object.defineProperty({ type: 'view_item' }, 'items', {
      enumerable: true,
      get: () => {
        throw new Error('boom');
      },
    });
    const hostile: unknown[] = [
      proxy,
      getter,
      { type: 'purchase', items: [{ item_id: 'a' }], value: 10n },
      {
        type: {
          toString: () => {
            throw new Error('x');
          },
        },
      },
    ];
    for (const input of hostile) {
      let caught: unknown;
      try {
        validateEvent(input);
      } catch (error) {
        caught = error;
      }
      expect(hasErrorCode(caught, 'invalid_event')).toBe(true);
    }
  });
});

describe('the page-exit stash', () => {
  const drainInto = (ls: Storage, store: HearthStore, ownKey = 'none') =>
    drainStashes({
      storage: ls,
      dbName: 'db',
      ownKey,
      canWrite: () => true,
      adopt: (e) => e.map((x) => (x.session ? x : { ...x, session: 'adopted' })),
      write: async (e) => (await store.appendEvents(e)).dropped === 0,
    });

  it('removes a stash only after its write committed; a failed write leaves it for the next page', async () => {
    const ls = storage();
    pageExitStash(() => ls, 'db', 'page-a').save([makeEvent(1, ['a']), makeEvent(2, ['b'])]);
    const store = await idbStore();
    const refusing: HearthStore = Object.assign(Object.create(store) as HearthStore, { appendEvents: async (e: readonly StoredEvent[]) => ({ added: 0, duplicates: 0, dropped: e.length }) });
    expect(await drainInto(ls, refusing)).toEqual({ stashes: 1, events: 0, kept: 1 });
    expect(ls.getItem(`${STASH_PREFIX}db:page-a`)).not.toBeNull();
    expect(await drainInto(ls, store)).toEqual({ stashes: 1, events: 2, kept: 0 });
    expect(ls.getItem(`${STASH_PREFIX}db:page-a`)).toBeNull();
    store.close();
  });

  it('stores each event exactly once when a page dies between the commit and the removal, or leaves before its own flush', async () => {
    const ls = storage();
    const events = [makeEvent(1, ['a']), makeEvent(2, [], '')];
    pageExitStash(() => ls, 'db', 'page-a').save(events);
    const store = await idbStore();
    // The "crash": the write commits, the stash is not removed.
    await store.appendEvents([{ ...events[0]!, session: 's1' }]);
    // The next page drains it (twice, as two quick pages would), while another copy is also written.
    await drainInto(ls, store);
    await drainInto(ls, store);
    await store.appendEvents(events.map((e) => ({ ...e, session: 'late' })));
    const stored = await store.readEvents();
    expect(stored.map((e) => e.eventId).sort()).toEqual(events.map((e) => e.eventId).sort());
    expect(stored.find((e) => e.eventId === events[1]!.eventId)?.session).toBe('adopted');
    store.close();
  });

  it('recovers a stash written by the previous release (events without ids) once, however often it is drained', async () => {
    const ls = storage();
    const old = [makeEvent(1, ['a']), makeEvent(2, ['b'])].map(({ eventId: _none, ...rest }) => rest);
    ls.setItem(`${STASH_PREFIX}db:old-page`, JSON.stringify(old));
    const store = await idbStore();
    const refusingRemoval = new Proxy(ls, { get: (target, key) => (key === 'removeItem' ? () => undefined : Reflect.get(target, key)) });
    await drainInto(refusingRemoval as Storage, store);
    await drainInto(ls, store);
    expect((await store.readEvents()).map((e) => e.itemIds[0])).toEqual(['a', 'b']);
    store.close();
  });

  it('leaves this page’s own stash alone, deletes stashes unwritten when consent was withdrawn, and drops corrupt ones', async () => {
    const ls = storage();
    pageExitStash(() => ls, 'db', 'mine').save([makeEvent(1)]);
    pageExitStash(() => ls, 'db', 'other').save([makeEvent(2)]);
    ls.setItem(`${STASH_PREFIX}db:corrupt`, '{not json');
    const store = await idbStore();
    const result = await drainStashes({ storage: ls, dbName: 'db', ownKey: `${STASH_PREFIX}db:mine`, canWrite: () => false, adopt: (e) => e, write: async () => true });
    expect(result).toEqual({ stashes: 2, events: 0, kept: 0 });
    expect(Object.keys(ls)).toEqual([`${STASH_PREFIX}db:mine`]);
    expect(await store.countEvents()).toBe(0);
    store.close();
  });
});
