/**
 * The engine used when none can run (engine bundle missing, worker refused to start): every
 * answer is empty or neutral, and `info()` says why.
 */
import type { EngineClient } from '../client/contract.js';

export function fallbackEngine(reason: string): EngineClient {
  const none = async () => [];
  return {
    recommend: none,
    similarItems: none,
    trending: none,
    intent: async () => ({ cart: 0, purchase: 0, because: [], source: 'heuristic' }),
    info: async () => ({
      status: 'fallback',
      backend: null,
      backendReason: reason,
      wasmThreads: null,
      adapter: null,
      parameters: { recommender: 0, intent: 0 },
      lastTrainedAt: null,
      lastLoss: null,
      globalModelVersion: null,
      fallbackReason: reason,
    }),
    train: async () => ({ recommenderLoss: null, intentLoss: null }),
    onProgress: () => () => undefined,
    federatedRound: async () => ({ status: 'skipped', reason }),
    lastUpload: async () => null,
    reportExperiments: async () => ({ status: 'skipped', reason }),
    catalogChanged: () => undefined,
    reset: async () => undefined,
    dispose: () => undefined,
  };
}
