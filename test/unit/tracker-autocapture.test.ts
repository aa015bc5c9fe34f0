import { describe, expect, it } from 'vitest';
import { actionType, DwellClock, itemFromAttributes, pagePath } from '../../src/tracker/autocapture.js';

const el = (attrs: Record<string, string>) => ({ getAttribute: (name: string) => attrs[name] ?? null });

describe('autocapture helpers', () => {
  it('reads an item and its optional attributes, action element first', () => {
    const card = el({ 'data-hearth-price': '€12.50', 'data-hearth-category': 'Mugs', 'data-hearth-brand': 'Acme' });
    const button = el({ 'data-hearth-price': '10' });
    expect(itemFromAttributes(' sku-1 ', [button, card])).toEqual({ item_id: 'sku-1', price: 10, item_category: 'Mugs', item_brand: 'Acme' });
    expect(itemFromAttributes('sku-1', [card])?.price).toBe(12.5);
  });

  it('skips what it cannot read', () => {
    expect(itemFromAttributes('', [])).toBeUndefined();
    expect(itemFromAttributes(null, [])).toBeUndefined();
    expect(itemFromAttributes('x'.repeat(300), [])).toBeUndefined();
    expect(itemFromAttributes('a', [el({ 'data-hearth-price': 'call us', 'data-hearth-quantity': '1.5' })])).toEqual({ item_id: 'a' });
  });

  it('knows the action types', () => {
    expect(actionType('add_to_cart')).toBe('add_to_cart');
    expect(actionType(' purchase ')).toBe('purchase');
    expect(actionType('add2cart')).toBeUndefined();
    expect(actionType(null)).toBeUndefined();
  });

  it('counts dwell time only while the tab is visible', () => {
    const clock = new DwellClock(0, true);
    clock.visible(false, 3_000);
    clock.visible(true, 10_000);
    expect(clock.take(11_000)).toBe(4_000);
    clock.visible(false, 12_000);
    expect(clock.take(50_000)).toBe(1_000);
    const hiddenStart = new DwellClock(0, false);
    expect(hiddenStart.take(5_000)).toBe(0);
  });

  it('keeps the path and query of the page but not the fragment', () => {
    expect(pagePath({ pathname: '/p/sku-1', search: '?ref=home' })).toBe('/p/sku-1?ref=home');
  });
});
