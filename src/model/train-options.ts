/** Validation and the batch loop shared by both models' `train()`. */
import type { TrainOptions } from './contract.js';
import { HearthError } from '../protocol/errors.js';
import { nextMacrotask } from './tensor-ops.js';

export interface ResolvedTrainOptions {
  epochs: number;
  batchSize: number;
  yieldEvery: number;
  signal: AbortSignal | undefined;
  onProgress: TrainOptions['onProgress'];
  batchTokens: number;
}

export function resolveTrainOptions(options: TrainOptions, defaultBatchSize: number): ResolvedTrainOptions {
  if (typeof options !== 'object' || options === null) throw new HearthError('invalid_argument', 'train() needs options with `epochs`');
  const { epochs, batchSize = defaultBatchSize, yieldEvery = 1 } = options;
  if (!Number.isSafeInteger(epochs) || epochs < 0) throw new HearthError('invalid_argument', `epochs must be an integer ≥ 0, got ${String(epochs)}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new HearthError('invalid_argument', `batchSize must be an integer ≥ 1, got ${String(batchSize)}`);
  if (!Number.isSafeInteger(yieldEvery) || yieldEvery < 0) throw new HearthError('invalid_argument', `yieldEvery must be an integer ≥ 0, got ${String(yieldEvery)}`);
  const batchTokens = options.batchTokens ?? 0;
  if (!Number.isSafeInteger(batchTokens) || batchTokens < 0) throw new HearthError('invalid_argument', `batchTokens must be an integer ≥ 0, got ${String(batchTokens)}`);
  return { epochs, batchSize, yieldEvery, signal: options.signal, onProgress: options.onProgress, batchTokens };
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new HearthError('aborted', 'training was cancelled');
}

/**
 * Runs `step` over every batch for every epoch, reporting progress, honouring the abort signal and
 * yielding a macrotask every `yieldEvery` batches. Returns the last epoch's mean loss.
 */
export async function runEpochs<B>(options: ResolvedTrainOptions, makeEpochBatches: () => B[], step: (batch: B) => Promise<number>): Promise<number> {
  let lastLoss = Number.NaN;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const batches = makeEpochBatches();
    let sum = 0;
    for (let i = 0; i < batches.length; i++) {
      throwIfAborted(options.signal);
      sum += await step(batches[i] as B);
      const loss = sum / (i + 1);
      options.onProgress?.({ epoch: epoch + 1, epochs: options.epochs, loss, fraction: (epoch + (i + 1) / batches.length) / options.epochs });
      if (options.yieldEvery > 0 && (i + 1) % options.yieldEvery === 0) await nextMacrotask();
    }
    throwIfAborted(options.signal);
    lastLoss = batches.length > 0 ? sum / batches.length : Number.NaN;
  }
  return lastLoss;
}
