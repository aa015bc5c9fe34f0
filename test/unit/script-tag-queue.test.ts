/**
 * The script tag's queue: a queued `['init', options]` merges with the tag's own attributes one
 * level deep, and `['ready', fn]` / `['recommend', options, fn]` call back through the queue.
 */
import { describe, expect, it } from 'vitest';
import { mergeTagOptions } from '../../src/hearth/tag-options.js';
import type { LiveHearth } from '../../src/entries/script-tag.js';
import type { Recommendation } from '../../src/index.js';

describe('the script tag queue', () => {
  it('a queued init with engine options keeps the engine options of the tag (data-model-url)', () => {
    const fromTag = { consent: 'opt-in' as const, engine: { modelUrl: '/model/model.json', workerUrl: '/x/hearth.worker.js' } };
    expect(mergeTagOptions(fromTag, { consent: 'opt-out', engine: { autoTrain: false } })).toEqual({
      consent: 'opt-out',
      engine: { modelUrl: '/model/model.json', workerUrl: '/x/hearth.worker.js', autoTrain: false },
    });
    expect(mergeTagOptions(fromTag, { engine: { modelUrl: '/other.json' } }).engine).toEqual({ modelUrl: '/other.json', workerUrl: '/x/hearth.worker.js' });
    expect(mergeTagOptions(fromTag, undefined)).toEqual(fromTag);
  });

  it('["ready", fn] calls fn with the live instance, and ["recommend", options, fn] calls fn with the answer or with [] and the error', async () => {
    const { init } = await import('../../src/entries/script-tag.js');
    const hearth = init({ consent: 'opt-out', autocapture: false });
    const ready = new Promise<LiveHearth>((resolve) => hearth.push(['ready', resolve]));
    expect(await ready).toBe(hearth);
    // In Node the runtime (hearth.runtime.js) cannot load: the callback hears why, nothing throws.
    const answer = new Promise<[Recommendation[], unknown]>((resolve) => hearth.push(['recommend', { k: 2 }, (items: Recommendation[], error: unknown) => resolve([items, error])]));
    const [items, error] = await answer;
    expect(items).toEqual([]);
    expect(error).toMatchObject({ code: 'engine_unavailable', message: expect.stringContaining('hearth.runtime.js') });
    // A callback that throws is the page's bug: it is contained like a failed command.
    hearth.push([
      'ready',
      () => {
        throw new Error('page bug');
      },
    ]);
    await hearth.ready;
    hearth.destroy();
  });
});
