/**
 * `/metrics` in the Prometheus text format, through `prom-client`: the round's gauges and the
 * upload counters (read from the coordinator when scraped) and a latency histogram of every HTTP
 * request by method, route and status. Each server has its own registry, so several servers in one
 * process (tests, benchmarks) never mix their series.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Coordinator } from './coordinator.js';
import type { ResolvedServerOptions } from './options.js';

/** Buckets in seconds: uploads decode and fsync in milliseconds; anything near a second is trouble. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ServerMetrics {
  readonly registry: Registry;
  /** Records one answered request. `route` is the route pattern (`/v1/rounds/:id/updates`), never the raw URL. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** The exposition text and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/**
 * @example
 * ```ts
 * const metrics = createServerMetrics(coordinator, options);
 * app.addHook('onResponse', async (request, reply) => metrics.observeRequest(request.method, request.routeOptions.url ?? 'unknown', reply.statusCode, reply.elapsedTime / 1000));
 * ```
 */
export function createServerMetrics(coordinator: Coordinator, options: ResolvedServerOptions): ServerMetrics {
  const registry = new Registry();
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  /** A counter kept by the coordinator, mirrored at scrape time. */
  const mirrored = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  const last = (): number => {
    const history = coordinator.status().history;
    return history[history.length - 1]?.clients ?? 0;
  };
  mirrored('hearth_rounds_published_total', 'Rounds aggregated and published.', () => coordinator.status().roundsPublished);
  gauge('hearth_round_id', 'The open round.', () => coordinator.status().roundId);
  gauge('hearth_model_version', 'The published global model version.', () => Number(coordinator.status().modelVersion));
  gauge('hearth_round_updates', 'Updates accepted in the open round.', () => coordinator.status().updates);
  gauge('hearth_round_min_clients', 'Updates a round needs before it publishes.', () => options.minClients);
  gauge('hearth_last_round_clients', 'Clients in the last published round.', last);
  mirrored('hearth_updates_accepted_total', 'Updates accepted since start.', () => coordinator.counters.accepted);
  new Counter({
    name: 'hearth_updates_rejected_total',
    help: 'Uploads rejected since start, by reason.',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of coordinator.counters.rejected) this.inc({ reason }, n);
    },
  });
  mirrored('hearth_aggregations_failed_total', 'Aggregations that failed (the round stayed open).', () => coordinator.counters.aggregationsFailed);
  gauge('hearth_dp_enabled', '1 when the server adds DP noise to every aggregate.', () => (options.noiseMultiplier > 0 ? 1 : 0));
  if (options.noiseMultiplier > 0) {
    gauge('hearth_epsilon_spent', `Cumulative epsilon at delta=${options.delta} (RDP accountant).`, () => coordinator.status().epsilon ?? 0);
    if (options.epsilonBudget !== undefined) {
      const budget = options.epsilonBudget;
      gauge('hearth_epsilon_budget', 'Epsilon budget; no round publishes past it.', () => budget);
    }
  }
  if (options.secure) {
    gauge('hearth_secure_aggregation', '1: the server unmasks only sums of masked updates (secure aggregation).', () => 1);
    mirrored('hearth_rounds_abandoned_total', 'Secure rounds given up because too few clients stayed.', () => coordinator.status().roundsAbandoned);
    gauge('hearth_secure_unmask_seconds', 'Time the last secure round took to unmask its sum.', () => (coordinator.secure?.lastUnmaskMs ?? 0) / 1000);
  }
  gauge('hearth_budget_exhausted', '1 when the privacy budget stopped publication.', () => (coordinator.status().status === 'budget_exhausted' ? 1 : 0));
  const latency = new Histogram({
    name: 'hearth_http_request_duration_seconds',
    help: 'Time from receiving a request to sending its answer, by method, route and status.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    registry,
    observeRequest(method, route, status, seconds) {
      latency.observe({ method, route, status_code: String(status) }, seconds);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
