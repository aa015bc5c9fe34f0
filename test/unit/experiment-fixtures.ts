/** Simulated devices and an in-process fetch for the experiments' tests. */
import { MemoryStore } from '../../src/store/memory-store.js';
import { EXPERIMENTS_META_KEY, type ExperimentsMeta } from '../../src/experiments/device-records.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';
import type { AggregationServer } from '../../src/server/index.js';

export const HOUR = 3600_000;
export const T0 = 1_764_000_000_000;

let next = 0;

/** An event of `type` at `time`, as the store holds it. */
export function event(type: StoredEvent['type'], time: number, extra: Partial<StoredEvent> = {}): StoredEvent {
  next++;
  return { eventId: `evt-${next}`, type, time, session: 'sess-sim', items: [{ item_id: `SKU-${next % 97}` }], itemIds: [`SKU-${next % 97}`], ...extra };
}

/** A device assigned to `variant` of `experiment`, exposed at `exposedAt`, with `events` stored. */
export async function simulatedDevice(options: { experiment: string; variants: string[]; variant: string; exposedAt: number; events: StoredEvent[] }): Promise<MemoryStore> {
  const store = new MemoryStore();
  const meta: ExperimentsMeta = {
    version: 1,
    records: {
      [options.experiment]: { kind: 'experiment', variants: options.variants, variant: options.variant, assignedAt: options.exposedAt - 1000, exposedAt: options.exposedAt, report: null, attempts: 0 },
    },
  };
  await store.setMeta(EXPERIMENTS_META_KEY, meta);
  await store.appendEvents(options.events);
  return store;
}

/** `fetch` answered by the server in process (fastify's inject): no sockets, every defence still runs. */
export function injectFetch(server: AggregationServer, seen?: { method: string; url: string; body: string }[]): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const body = typeof init?.body === 'string' ? init.body : undefined;
    seen?.push({ method: init?.method ?? 'GET', url: url.pathname, body: body ?? '' });
    const res = await server.app.inject({
      method: (init?.method ?? 'GET') as 'GET' | 'POST',
      url: url.pathname + url.search,
      headers: (init?.headers ?? {}) as Record<string, string>,
      ...(body !== undefined ? { payload: body } : {}),
    });
    return new Response(res.rawPayload.length > 0 ? new Uint8Array(res.rawPayload) : null, { status: res.statusCode, headers: res.headers as Record<string, string> });
  }) as typeof fetch;
}
