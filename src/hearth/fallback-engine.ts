/**
 * The engine used when none can run (engine bundle missing, worker refused to start): every
 * answer is empty or neutral, and `info()` says why.
 */
import type { EngineClient } from '../client/contract.js';
import { HearthError } from '../protocol/errors.js';
import { engineInfoWithoutEngine } from '../protocol/engine-types.js';

export function fallbackEngine(reason: string): EngineClient {
  const none = async () => [];
  return {
    recommend: none,
    similarItems: none,
    trending: none,
    intent: async () => ({ cart: 0, purchase: 0, because: [], source: 'heuristic' }),
    info: async () => engineInfoWithoutEngine('fallback', reason),
    train: async () => {
      throw new HearthError('engine_unavailable', `Cannot train: ${reason}`);
    },
    onProgress: () => () => undefined,
    federatedRound: async () => ({ status: 'skipped', reason }),
    lastUpload: async () => null,
    reportExperiments: async () => ({ status: 'skipped', reason }),
    catalogChanged: () => undefined,
    reset: async () => undefined,
    dispose: () => undefined,
  };
}
