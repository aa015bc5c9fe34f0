/**
 * Opens Hearth's IndexedDB database on any `IDBFactory` (the page's, a worker's, or a test's
 * `fake-indexeddb`), runs the migrations, and gives up after a timeout instead of hanging.
 */
import { wrap, type IDBPDatabase } from 'idb';
import { DB_VERSION, upgradeSchema, type HearthDBSchema } from './schema.js';

export type HearthDB = IDBPDatabase<HearthDBSchema>;

export interface OpenDatabaseOptions {
  /** How long to wait once the open is blocked by another tab holding an older version. */
  blockedTimeoutMs: number;
  /** How long to wait in all (Safari has been known never to answer an open). */
  openTimeoutMs: number;
  /** Called when the open is blocked, before the timeout starts. */
  onBlocked?: () => void;
}

/**
 * Resolves with the open, migrated database or rejects (error, blocked past the timeout, or no
 * answer). A database that opens after the timeout already fired is closed at once so that it does
 * not block other tabs' upgrades.
 */
export function openDatabase(factory: IDBFactory, name: string, options: OpenDatabaseOptions): Promise<HearthDB> {
  return new Promise<HearthDB>((resolve, reject) => {
    let settled = false;
    let blockedTimer: ReturnType<typeof setTimeout> | undefined;
    const finish = (error: unknown, db?: IDBDatabase): void => {
      if (settled) {
        db?.close();
        return;
      }
      settled = true;
      clearTimeout(overallTimer);
      clearTimeout(blockedTimer);
      if (db) resolve(wrap(db) as unknown as HearthDB);
      else reject(error);
    };
    const overallTimer = setTimeout(() => finish(new DOMException(`Opening "${name}" took longer than ${options.openTimeoutMs} ms`, 'TimeoutError')), options.openTimeoutMs);
    let request: IDBOpenDBRequest;
    try {
      request = factory.open(name, DB_VERSION);
    } catch (error) {
      finish(error);
      return;
    }
    request.onupgradeneeded = (event) => {
      const tx = request.transaction;
      if (!tx) return;
      try {
        upgradeSchema(request.result, tx, event.oldVersion, event.newVersion ?? DB_VERSION);
      } catch (error) {
        // Aborting the upgrade fails the open; the caller falls back to memory.
        tx.abort();
        finish(error);
      }
    };
    request.onblocked = () => {
      options.onBlocked?.();
      blockedTimer ??= setTimeout(() => finish(new DOMException(`Opening "${name}" is blocked by another tab`, 'TimeoutError')), options.blockedTimeoutMs);
    };
    request.onsuccess = () => finish(undefined, request.result);
    request.onerror = (event) => {
      // Handled here: keep the error from also surfacing as an uncaught one in the page.
      event.preventDefault();
      finish(request.error ?? new DOMException(`Opening "${name}" failed`, 'UnknownError'));
    };
  });
}

/** Deletes a database, resolving when it is gone; `onBlocked` hears when other connections delay it. */
export function deleteDatabase(factory: IDBFactory, name: string, onBlocked?: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const request = factory.deleteDatabase(name);
    request.onblocked = () => onBlocked?.();
    request.onsuccess = () => resolve();
    request.onerror = (event) => {
      event.preventDefault();
      reject(request.error ?? new DOMException(`Deleting "${name}" failed`, 'UnknownError'));
    };
  });
}
