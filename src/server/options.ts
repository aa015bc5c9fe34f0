/** Options of the aggregation server, with their defaults and their validation. */
import type { AggregatorName, RobustRule } from './aggregate.js';
import type { AggregationStore } from './store.js';
import type { QuantizationBits } from '../federated/wire.js';
import type { RandomSource } from '../shared/random.js';
import type { ModelJson } from '../protocol/model-file.js';
import type { ExperimentStore } from './experiments/experiment-store.js';

export interface AggregationServerOptions {
  /** Where state, models and accepted updates live (the default disk store). */
  dataDir?: string;
  /** Or any other store (e.g. a shared one). Takes precedence over `dataDir`. */
  store?: AggregationStore;
  /** Folder with the initial global model (tfjs format); needed only on first start. */
  modelDir?: string;
  /** Or the initial model itself. */
  initialModel?: { modelJson: ModelJson; weights: Uint8Array };
  minClients?: number;
  aggregator?: AggregatorName;
  /** Server learning rate (default 1 for FedAvg, 0.01 for FedAdam). */
  serverLr?: number;
  /** L2 bound of every update (default 1). */
  clip?: number;
  /** DP-FedAvg noise multiplier z (default 0: no DP). */
  noiseMultiplier?: number;
  /** On-device noise σ the clients are told to add (default 0). */
  clientNoise?: number;
  epsilonBudget?: number;
  /** δ of the reported (ε, δ) (default 1e-5). */
  delta?: number;
  /** Population the clients are drawn from (needed with noise: q = clients per round / population). */
  population?: number;
  robust?: RobustRule;
  trim?: number;
  /** Local epochs per round (default 1). */
  epochs?: number;
  bits?: QuantizationBits;
  roundDurationMs?: number;
  /** Upload keys, one per site. Uploads need one of them in `x-hearth-site-key`. */
  siteKeys: readonly string[];
  /** Origins allowed by CORS (the shop's pages). Empty: no cross-origin access. */
  origins?: readonly string[];
  /** Requests per client (IP) per minute (default 120). */
  rateLimit?: number;
  /** Largest request body in bytes (default 8 MiB). */
  bodyLimit?: number;
  /**
   * Milliseconds a client has to send a whole request, headers and body (default 30,000). A slow
   * or half-sent request is answered 408 and its connection closed.
   */
  requestTimeoutMs?: number;
  /** Milliseconds a connection may stay silent mid-request before it is dropped (default 10,000). */
  idleTimeoutMs?: number;
  /** fastify's logger (default off). */
  logger?: boolean;
  random?: RandomSource;
  /**
   * Secure aggregation (default off): the server learns only the sum of each round's updates, and
   * `noiseMultiplier` becomes the distributed Skellam noise the clients add before masking.
   */
  secureAggregation?: boolean;
  /** Most clients in one secure round, 2–255 (default ⌈1.5 · minClients⌉, so a third may drop out). */
  cohortSize?: number;
  /** Longest wait of each secure phase in ms (default 120,000). */
  phaseTimeoutMs?: number;
  /** Polling interval suggested to clients during a secure round, ms (default 1,000). */
  pollMs?: number;
  /** Private experiment reports: the registry of experiments to count (JSON as parsed, or a file path). Off when absent. */
  experiments?: unknown[] | string;
  /** How devices' experiment vectors travel: `central` (default: the server adds the noise), `secure` (masked cohorts of `experimentsMinClients`: the server sees only their noisy sum) or `local` (randomized response only). */
  experimentsChannel?: 'central' | 'secure' | 'local';
  /** Reports an experiments round needs before it releases (default: minClients). */
  experimentsMinClients?: number;
  /** Hours an experiments round waits at most before releasing what it has (default 24). */
  experimentsRoundHours?: number;
  /** Keys that may read experiment results over HTTP (`x-hearth-report-key`); none: results only from `hearth-server report`. */
  reportKeys?: readonly string[];
  /** Where experiment reports and releases live (default: `<dataDir>/experiments`, or memory with a custom `store`). */
  experimentStore?: ExperimentStore;
}

export interface ResolvedServerOptions {
  minClients: number;
  aggregator: AggregatorName;
  serverLr: number;
  clip: number;
  noiseMultiplier: number;
  clientNoise: number;
  epsilonBudget: number | undefined;
  delta: number;
  population: number | undefined;
  robust: RobustRule;
  trim: number;
  epochs: number;
  bits: QuantizationBits;
  roundDurationMs: number;
  siteKeys: string[];
  origins: string[];
  rateLimit: number;
  bodyLimit: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  /** Secure aggregation settings, when it is on. */
  secure: { cohortSize: number; phaseTimeoutMs: number; pollMs: number } | undefined;
  /** Experiment reporting, when a registry is given. */
  experiments: { channel: 'central' | 'secure' | 'local'; minClients: number; roundDurationMs: number; reportKeys: string[] } | undefined;
}

const AGGREGATORS: readonly AggregatorName[] = ['fedavg', 'fedadam'];
const ROBUST: readonly RobustRule[] = ['none', 'median', 'trimmed-mean'];

/** Fills in defaults and fails fast, listing what is valid, on a bad option. */
export function resolveServerOptions(options: AggregationServerOptions): ResolvedServerOptions {
  const fail = (message: string): never => {
    throw new TypeError(`hearth server: ${message}`);
  };
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!(v > 0) || !Number.isFinite(v)) fail(`${name} must be a positive number, got ${String(value)}`);
    return v;
  };
  const aggregator = options.aggregator ?? 'fedavg';
  if (!AGGREGATORS.includes(aggregator)) fail(`unknown aggregator "${aggregator}"; expected one of: ${AGGREGATORS.join(', ')}`);
  const robust = options.robust ?? 'none';
  if (!ROBUST.includes(robust)) fail(`unknown robust rule "${robust}"; expected one of: ${ROBUST.join(', ')}`);
  const minClients = options.minClients ?? 10;
  if (!Number.isSafeInteger(minClients) || minClients < 1) fail(`minClients must be an integer >= 1, got ${minClients}`);
  const noiseMultiplier = options.noiseMultiplier ?? 0;
  if (!(noiseMultiplier >= 0)) fail(`noiseMultiplier must be >= 0, got ${noiseMultiplier}`);
  const clientNoise = options.clientNoise ?? 0;
  if (!(clientNoise >= 0)) fail(`clientNoise must be >= 0, got ${clientNoise}`);
  if (noiseMultiplier > 0 && robust !== 'none') fail('robust aggregation and DP noise cannot be combined: the accountant assumes a noisy sum');
  if (noiseMultiplier > 0 && options.population === undefined) fail('population is required with a noise multiplier (q = clients per round / population)');
  if (options.population !== undefined && (!Number.isSafeInteger(options.population) || options.population < minClients)) fail('population must be an integer >= minClients');
  const trim = options.trim ?? 0.1;
  if (!(trim >= 0 && trim < 0.5)) fail(`trim must be in [0, 0.5), got ${trim}`);
  const delta = options.delta ?? 1e-5;
  if (!(delta > 0 && delta < 1)) fail(`delta must be in (0, 1), got ${delta}`);
  if (options.epsilonBudget !== undefined) positive('epsilonBudget', options.epsilonBudget, 1);
  const bits = options.bits ?? 8;
  if (bits !== 8 && bits !== 16) fail(`bits must be 8 or 16, got ${String(bits)}`);
  const siteKeys = [...options.siteKeys].filter((k) => k.length > 0);
  if (siteKeys.length === 0) fail('at least one site key is required (--site-keys or HEARTH_SITE_KEYS)');
  if (siteKeys.some((k) => k.length < 8)) fail('site keys must be at least 8 characters');
  const epochs = positive('epochs', options.epochs, 1);
  if (!Number.isSafeInteger(epochs)) fail('epochs must be an integer');
  let secure: ResolvedServerOptions['secure'];
  if (options.secureAggregation === true) {
    if (robust !== 'none') fail('robust aggregation needs each update in the clear; it cannot be combined with secure aggregation');
    if (clientNoise > 0) fail('with secure aggregation the clients add distributed noise (noiseMultiplier); clientNoise must be 0');
    if (minClients < 2) fail('secure aggregation needs minClients >= 2');
    const cohortSize = options.cohortSize ?? Math.min(255, Math.ceil(1.5 * minClients));
    if (!Number.isSafeInteger(cohortSize) || cohortSize < minClients || cohortSize > 255) fail(`cohortSize must be an integer in ${minClients}–255 (minClients–255), got ${cohortSize}`);
    const phaseTimeoutMs = positive('phaseTimeoutMs', options.phaseTimeoutMs, 120_000);
    const pollMs = positive('pollMs', options.pollMs, 1000);
    secure = { cohortSize, phaseTimeoutMs, pollMs };
  } else if (options.cohortSize !== undefined || options.phaseTimeoutMs !== undefined) {
    fail('cohortSize and phaseTimeoutMs apply only with secureAggregation');
  }
  let experiments: ResolvedServerOptions['experiments'];
  if (options.experiments !== undefined) {
    const channel = options.experimentsChannel ?? 'central';
    if (channel !== 'central' && channel !== 'secure' && channel !== 'local') fail(`experimentsChannel must be "central", "secure" or "local", got ${JSON.stringify(channel)}`);
    const experimentsMinClients = options.experimentsMinClients ?? minClients;
    if (channel === 'secure' && experimentsMinClients < 2) fail('a secure experiments round needs a cohort of at least 2 (experimentsMinClients)');
    if (!Number.isSafeInteger(experimentsMinClients) || experimentsMinClients < 1) fail(`experimentsMinClients must be an integer >= 1, got ${experimentsMinClients}`);
    experiments = {
      channel,
      minClients: experimentsMinClients,
      roundDurationMs: positive('experimentsRoundHours', options.experimentsRoundHours, 24) * 3600_000,
      reportKeys: [...(options.reportKeys ?? [])].filter((k) => k.length > 0),
    };
    if (experiments.reportKeys.some((k) => k.length < 8)) fail('report keys must be at least 8 characters');
  }
  return {
    experiments,
    minClients,
    aggregator,
    serverLr: positive('serverLr', options.serverLr, aggregator === 'fedadam' ? 0.01 : 1),
    clip: positive('clip', options.clip, 1),
    noiseMultiplier,
    clientNoise,
    epsilonBudget: options.epsilonBudget,
    delta,
    population: options.population,
    robust,
    trim,
    epochs,
    bits,
    roundDurationMs: positive('roundDurationMs', options.roundDurationMs, 10 * 60_000),
    siteKeys,
    origins: [...(options.origins ?? [])],
    rateLimit: positive('rateLimit', options.rateLimit, 120),
    bodyLimit: positive('bodyLimit', options.bodyLimit, 8 << 20),
    requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs, 30_000),
    idleTimeoutMs: positive('idleTimeoutMs', options.idleTimeoutMs, 10_000),
    secure,
  };
}
