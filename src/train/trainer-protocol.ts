/** Messages between {@link DataParallelTrainer} and its training threads (train-worker.ts). */
import type { HistoryStep, ItemAttributes, NamedWeight, RecommenderConfig } from '../model/contract.js';
import type { NeighbourTable } from '../model/item-neighbours.js';
import type { SharedBuffers } from './all-reduce.js';
import type { RankingCase } from './evaluate.js';

/** What every thread starts with (`workerData`). */
export interface TrainerInit {
  items: ItemAttributes[];
  config: Partial<RecommenderConfig>;
  seed: number;
  backend: string;
  sequences: HistoryStep[][];
  batchSize: number;
  batchTokens: number;
  thread: number;
  threads: number;
  buffers: SharedBuffers;
}

export type TrainerRequest =
  | { type: 'epoch'; seed: number }
  | { type: 'weights' }
  /** Load the shared weights (the coordinator replaced them) and restart the optimizer. */
  | { type: 'reload' }
  | { type: 'neighbours'; table: NeighbourTable | null }
  /** Train from now on over these sequences (the same items), e.g. the whole log after validation. */
  | { type: 'data'; sequences: HistoryStep[][] }
  /** Ranks of the targets of `cases` (this thread's share) at each neighbour weight. */
  | { type: 'evaluate'; cases: RankingCase[]; weights: number[] }
  | { type: 'close' };

export type TrainerReply =
  | { type: 'ready' }
  | { type: 'ok' }
  | { type: 'epoch-done'; loss: number; steps: number; positions: number; stopped: boolean }
  | { type: 'weights'; weights: NamedWeight[] }
  | { type: 'ranks'; ranks: Int32Array }
  | { type: 'error'; message: string };
