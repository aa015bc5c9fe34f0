/**
 * Data-parallel training of the recommender on every core of a Node machine. tfjs's WASM backend
 * runs one thread in Node (its threaded build does not start there), so each core gets a
 * `worker_threads` replica of the model; each batch is split between them and their gradients are
 * averaged in shared memory (all-reduce.ts) before every replica applies the same step.
 */
import { Worker } from 'node:worker_threads';
import type { HistoryStep, ItemAttributes, NamedWeight, RecommenderConfig } from '../model/contract.js';
import type { NeighbourTable } from '../model/item-neighbours.js';
import { clearStop, createSharedBuffers, requestStop, resetOptimizer, sharedWeights, type SharedBuffers } from './all-reduce.js';
import type { RankingCase } from './evaluate.js';
import type { TrainerInit, TrainerReply, TrainerRequest } from './trainer-protocol.js';

export interface DataParallelOptions {
  items: ItemAttributes[];
  config: Partial<RecommenderConfig>;
  seed: number;
  sequences: HistoryStep[][];
  /** Threads to train on (at least 1). */
  threads: number;
  /** Parameters of the model, for the size of the shared gradient slots. */
  parameters: number;
  backend?: 'wasm' | 'cpu';
  batchSize?: number;
  batchTokens?: number;
  /** The built train-worker.js; by default the one next to this module's bundle. */
  workerUrl?: URL;
}

export interface EpochResult {
  loss: number;
  steps: number;
  positions: number;
  /** The deadline passed before the epoch finished (the weights are as trained so far). */
  stopped: boolean;
}

class Thread {
  private readonly pending: { resolve: (reply: TrainerReply) => void; reject: (error: Error) => void }[] = [];
  private failure: Error | null = null;

  constructor(readonly worker: Worker) {
    worker.on('message', (reply: TrainerReply) => this.pending.shift()?.resolve(reply));
    worker.on('error', (error) => this.fail(error));
    worker.on('exit', (code) => this.fail(new Error(`a training thread exited (code ${code})`)));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const p of this.pending.splice(0)) p.reject(error);
  }

  /** The next reply of this thread (replies come in request order). */
  next(): Promise<TrainerReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.pending.push({ resolve, reject })).then((reply) => {
      const r = reply as TrainerReply;
      if (r.type === 'error') throw new Error(`training thread failed: ${r.message}`);
      return r;
    });
  }

  call(request: TrainerRequest): Promise<TrainerReply> {
    const reply = this.next();
    this.worker.postMessage(request);
    return reply;
  }
}

/**
 * @example
 * ```ts
 * const trainer = await DataParallelTrainer.start({ items, config, seed: 1, sequences, threads: 2, parameters });
 * const { loss } = await trainer.epoch(1);
 * const weights = await trainer.weights();
 * await trainer.close();
 * ```
 */
export class DataParallelTrainer {
  private constructor(
    private readonly threads: Thread[],
    private readonly buffers: SharedBuffers,
  ) {}

  static async start(options: DataParallelOptions): Promise<DataParallelTrainer> {
    const count = Math.max(1, Math.floor(options.threads));
    const buffers = createSharedBuffers(count, options.parameters);
    const url = options.workerUrl ?? new URL('./train-worker.js', import.meta.url);
    const threads = Array.from({ length: count }, (_, thread) => {
      const init: TrainerInit = {
        items: options.items,
        config: options.config,
        seed: options.seed,
        backend: options.backend ?? 'wasm',
        sequences: options.sequences,
        batchSize: options.batchSize ?? 128,
        batchTokens: options.batchTokens ?? 1024,
        thread,
        threads: count,
        buffers,
      };
      return new Thread(new Worker(url, { workerData: init }));
    });
    const trainer = new DataParallelTrainer(threads, buffers);
    try {
      await Promise.all(threads.map((t) => t.next()));
    } catch (error) {
      await trainer.close();
      throw error;
    }
    return trainer;
  }

  get threadCount(): number {
    return this.threads.length;
  }

  /** One pass over the data; stops early (every thread at the same step) once `deadline` (performance.now() ms) passes. */
  async epoch(seed: number, deadline = Number.POSITIVE_INFINITY): Promise<EpochResult> {
    clearStop(this.buffers);
    const timer = Number.isFinite(deadline) ? setTimeout(() => requestStop(this.buffers), Math.max(0, deadline - performance.now())) : null;
    try {
      const replies = await Promise.all(this.threads.map((t) => t.call({ type: 'epoch', seed })));
      const first = replies[0] as Extract<TrainerReply, { type: 'epoch-done' }>;
      return { loss: first.loss, steps: first.steps, positions: first.positions, stopped: first.stopped };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** The replicas' weights (they are identical; the first thread's). */
  async weights(): Promise<NamedWeight[]> {
    const reply = await (this.threads[0] as Thread).call({ type: 'weights' });
    return (reply as Extract<TrainerReply, { type: 'weights' }>).weights;
  }

  /** Replaces every replica's weights (e.g. with the best epoch's, before tuning the blend). */
  async setWeights(weights: readonly NamedWeight[]): Promise<void> {
    const shared = sharedWeights(this.buffers);
    let offset = 0;
    for (const w of weights) {
      shared.set(w.values, offset);
      offset += w.values.length;
    }
    if (offset !== shared.length) throw new Error(`setWeights: ${offset} values for ${shared.length} parameters`);
    resetOptimizer(this.buffers);
    await Promise.all(this.threads.map((t) => t.call({ type: 'reload' })));
  }

  /** What the following epochs train on (the same items as at the start), e.g. the whole log once validation is done. */
  async setSequences(sequences: HistoryStep[][]): Promise<void> {
    await Promise.all(this.threads.map((t) => t.call({ type: 'data', sequences })));
  }

  async setNeighbours(table: NeighbourTable | null): Promise<void> {
    await Promise.all(this.threads.map((t) => t.call({ type: 'neighbours', table })));
  }

  /** Ranks of each case's target at each neighbour weight, `[cases × weights]`, scored on every thread. */
  async evaluate(cases: readonly RankingCase[], weights: readonly number[]): Promise<Int32Array> {
    const n = this.threads.length;
    const replies = await Promise.all(this.threads.map((t, thread) => t.call({ type: 'evaluate', cases: cases.filter((_, i) => i % n === thread), weights: [...weights] })));
    const out = new Int32Array(cases.length * weights.length);
    replies.forEach((reply, thread) => {
      const ranks = (reply as Extract<TrainerReply, { type: 'ranks' }>).ranks;
      for (let local = 0; local * n + thread < cases.length; local++) {
        out.set(ranks.subarray(local * weights.length, (local + 1) * weights.length), (local * n + thread) * weights.length);
      }
    });
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
