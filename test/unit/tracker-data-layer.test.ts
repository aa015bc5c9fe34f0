import { describe, expect, it } from 'vitest';
import { bridgeDataLayer, mapDataLayerEntry } from '../../src/tracker/data-layer.js';
import { silentLogger } from '../../src/shared/logger.js';
import { validateEvent } from '../../src/tracker/validate-event.js';
import type { TrackEvent } from '../../src/protocol/event-types.js';

function gtagArguments(...args: unknown[]): IArguments {
  return (function (this: unknown) {
    // eslint-disable-next-line prefer-rest-params
    return arguments;
  })(...(args as []));
}

describe('mapDataLayerEntry', () => {
  it('maps a GTM e-commerce push', () => {
    const event = mapDataLayerEntry({
      event: 'add_to_cart',
      ecommerce: { currency: 'eur', value: '24.00', items: [{ item_id: 'SKU_1', item_name: 'Mug', price: '12.00', quantity: 2, item_variant: 'red' }] },
    });
    expect(event).toEqual({ type: 'add_to_cart', currency: 'EUR', value: 24, items: [{ item_id: 'SKU_1', item_name: 'Mug', price: 12, quantity: 2 }] });
  });

  it('maps gtag arguments objects and arrays', () => {
    const items = [{ item_id: 7, item_list_id: 'home' }];
    expect(mapDataLayerEntry(gtagArguments('event', 'view_item', { items }))).toEqual({ type: 'view_item', items: [{ item_id: '7', item_list_id: 'home' }] });
    expect(mapDataLayerEntry(['event', 'search', { search_term: 'boots' }])).toEqual({ type: 'search', search_term: 'boots' });
  });

  it('maps a purchase with transaction id and sets the list id on items', () => {
    const event = mapDataLayerEntry({ event: 'view_item_list', ecommerce: { item_list_id: 'related', items: [{ item_id: 'a' }, { item_id: 'b', index: 1 }] } });
    expect(event?.items).toEqual([
      { item_id: 'a', item_list_id: 'related' },
      { item_id: 'b', index: 1, item_list_id: 'related' },
    ]);
    const purchase = mapDataLayerEntry({ event: 'purchase', ecommerce: { transaction_id: 'T-1', value: 10, items: [{ item_id: 'a' }] } });
    expect(purchase?.transaction_id).toBe('T-1');
  });

  it('skips what it cannot map', () => {
    expect(mapDataLayerEntry({ event: 'gtm.js' })).toBeUndefined();
    expect(mapDataLayerEntry({ ecommerce: null })).toBeUndefined();
    expect(mapDataLayerEntry(['config', 'G-XXXX'])).toBeUndefined();
    expect(mapDataLayerEntry({ event: 'page_view' })).toBeUndefined();
    expect(mapDataLayerEntry({ event: 'add_to_cart', ecommerce: { items: [{ item_name: 'no id' }] } })).toBeUndefined();
    expect(mapDataLayerEntry({ event: 'add_to_cart', ecommerce: { items: 'nope' } })).toBeUndefined();
    expect(mapDataLayerEntry(42)).toBeUndefined();
    expect(mapDataLayerEntry(null)).toBeUndefined();
  });

  it('drops unusable fields instead of failing the event, so the result validates', () => {
    const event = mapDataLayerEntry({ event: 'add_to_cart', ecommerce: { currency: 'euro', value: -3, items: [{ item_id: 'a', price: 'free', quantity: -1 }, { item_id: '' }] } });
    expect(event).toEqual({ type: 'add_to_cart', items: [{ item_id: 'a' }] });
    expect(() => validateEvent(event)).not.toThrow();
  });
});

describe('bridgeDataLayer', () => {
  it('records entries pushed before and after, keeps the original push working, and never throws', () => {
    const win: Record<string, unknown> = { dataLayer: [{ event: 'view_item', ecommerce: { items: [{ item_id: 'early' }] } }] };
    const seen: TrackEvent[] = [];
    const stop = bridgeDataLayer(
      win,
      'dataLayer',
      (event) => {
        if (event.items?.[0]?.item_id === 'boom') throw new Error('track failed');
        seen.push(event);
      },
      silentLogger,
    );
    const layer = win.dataLayer as unknown[];
    expect(layer.push({ event: 'add_to_cart', ecommerce: { items: [{ item_id: 'late' }] } })).toBe(2);
    expect(() => layer.push({ event: 'add_to_cart', ecommerce: { items: [{ item_id: 'boom' }] } })).not.toThrow();
    layer.push({ event: 'gtm.click' });
    expect(layer).toHaveLength(4);
    expect(seen.map((e) => e.items?.[0]?.item_id)).toEqual(['early', 'late']);
    stop();
    layer.push({ event: 'add_to_cart', ecommerce: { items: [{ item_id: 'after-stop' }] } });
    expect(seen).toHaveLength(2);
    expect(layer).toHaveLength(5);
  });

  it('creates the array when the page has none, and wraps it only once', () => {
    const win: Record<string, unknown> = {};
    const seen: TrackEvent[] = [];
    bridgeDataLayer(win, 'dataLayer', (e) => seen.push(e), silentLogger);
    bridgeDataLayer(win, 'dataLayer', (e) => seen.push(e), silentLogger);
    (win.dataLayer as unknown[]).push(['event', 'add_to_wishlist', { items: [{ item_id: 'w' }] }]);
    expect(seen).toHaveLength(1);
  });
});
