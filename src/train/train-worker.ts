/**
 * One thread of data-parallel training (Node `worker_threads`). Every thread holds a replica of
 * the recommender, builds the same batches in the same order, trains on its slice of each batch
 * and applies the averaged gradient (all-reduce.ts), so the replicas stay identical. It also
 * scores its share of the validation cases. Started by {@link DataParallelTrainer}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setupNodeRuntime, type NodeBackend } from './node-runtime.js';
import { SasRecommender } from '../model/sasrec-recommender.js';
import { ItemNeighbours } from '../model/item-neighbours.js';
import { seededRandom } from '../model/random.js';
import { makeBatches, type PaddedBatch } from '../model/sequence-examples.js';
import { SharedAdamStep } from './all-reduce.js';
import { blendedRanks } from './evaluate.js';
import type { TrainerInit, TrainerReply, TrainerRequest } from './trainer-protocol.js';

/** The examples `[from, to)` of a left-padded batch, as a batch of their own. */
function slice(batch: PaddedBatch, from: number, to: number): PaddedBatch {
  const { length } = batch;
  return {
    batch: to - from,
    length,
    rows: batch.rows.subarray(from * length, to * length),
    types: batch.types.subarray(from * length, to * length),
    targets: batch.targets.subarray(from * length, to * length),
  };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('train-worker.js runs as a worker thread');
  const init = workerData as TrainerInit;
  await setupNodeRuntime(init.backend as NodeBackend);
  const model = new SasRecommender({ items: init.items, config: init.config, seed: init.seed });
  let data = model.trainingData(init.sequences);
  const step = new SharedAdamStep(init.buffers, init.thread, init.threads, model.parameterCount(), model.config.learningRate);
  // Every replica starts from the same seeded weights; one copy goes to shared memory.
  if (init.thread === 0) model.writeFlatWeights(step.sharedWeights);
  const reply = (message: TrainerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

  port.on('message', (request: TrainerRequest) => {
    try {
      if (request.type === 'epoch') {
        const batches = makeBatches(data.examples, init.batchSize, seededRandom(request.seed), true, init.batchTokens);
        let lossSum = 0;
        let steps = 0;
        let positions = 0;
        let stopped = false;
        for (const batch of batches) {
          const from = Math.floor((init.thread * batch.batch) / init.threads);
          const to = Math.floor(((init.thread + 1) * batch.batch) / init.threads);
          const slot = step.slot;
          let shard = { loss: 0, count: 0 };
          if (to > from) shard = model.batchGradients(slice(batch, from, to), data, slot);
          const done = step.apply(shard.loss, shard.count);
          if (!done) {
            stopped = true;
            break;
          }
          if (done.count === 0) continue;
          model.loadFlatWeights(step.sharedWeights);
          lossSum += done.loss;
          steps++;
          positions += batch.batch * batch.length;
        }
        reply({ type: 'epoch-done', loss: steps > 0 ? lossSum / steps : Number.NaN, steps, positions, stopped });
      } else if (request.type === 'weights') {
        const weights = model.getWeights();
        reply(
          { type: 'weights', weights },
          weights.map((w) => w.values.buffer as ArrayBuffer),
        );
      } else if (request.type === 'reload') {
        // The coordinator wrote new weights into shared memory and zeroed the moments.
        model.loadFlatWeights(step.sharedWeights);
        step.restart();
        reply({ type: 'ok' });
      } else if (request.type === 'neighbours') {
        model.setNeighbours(request.table ? new ItemNeighbours(request.table) : null);
        reply({ type: 'ok' });
      } else if (request.type === 'data') {
        data = model.trainingData(request.sequences);
        reply({ type: 'ok' });
      } else if (request.type === 'evaluate') {
        const ranks = blendedRanks(model, request.cases, request.weights);
        reply({ type: 'ranks', ranks }, [ranks.buffer as ArrayBuffer]);
      } else if (request.type === 'close') {
        model.dispose();
        port.close();
      }
    } catch (error) {
      reply({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  });
  reply({ type: 'ready' });
}

void main().catch((error: unknown) => {
  parentPort?.postMessage({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies TrainerReply);
});
