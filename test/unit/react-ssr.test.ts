/**
 * hearth/react under server-side rendering: the provider and the hooks render in Node with no
 * window, start nothing (Hearth starts in an effect, which a server render does not run) and render
 * the loading state.
 */
import { createElement as h } from 'react';
import { renderToString } from 'react-dom/server';
import { expect, test } from 'vitest';
import { HearthProvider, useHearth, useIntent, useRecommendations } from '../../src/react/index.js';

function ForYou() {
  const hearth = useHearth();
  const picks = useRecommendations({ k: 4 });
  const intent = useIntent();
  return h('p', null, `hearth:${hearth === null ? 'none' : 'live'} picks:${picks.loading ? 'loading' : picks.data.length} intent:${intent.data === null ? 'none' : 'some'}`);
}

test('the provider and the hooks render on the server without a window and start nothing', async () => {
  expect(typeof (globalThis as { window?: unknown }).window).toBe('undefined');
  const html = renderToString(h(HearthProvider, { options: { consent: 'opt-in', catalog: [{ id: 'a', title: 'A', inStock: true }] } }, h(ForYou)));
  expect(html).toBe('<p>hearth:none picks:loading intent:none</p>');
  // Bad options are not checked on the server either: nothing runs there.
  expect(() => renderToString(h(HearthProvider, { options: { consent: 'maybe' } as never }, h(ForYou)))).not.toThrow();
});
