/**
 * Page data that is a list: an array, or the \`arguments\` object that gtag and queue snippets push.
 */

/** A fresh array of \`value\`'s entries, or undefined when it is not a list. May throw on hostile data (a revoked Proxy). */
export function listOf(value: unknown): unknown[] | undefined {
  return Array.isArray(value) || Object.prototype.toString.call(value) === '[object Arguments]' ? Array.from(value as ArrayLike<unknown>) : undefined;
}
