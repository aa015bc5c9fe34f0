import { describe, expect, it } from 'vitest';
import { validateEvent, MAX_ITEMS } from '../../src/tracker/validate-event.js';
import { hasErrorCode } from '../../src/protocol/errors.js';

function rejection(event: unknown): string {
  try {
    validateEvent(event);
  } catch (error) {
    expect(hasErrorCode(error, 'invalid_event')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected the event to be rejected');
}

describe('validateEvent', () => {
  it('accepts a GA4-style add_to_cart and returns a clean copy', () => {
    const event = { type: 'add_to_cart', items: [{ item_id: 'sku-1', price: 12.5, quantity: 2, item_variant: 'red' }], currency: 'eur', value: 25 };
    expect(validateEvent(event)).toEqual({ type: 'add_to_cart', items: [{ item_id: 'sku-1', price: 12.5, quantity: 2 }], currency: 'EUR', value: 25 });
  });

  it('names the valid types when the type is unknown', () => {
    const message = rejection({ type: 'add2cart', items: [{ item_id: 'a' }] });
    expect(message).toContain('"add2cart"');
    expect(message).toContain('view_item, view_item_list, select_item, add_to_cart');
  });

  it('rejects an item without an item_id', () => {
    expect(rejection({ type: 'view_item', items: [{ price: 3 }] })).toMatch(/items\[0\]\.item_id is missing/);
  });

  it('rejects negative and non-integer quantities', () => {
    expect(rejection({ type: 'add_to_cart', items: [{ item_id: 'a', quantity: -1 }] })).toMatch(/quantity must be an integer from 1/);
    expect(rejection({ type: 'add_to_cart', items: [{ item_id: 'a', quantity: 1.5 }] })).toMatch(/quantity/);
  });

  it('rejects non-finite prices and values', () => {
    expect(rejection({ type: 'add_to_cart', items: [{ item_id: 'a', price: Number.NaN }] })).toMatch(/price must be a finite number/);
    expect(rejection({ type: 'add_to_cart', items: [{ item_id: 'a', price: Number.POSITIVE_INFINITY }] })).toMatch(/price/);
    expect(rejection({ type: 'purchase', items: [{ item_id: 'a' }], value: Number.NaN })).toMatch(/value/);
  });

  it('rejects oversized strings and says the limit', () => {
    expect(rejection({ type: 'view_item', items: [{ item_id: 'x'.repeat(257) }] })).toMatch(/at most 256 characters, got 257/);
    expect(rejection({ type: 'search', search_term: 's'.repeat(201) })).toMatch(/search_term must be at most 200/);
  });

  it(`rejects more than ${MAX_ITEMS} items`, () => {
    const items = Array.from({ length: MAX_ITEMS + 1 }, (_, i) => ({ item_id: `sku-${i}` }));
    expect(rejection({ type: 'view_item_list', items })).toMatch(/at most 200 items, got 201/);
    expect(validateEvent({ type: 'view_item_list', items: items.slice(0, MAX_ITEMS) }).items).toHaveLength(MAX_ITEMS);
  });

  it('rejects product events without items', () => {
    for (const type of ['view_item', 'select_item', 'add_to_cart', 'purchase']) {
      expect(rejection({ type })).toMatch(new RegExp(`A ${type} event needs at least one item`));
      expect(rejection({ type, items: [] })).toMatch(/needs at least one item/);
    }
  });

  it('rejects unknown top-level fields, listing the valid ones', () => {
    const message = rejection({ type: 'view_item', item: [{ item_id: 'a' }] });
    expect(message).toContain('Unknown field "item"');
    expect(message).toContain('items, search_term');
  });

  it('needs a search term for search and a duration and one item for dwell', () => {
    expect(rejection({ type: 'search' })).toMatch(/search_term/);
    expect(rejection({ type: 'dwell', items: [{ item_id: 'a' }] })).toMatch(/duration_ms/);
    expect(rejection({ type: 'dwell', items: [{ item_id: 'a' }, { item_id: 'b' }], duration_ms: 5 })).toMatch(/exactly one item/);
    expect(validateEvent({ type: 'dwell', items: [{ item_id: 'a' }], duration_ms: 4000 }).duration_ms).toBe(4000);
  });

  it('rejects non-objects and bad currencies', () => {
    expect(rejection(null)).toMatch(/must be an object/);
    expect(rejection('view_item')).toMatch(/must be an object/);
    expect(rejection({ type: 'purchase', items: [{ item_id: 'a' }], currency: 'E1R' })).toMatch(/ISO 4217/);
  });

  it('accepts a page_view without items', () => {
    expect(validateEvent({ type: 'page_view', page_path: '/shoes?page=2' })).toEqual({ type: 'page_view', page_path: '/shoes?page=2' });
  });
});
