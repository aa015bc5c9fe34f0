/**
 * The browser objects Hearth's public API accepts, declared by what Hearth reads of them, so that
 * its types compile without the DOM lib (a Node service, SSR code, a worker-only app). A real
 * `AbortSignal` or `URL` fits.
 */

/** An `AbortSignal`, or anything that says `aborted` and fires `abort`. */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A `URL`, or anything with an absolute or relative `href`. */
export interface UrlLike {
  readonly href: string;
}
