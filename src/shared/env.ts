/**
 * The one place that knows the environment. Everything is read lazily, at call time, so that
 * importing Hearth touches no browser global (server-side rendering stays safe).
 */
export interface Capabilities {
  readonly hasWindow: boolean;
  readonly hasDocument: boolean;
  readonly hasIndexedDB: boolean;
  readonly hasWorker: boolean;
  readonly hasWebLocks: boolean;
  readonly hasWebGPU: boolean;
  readonly hasIntersectionObserver: boolean;
  /** Global Privacy Control: the shopper asked sites not to share or sell their data. */
  readonly globalPrivacyControl: boolean;
  /** The shopper asked the browser to save data (`navigator.connection.saveData`). */
  readonly saveData: boolean;
}

interface NavigatorExtras {
  globalPrivacyControl?: boolean;
  connection?: { saveData?: boolean };
  gpu?: unknown;
  locks?: unknown;
}

function navigatorExtras(): NavigatorExtras | undefined {
  return typeof navigator === 'undefined' ? undefined : (navigator as unknown as NavigatorExtras);
}

/**
 * Global Privacy Control (`navigator.globalPrivacyControl`), alone: the script tag needs only this
 * at start, not the whole capability check.
 */
export function globalPrivacyControl(): boolean {
  return typeof navigator !== 'undefined' && (navigator as unknown as NavigatorExtras).globalPrivacyControl === true;
}

/** Detects what this page or worker can do. Cheap; call it when needed rather than caching at import. */
export function detectCapabilities(): Capabilities {
  const nav = navigatorExtras();
  return {
    hasWindow: typeof window !== 'undefined',
    hasDocument: typeof document !== 'undefined',
    hasIndexedDB: typeof indexedDB !== 'undefined' && indexedDB !== null,
    hasWorker: typeof Worker !== 'undefined',
    hasWebLocks: nav?.locks !== undefined && nav.locks !== null,
    hasWebGPU: nav?.gpu !== undefined && nav.gpu !== null,
    hasIntersectionObserver: typeof IntersectionObserver !== 'undefined',
    globalPrivacyControl: globalPrivacyControl(),
    saveData: nav?.connection?.saveData === true,
  };
}

/** `globalThis` typed as a window when there is one; `undefined` under Node or SSR. */
export function browserWindow(): (Window & typeof globalThis) | undefined {
  return typeof window === 'undefined' ? undefined : window;
}
