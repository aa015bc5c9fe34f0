/**
 * `hearth/server`: the federated aggregation server.
 *
 * @example
 * ```ts
 * import { createAggregationServer } from 'hearth/server';
 * const server = await createAggregationServer({ dataDir: './fl', modelDir: './model', siteKeys: ['shop-key-123'] });
 * await server.listen({ port: 8787 });
 * ```
 */
export { createAggregationServer, SITE_KEY_HEADER, MODEL_VERSION_HEADER } from './app.js';
export type { AggregationServer } from './app.js';
export type { AggregationServerOptions } from './options.js';
export { createDiskStore, createMemoryStore } from './store.js';
export type { AggregationStore, PersistedState, StoredModel } from './store.js';
export type { RoundInfo } from './coordinator.js';
export { coordinateMedian, trimmedMean, weightedMean, fedAdamStep, fedAvgStep, noisyMean } from './aggregate.js';
export type { AggregatorName, RobustRule } from './aggregate.js';
export { RdpAccountant, computeRdp, computeRdpSkellam, skellamRdp, subsampledRdp, epsilonFromRdp, DEFAULT_ORDERS } from '../federated/accountant.js';
export type { AccountantEntry, GaussianEntry, SkellamEntry } from '../federated/accountant.js';
export type { SecureOptions } from './secure-round.js';
export { loadModelDir } from './model-dir.js';
export { parseArgs } from './cli-args.js';
export { ExperimentRounds, ExperimentRejection } from './experiments/experiment-rounds.js';
export type { ExperimentRoundsOptions, ExperimentChannel } from './experiments/experiment-rounds.js';
export { createExperimentDiskStore, createExperimentMemoryStore } from './experiments/experiment-store.js';
export type { ExperimentStore, ExperimentsState } from './experiments/experiment-store.js';
export { parseRegistry, loadRegistry } from './experiments/registry.js';
export { experimentResults, formatResults } from './experiments/results.js';
export type { ExperimentData, Release } from './experiments/results.js';
export type { ExperimentResults, RegistryExperiment, ReportLayout, LayoutExperiment } from '../protocol/experiments.js';
