/**
 * Every error Hearth raises on purpose carries a stable `code`.
 *
 * Errors cross the worker boundary as plain `{ name, message, stack }` objects (comlink
 * serialises nothing else), so callers must branch on `code`, never on `instanceof`.
 */
export type HearthErrorCode =
  /** An event passed to `track()` (or replayed from the queue) is malformed. */
  | 'invalid_event'
  /** Options passed to `init()`, `recommend()` or another call are malformed. */
  | 'invalid_options'
  /** An argument (item id, `k`, filter…) is out of range or of the wrong type. */
  | 'invalid_argument'
  /** An item id that the catalog and the model do not know. */
  | 'unknown_item'
  /** The catalog is empty or malformed. */
  | 'invalid_catalog'
  /** A call was made before `init()`. */
  | 'not_initialised'
  /** The call needs a consent scope the shopper has not granted. */
  | 'consent_required'
  /** IndexedDB could not be used; Hearth keeps working in memory. */
  | 'storage_unavailable'
  /** The engine worker could not start or crashed twice. */
  | 'engine_unavailable'
  /** A model checkpoint or download is corrupt or incompatible with this version. */
  | 'invalid_checkpoint'
  /** A long operation (training, a federated round) was cancelled. */
  | 'aborted'
  /** A network call (model download, update upload) failed. */
  | 'network'
  /** A federated update or server request was rejected. */
  | 'invalid_update';

const CODE_PREFIX = 'HearthError';

/**
 * The error type of every failure Hearth raises on purpose.
 *
 * @example
 * ```ts
 * try { await hearth.track({ type: 'add2cart' }) }
 * catch (error) { if (hasErrorCode(error, 'invalid_event')) console.warn(error.message) }
 * ```
 */
export class HearthError extends Error {
  readonly code: HearthErrorCode;

  constructor(code: HearthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    // The name carries the code so that it survives structured cloning across the worker boundary.
    this.name = `${CODE_PREFIX}[${code}]`;
  }
}

/**
 * True when `error` is a Hearth error with the given code, including one that crossed a worker
 * boundary and lost its class.
 *
 * @example
 * ```ts
 * if (hasErrorCode(error, 'unknown_item')) showFallback()
 * ```
 */
export function hasErrorCode(error: unknown, code: HearthErrorCode): boolean {
  return errorCodeOf(error) === code;
}

/** The Hearth error code of `error`, or `undefined` when it is not a Hearth error. */
export function errorCodeOf(error: unknown): HearthErrorCode | undefined {
  if (error instanceof HearthError) return error.code;
  if (typeof error !== 'object' || error === null) return undefined;
  const withCode = error as { code?: unknown; name?: unknown };
  if (typeof withCode.code === 'string') return withCode.code as HearthErrorCode;
  if (typeof withCode.name === 'string') {
    const match = /^HearthError\[([a-z_]+)\]$/.exec(withCode.name);
    if (match) return match[1] as HearthErrorCode;
  }
  return undefined;
}

/** Rebuilds a `HearthError` from what crossed a worker boundary, so callers see one class. */
export function reviveError(error: unknown): unknown {
  const code = errorCodeOf(error);
  if (code === undefined || error instanceof HearthError) return error;
  const message = (error as { message?: unknown }).message;
  return new HearthError(code, typeof message === 'string' ? message : code, { cause: error });
}

/** A short description of a bad value for an error message: strings quoted and cut at 40 characters. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : String(value);
}

/** Says what a thrown value was, without ever throwing itself (it may be a revoked Proxy). */
export function describeError(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : typeof error;
  } catch {
    return 'an unreadable error';
  }
}

/**
 * Runs `fn`, which reads page data; anything it throws that is not a `HearthError` (a throwing
 * getter or `toJSON`, a revoked Proxy) becomes `HearthError(code)` saying `what` could not be read.
 *
 * @example
 * ```ts
 * const event = readPageData('invalid_event', 'The event', () => validate(input));
 * ```
 */
export function readPageData<T>(code: HearthErrorCode, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    let ours = false;
    try {
      ours = error instanceof HearthError;
    } catch {
      // instanceof on a revoked Proxy throws: it is not ours.
    }
    if (ours) throw error;
    throw new HearthError(code, `${what} could not be read (${describeError(error)}); pass plain data`, { cause: error });
  }
}

/** Throws a `HearthError` when `condition` is false; the message is built only on failure. */
export function assert(condition: unknown, code: HearthErrorCode, message: () => string): asserts condition {
  if (!condition) throw new HearthError(code, message());
}
