/** Prometheus text exposition of the server's counters (small enough not to need a client library). */
import type { Coordinator } from './coordinator.js';
import type { ResolvedServerOptions } from './options.js';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Renders /metrics. */
export function renderMetrics(coordinator: Coordinator, options: ResolvedServerOptions): string {
  const s = coordinator.status();
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${Number.isFinite(value) ? value : value > 0 ? '+Inf' : 'NaN'}`);
  };
  const last = s.history[s.history.length - 1];
  metric('hearth_rounds_published_total', 'counter', 'Rounds aggregated and published.', [['', s.roundsPublished]]);
  metric('hearth_round_id', 'gauge', 'The open round.', [['', s.roundId]]);
  metric('hearth_model_version', 'gauge', 'The published global model version.', [['', Number(s.modelVersion)]]);
  metric('hearth_round_updates', 'gauge', 'Updates accepted in the open round.', [['', s.updates]]);
  metric('hearth_round_min_clients', 'gauge', 'Updates a round needs before it publishes.', [['', options.minClients]]);
  metric('hearth_last_round_clients', 'gauge', 'Clients in the last published round.', [['', last?.clients ?? 0]]);
  metric('hearth_updates_accepted_total', 'counter', 'Updates accepted since start.', [['', coordinator.counters.accepted]]);
  metric(
    'hearth_updates_rejected_total',
    'counter',
    'Uploads rejected since start, by reason.',
    [...coordinator.counters.rejected.entries()].sort().map(([reason, n]) => [`{reason="${escapeLabel(reason)}"}`, n]),
  );
  metric('hearth_aggregations_failed_total', 'counter', 'Aggregations that failed (the round stayed open).', [['', coordinator.counters.aggregationsFailed]]);
  metric('hearth_dp_enabled', 'gauge', '1 when the server adds DP noise to every aggregate.', [['', options.noiseMultiplier > 0 ? 1 : 0]]);
  if (s.epsilon !== null) {
    metric('hearth_epsilon_spent', 'gauge', `Cumulative epsilon at delta=${options.delta} (RDP accountant).`, [['', s.epsilon]]);
    if (options.epsilonBudget !== undefined) metric('hearth_epsilon_budget', 'gauge', 'Epsilon budget; no round publishes past it.', [['', options.epsilonBudget]]);
  }
  metric('hearth_budget_exhausted', 'gauge', '1 when the privacy budget stopped publication.', [['', s.status === 'budget_exhausted' ? 1 : 0]]);
  return `${lines.join('\n')}\n`;
}
