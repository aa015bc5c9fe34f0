/**
 * Recognising IndexedDB's runtime errors across browsers.
 */

function nameOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? String((error as { name?: unknown }).name) : undefined;
}

/** The browser is out of storage for this origin (Firefox's legacy name and code 22 included). */
export function isQuotaError(error: unknown): boolean {
  const name = nameOf(error);
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED' || (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 22);
}

/** The connection was closed under us (another tab upgraded or deleted the database). */
export function isClosedError(error: unknown): boolean {
  return nameOf(error) === 'InvalidStateError';
}
