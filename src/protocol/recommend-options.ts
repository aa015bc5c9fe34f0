/**
 * Checks of the arguments of the engine calls (`recommend`, `similarItems`, …). A bad argument is
 * a programmer mistake: the call rejects with `HearthError('invalid_argument')` before the engine
 * is woken.
 */
import { HearthError } from './errors.js';
import { MAX_ID_LENGTH } from './event-types.js';
import type { RecommendOptions } from './engine-types.js';

export const MAX_K = 100;

function fail(message: string): never {
  throw new HearthError('invalid_argument', message);
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    try {
      return String(value);
    } catch {
      return typeof value;
    }
  }
}

/** `k` from 1 to 100 (default `fallback`). */
export function checkK(k: unknown, fallback = 10, name = 'k'): number {
  if (k === undefined) return fallback;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > MAX_K) fail(`${name} must be an integer from 1 to ${MAX_K}, got ${show(k)}`);
  return k;
}

export function checkItemId(id: unknown, name = 'itemId'): string {
  if (typeof id !== 'string' || id === '' || id.length > MAX_ID_LENGTH) fail(`${name} must be a non-empty string of at most ${MAX_ID_LENGTH} characters, got ${show(id)}`);
  return id;
}

function object(name: string, value: unknown, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${name} must be an object, got ${show(value)}`);
  for (const key of Object.keys(value)) if (!keys.includes(key)) fail(`Unknown ${name} field "${key}"; expected one of: ${keys.join(', ')}`);
  return value as Record<string, unknown>;
}

function strings(name: string, value: unknown): void {
  if (value !== undefined && (!Array.isArray(value) || value.some((s) => typeof s !== 'string'))) fail(`${name} must be an array of strings, got ${show(value)}`);
}

function finite(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) fail(`${name} must be a finite number, got ${show(value)}`);
}

function flag(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') fail(`${name} must be true or false, got ${show(value)}`);
}

/**
 * Checks `recommend()` options and returns them with `k` filled in.
 *
 * @example
 * ```ts
 * checkRecommendOptions({ k: 5, filter: { inStock: true } }); // { k: 5, filter: { inStock: true } }
 * ```
 */
export function checkRecommendOptions(input: unknown): RecommendOptions & { k: number } {
  const options = object('recommend options', input ?? {}, ['k', 'context', 'exclude', 'excludePurchased', 'excludeSeen', 'explain', 'filter', 'boost']);
  const k = checkK(options.k);
  if (options.context !== undefined) {
    const context = object('context', options.context, ['itemId']);
    if (context.itemId !== undefined) checkItemId(context.itemId, 'context.itemId');
  }
  strings('exclude', options.exclude);
  flag('excludePurchased', options.excludePurchased);
  flag('excludeSeen', options.excludeSeen);
  flag('explain', options.explain);
  if (options.filter !== undefined) {
    const filter = object('filter', options.filter, ['inStock', 'categories', 'brands', 'minPrice', 'maxPrice']);
    flag('filter.inStock', filter.inStock);
    strings('filter.categories', filter.categories);
    strings('filter.brands', filter.brands);
    finite('filter.minPrice', filter.minPrice);
    finite('filter.maxPrice', filter.maxPrice);
  }
  if (options.boost !== undefined) {
    if (!Array.isArray(options.boost)) fail(`boost must be an array of { factor, itemIds?, categories?, brands? }, got ${show(options.boost)}`);
    options.boost.forEach((raw, i) => {
      const boost = object(`boost[${i}]`, raw, ['factor', 'itemIds', 'categories', 'brands']);
      if (typeof boost.factor !== 'number' || !Number.isFinite(boost.factor) || boost.factor <= 0) {
        fail(`boost[${i}].factor must be a finite number > 0, got ${show(boost.factor)}`);
      }
      strings(`boost[${i}].itemIds`, boost.itemIds);
      strings(`boost[${i}].categories`, boost.categories);
      strings(`boost[${i}].brands`, boost.brands);
    });
  }
  return { ...(options as RecommendOptions), k };
}
