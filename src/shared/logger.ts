/**
 * Runtime trouble (quota, blocked database, no WebGPU) never throws into the host page: it is
 * reported here, once per distinct message, and only when debug output is on.
 */
export interface Logger {
  debug(message: string, detail?: unknown): void;
  /** Reports a degraded mode once per `key` for the page's life. */
  warnOnce(key: string, message: string, detail?: unknown): void;
}

export function createLogger(enabled: () => boolean, prefix = '[hearth]'): Logger {
  const warned = new Set<string>();
  return {
    debug(message, detail) {
      if (!enabled()) return;
      if (detail === undefined) console.debug(prefix, message);
      else console.debug(prefix, message, detail);
    },
    warnOnce(key, message, detail) {
      if (warned.has(key)) return;
      warned.add(key);
      if (!enabled()) return;
      if (detail === undefined) console.warn(prefix, message);
      else console.warn(prefix, message, detail);
    },
  };
}

/** A logger that says nothing; the default until `init({ debug: true })`. */
export const silentLogger: Logger = { debug() {}, warnOnce() {} };
