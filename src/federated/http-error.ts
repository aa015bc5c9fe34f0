/** How the devices read the aggregation server's refusals. */

/**
 * The `error.code` of a refused request's JSON body (the server's `ErrorReply`), or `http_<status>`
 * when the body has none or is not JSON.
 *
 * @example
 * ```ts
 * if (!response.ok && (await errorCode(response)) === 'replay') return 'ok';
 * ```
 */
export async function errorCode(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { error?: { code?: unknown } };
    return typeof body.error?.code === 'string' ? body.error.code : `http_${response.status}`;
  } catch {
    return `http_${response.status}`;
  }
}
