/**
 * Only one tab at a time runs maintenance (retention, catalog refresh).
 *
 * With Web Locks, `navigator.locks.request(name, { ifAvailable: true })` gives the lock to exactly
 * one context, and the browser frees it when that context dies.
 *
 * Without Web Locks (old Safari, some embedded webviews) a lease with an expiry stands in for it:
 * - in the store's `meta` (`store.acquireLease`): one readwrite transaction reads and writes the
 *   lease, and IndexedDB serialises readwrite transactions, so two tabs cannot both take it;
 * - else in `localStorage`: there is no atomic compare-and-set, so we write, wait a tick and read
 *   back; two tabs racing within that window may, rarely, both run. Maintenance is idempotent, so
 *   that costs duplicate work, never lost data.
 * The trade-off of a lease: a tab that dies mid-maintenance holds it until it expires (default 60 s),
 * so keep `fn` shorter than the lease or pass a longer `leaseMs`.
 * With neither, `fn` simply runs.
 */
import type { HearthStore } from './types.js';

/** Subset of the Web Locks API that is used. */
export interface LockManagerLike {
  request<T>(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => Promise<T> | T): Promise<T>;
}

/** Subset of `localStorage` that is used. */
export interface LeaseStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface MaintenanceLockOptions {
  /** The store whose `meta` holds the fallback lease (preferred over localStorage). */
  store?: HearthStore;
  /** Default: `navigator.locks` where present; `null` forces the fallback. */
  locks?: LockManagerLike | null;
  /** Default: `localStorage` where present and usable; `null` disables it. */
  storage?: LeaseStorage | null;
  /** How long a fallback lease lasts. Default 60,000 ms. */
  leaseMs?: number;
  now?: () => number;
}

const LEASE_PREFIX = 'hearth-lease:';

function defaultLocks(): LockManagerLike | undefined {
  const nav = typeof navigator === 'undefined' ? undefined : (navigator as { locks?: LockManagerLike });
  return nav?.locks ?? undefined;
}

function defaultStorage(): LeaseStorage | undefined {
  try {
    // Reading `localStorage` throws where storage is blocked; workers have none.
    return typeof localStorage === 'undefined' ? undefined : localStorage;
  } catch {
    return undefined;
  }
}

function randomOwner(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * Runs `fn` when no other tab holds the maintenance lock `name`, and returns its result; returns
 * `undefined` at once, without running `fn`, when another tab holds it.
 *
 * @example
 * ```ts
 * await withMaintenanceLock('hearth-maintenance', () => store.enforceRetention(policy), { store });
 * ```
 */
export async function withMaintenanceLock<T>(name: string, fn: () => Promise<T> | T, options: MaintenanceLockOptions = {}): Promise<T | undefined> {
  const locks = options.locks === null ? undefined : (options.locks ?? defaultLocks());
  if (locks) {
    return locks.request<T | undefined>(name, { ifAvailable: true }, async (lock) => (lock ? await fn() : undefined));
  }
  const now = options.now ?? Date.now;
  const leaseMs = options.leaseMs ?? 60_000;
  const owner = randomOwner();
  const store = options.store;
  if (store?.acquireLease && store.releaseLease) {
    if (!(await store.acquireLease(name, owner, leaseMs, now()))) return undefined;
    try {
      return await fn();
    } finally {
      await store.releaseLease(name, owner);
    }
  }
  const storage = options.storage === null ? undefined : (options.storage ?? defaultStorage());
  if (storage) {
    const key = LEASE_PREFIX + name;
    if (!(await takeStorageLease(storage, key, owner, leaseMs, now))) return undefined;
    try {
      return await fn();
    } finally {
      if (readLease(storage, key)?.owner === owner) storage.removeItem(key);
    }
  }
  return fn();
}

interface StorageLease {
  owner: string;
  expiresAt: number;
}

function readLease(storage: LeaseStorage, key: string): StorageLease | undefined {
  try {
    const raw = storage.getItem(key);
    const lease = raw === null ? undefined : (JSON.parse(raw) as Partial<StorageLease>);
    return typeof lease?.owner === 'string' && typeof lease.expiresAt === 'number' ? (lease as StorageLease) : undefined;
  } catch {
    return undefined;
  }
}

async function takeStorageLease(storage: LeaseStorage, key: string, owner: string, leaseMs: number, now: () => number): Promise<boolean> {
  const held = readLease(storage, key);
  if (held && held.owner !== owner && held.expiresAt > now()) return false;
  try {
    storage.setItem(key, JSON.stringify({ owner, expiresAt: now() + leaseMs } satisfies StorageLease));
  } catch {
    // Storage full or blocked: run anyway rather than never maintaining.
    return true;
  }
  // Let a racing tab's write land, then see who won (last writer wins).
  await new Promise((resolve) => setTimeout(resolve, 20));
  return readLease(storage, key)?.owner === owner;
}
