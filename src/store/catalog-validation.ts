/**
 * Validation of catalog items, from `setCatalog()` or a JSON feed.
 */
import { HearthError, describeValue } from '../protocol/errors.js';
import type { CatalogItem } from './types.js';
import { MAX_ID_LENGTH } from '../protocol/event-types.js';

/** Longest accepted item id, in UTF-16 code units. */

const describe = describeValue;

function fail(index: number, id: unknown, problem: string): never {
  const which = typeof id === 'string' && id !== '' ? `Catalog item ${index} (id ${describe(id)})` : `Catalog item ${index}`;
  throw new HearthError('invalid_catalog', `${which}: ${problem}`);
}

function optionalString(index: number, id: unknown, raw: Record<string, unknown>, field: keyof CatalogItem): string | undefined {
  const value = raw[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') fail(index, id, `${field} must be a string when present, got ${describe(value)}`);
  return value;
}

/**
 * Checks a catalog and returns clean copies of its items (unknown fields dropped, `inStock`
 * defaulting to true). Throws `HearthError('invalid_catalog')` naming the first bad item and what
 * was wrong, before anything is written.
 *
 * @example
 * ```ts
 * const items = validateCatalog([{ id: 'sku-1', title: 'Mug', price: 12 }]);
 * // [{ id: 'sku-1', title: 'Mug', price: 12, inStock: true }]
 * ```
 */
export function validateCatalog(input: unknown): CatalogItem[] {
  if (!Array.isArray(input)) {
    throw new HearthError('invalid_catalog', `The catalog must be an array of items, got ${describe(input)}`);
  }
  const seen = new Set<string>();
  return (input as unknown[]).map((entry, index) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      fail(index, undefined, `must be an object with id and title, got ${describe(entry)}`);
    }
    const raw = entry as Record<string, unknown>;
    const id = raw.id;
    if (typeof id !== 'string' || id === '') fail(index, undefined, `id must be a non-empty string, got ${describe(id)}`);
    if (id.length > MAX_ID_LENGTH) fail(index, id, `id must be at most ${MAX_ID_LENGTH} characters, got ${id.length}`);
    if (seen.has(id)) fail(index, id, 'duplicate id; every item id must be unique');
    seen.add(id);
    if (typeof raw.title !== 'string') fail(index, id, `title must be a string, got ${describe(raw.title)}`);
    const price = raw.price;
    if (price !== undefined && (typeof price !== 'number' || !Number.isFinite(price) || price < 0)) {
      fail(index, id, `price must be a finite number ≥ 0 when present, got ${describe(price)}`);
    }
    const inStock = raw.inStock ?? true;
    if (typeof inStock !== 'boolean') fail(index, id, `inStock must be a boolean when present, got ${describe(inStock)}`);
    const item: CatalogItem = { id, title: raw.title, inStock };
    const category = optionalString(index, id, raw, 'category');
    const brand = optionalString(index, id, raw, 'brand');
    const image = optionalString(index, id, raw, 'image');
    const url = optionalString(index, id, raw, 'url');
    if (category !== undefined) item.category = category;
    if (brand !== undefined) item.brand = brand;
    if (price !== undefined) item.price = price;
    if (image !== undefined) item.image = image;
    if (url !== undefined) item.url = url;
    return item;
  });
}
