/** Command-line flags and environment variables of `hearth-server`. */
import { parseArgs as parseNodeArgs } from 'node:util';
import type { AggregationServerOptions } from './options.js';
import type { AggregatorName, RobustRule } from './aggregate.js';

export const CLI_HELP = `hearth-server: federated aggregation server for Hearth

Usage: hearth-server --data-dir DIR [--model-dir DIR] --site-keys k1,k2 [options]
       hearth-server report [EXPERIMENT] --data-dir DIR [--json]   (results; without a name, the list)

  --port N               port (env PORT; default 8787)
  --host H               interface (env HOST; default 127.0.0.1)
  --data-dir DIR         state, models and accepted updates (env HEARTH_DATA_DIR)
  --model-dir DIR        initial global model, tfjs format (model.json + weights); first start only
  --site-keys k1,k2      upload keys (env HEARTH_SITE_KEYS)
  --origins o1,o2        CORS origins allowed (env HEARTH_ORIGINS)
  --min-clients N        updates a round needs before it publishes (default 10)
  --aggregator NAME      fedavg | fedadam (default fedavg)
  --server-lr X          server learning rate (default 1 for fedavg, 0.01 for fedadam)
  --clip X               L2 bound of every update (default 1)
  --noise-multiplier Z   DP-FedAvg noise multiplier on the sum (default 0: no DP)
  --client-noise S       sigma of on-device noise clients add (default 0)
  --population N         clients the rounds sample from (needed with noise)
  --epsilon-budget E     refuse to publish past this epsilon
  --delta D              delta of the reported (epsilon, delta) (default 1e-5)
  --robust RULE          none | median | trimmed-mean (default none)
  --trim F               trimmed-mean fraction cut at each end (default 0.1)
  --epochs N             local epochs per round (default 1)
  --bits 8|16            quantization of updates (default 8)
  --rate-limit N         requests per client per minute (default 120)
  --body-limit BYTES     largest upload (default 8388608)
  --request-timeout MS   time to send a whole request, headers and body (default 30000)
  --idle-timeout MS      silence allowed mid-request before the connection is dropped (default 10000)
  --secure-aggregation   the server learns only each round's sum (Bonawitz et al.); with
                         --noise-multiplier the clients add distributed Skellam noise
  --cohort-size N        most clients in one secure round, 2-255 (default 1.5 x min-clients)
  --phase-timeout MS     longest wait of each secure phase (default 120000)
  --experiments FILE     registry of experiments to count privately (JSON array; see README)
  --experiments-channel C  central (default: the server adds the noise) | secure (masked cohorts: the
                         server sees only sums) | local (randomized response only)
  --experiments-min-clients N  reports an experiments round needs to release (default: --min-clients)
  --experiments-round-hours H  longest an experiments round waits (default 24)
  --report-keys k1,k2    keys that may read results over HTTP (env HEARTH_REPORT_KEYS)
  --log                  log requests (JSON lines)
  --help
`;

export interface CliConfig {
  port: number;
  host: string;
  help: boolean;
  server: AggregationServerOptions;
}

/**
 * Parses flags (and their environment fallbacks) into server options. Throws a TypeError naming
 * the bad flag.
 *
 * @example
 * ```ts
 * const config = parseArgs(['--data-dir', './fl', '--site-keys', 'abcdefgh'], process.env);
 * ```
 */
export function parseArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): CliConfig {
  const { values } = parseNodeArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'model-dir': { type: 'string' },
      'site-keys': { type: 'string' },
      origins: { type: 'string' },
      'min-clients': { type: 'string' },
      aggregator: { type: 'string' },
      'server-lr': { type: 'string' },
      clip: { type: 'string' },
      'noise-multiplier': { type: 'string' },
      'client-noise': { type: 'string' },
      population: { type: 'string' },
      'epsilon-budget': { type: 'string' },
      delta: { type: 'string' },
      robust: { type: 'string' },
      trim: { type: 'string' },
      epochs: { type: 'string' },
      bits: { type: 'string' },
      'rate-limit': { type: 'string' },
      'body-limit': { type: 'string' },
      'request-timeout': { type: 'string' },
      'idle-timeout': { type: 'string' },
      experiments: { type: 'string' },
      'experiments-channel': { type: 'string' },
      'experiments-min-clients': { type: 'string' },
      'experiments-round-hours': { type: 'string' },
      'report-keys': { type: 'string' },
      log: { type: 'boolean' },
      help: { type: 'boolean' },
      'secure-aggregation': { type: 'boolean' },
      'cohort-size': { type: 'string' },
      'phase-timeout': { type: 'string' },
    },
  });
  const num = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value)) throw new TypeError(`--${flag} must be a number, got "${text}"`);
    return value;
  };
  const list = (text: string | undefined): string[] =>
    (text ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  const dataDir = values['data-dir'] ?? env.HEARTH_DATA_DIR;
  const help = values.help === true;
  if (!help && dataDir === undefined) throw new TypeError('--data-dir is required');
  const server: AggregationServerOptions = { siteKeys: list(values['site-keys'] ?? env.HEARTH_SITE_KEYS), origins: list(values.origins ?? env.HEARTH_ORIGINS) };
  if (dataDir !== undefined) server.dataDir = dataDir;
  if (values['model-dir'] !== undefined) server.modelDir = values['model-dir'];
  const set = <K extends keyof AggregationServerOptions>(key: K, value: AggregationServerOptions[K] | undefined): void => {
    if (value !== undefined) server[key] = value;
  };
  set('minClients', num('min-clients', values['min-clients']));
  set('aggregator', values.aggregator as AggregatorName | undefined);
  set('serverLr', num('server-lr', values['server-lr']));
  set('clip', num('clip', values.clip));
  set('noiseMultiplier', num('noise-multiplier', values['noise-multiplier']));
  set('clientNoise', num('client-noise', values['client-noise']));
  set('population', num('population', values.population));
  set('epsilonBudget', num('epsilon-budget', values['epsilon-budget']));
  set('delta', num('delta', values.delta));
  set('robust', values.robust as RobustRule | undefined);
  set('trim', num('trim', values.trim));
  set('epochs', num('epochs', values.epochs));
  const bits = num('bits', values.bits);
  if (bits !== undefined && bits !== 8 && bits !== 16) throw new TypeError(`--bits must be 8 or 16, got ${bits}`);
  set('bits', bits as 8 | 16 | undefined);
  set('rateLimit', num('rate-limit', values['rate-limit']));
  set('bodyLimit', num('body-limit', values['body-limit']));
  set('requestTimeoutMs', num('request-timeout', values['request-timeout']));
  set('idleTimeoutMs', num('idle-timeout', values['idle-timeout']));
  if (values.experiments !== undefined) server.experiments = values.experiments;
  set('experimentsChannel', values['experiments-channel'] as 'central' | 'secure' | 'local' | undefined);
  set('experimentsMinClients', num('experiments-min-clients', values['experiments-min-clients']));
  set('experimentsRoundHours', num('experiments-round-hours', values['experiments-round-hours']));
  const reportKeys = list(values['report-keys'] ?? env.HEARTH_REPORT_KEYS);
  if (reportKeys.length > 0) server.reportKeys = reportKeys;
  if (values.log === true) server.logger = true;
  if (values['secure-aggregation'] === true) server.secureAggregation = true;
  set('cohortSize', num('cohort-size', values['cohort-size']));
  set('phaseTimeoutMs', num('phase-timeout', values['phase-timeout']));
  const port = num('port', values.port ?? env.PORT) ?? 8787;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) throw new TypeError(`--port must be 0–65535, got ${port}`);
  return { port, host: values.host ?? env.HOST ?? '127.0.0.1', help, server };
}
