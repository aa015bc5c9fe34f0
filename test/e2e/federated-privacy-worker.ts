/**
 * Worker side of the federated privacy test: a module worker (no DOM, like the engine's) that
 * fills the real IndexedDB store with a shopper's events, reads them back as training sequences
 * and runs one federated round with the real client against the server on loopback.
 *
 * The model is a stand-in with the contract's getWeights/setWeights/train (training nudges the
 * embedding rows of the items seen), so this test is about what crosses the network, not about
 * model quality. When the engine worker exposes `federatedRound()`, the same assertions apply to it.
 */
import { openStore } from '../../src/store/index.js';
import { createLogger } from '../../src/shared/logger.js';
import { runFederatedRound, type FederatedModel } from '../../src/federated/client.js';
import type { HistoryStep, NamedWeight, TrainOptions } from '../../src/model/contract.js';
import type { StoredEvent } from '../../src/protocol/event-types.js';

interface Job {
  serverUrl: string;
  siteKey: string;
  vocabulary: string[];
  events: StoredEvent[];
  layout: { name: string; shape: number[] }[];
}

class RowModel implements FederatedModel {
  private weights: NamedWeight[];
  constructor(
    layout: Job['layout'],
    private readonly rows: Map<string, number>,
  ) {
    this.weights = layout.map((t) => ({ name: t.name, shape: [...t.shape], values: new Float32Array(t.shape.reduce((a, b) => a * b, 1)) }));
  }
  getWeights(): NamedWeight[] {
    return this.weights.map((w) => ({ ...w, shape: [...w.shape], values: w.values.slice() }));
  }
  setWeights(weights: readonly NamedWeight[]): void {
    this.weights = weights.map((w) => ({ ...w, shape: [...w.shape], values: w.values.slice() }));
  }
  async train(sequences: readonly (readonly HistoryStep[])[], options: TrainOptions): Promise<{ loss: number }> {
    const table = this.weights[0] as NamedWeight;
    const width = table.shape[1] as number;
    for (let e = 0; e < options.epochs; e++) {
      for (const seq of sequences) {
        for (const step of seq) {
          const row = this.rows.get(step.itemId);
          if (row !== undefined) for (let k = 0; k < width; k++) table.values[row * width + k] = (table.values[row * width + k] as number) + 0.01;
        }
      }
    }
    return { loss: 0.5 };
  }
}

self.onmessage = async (message: MessageEvent<Job>) => {
  try {
    const job = message.data;
    const store = await openStore({ name: 'hearth-fl-privacy', logger: createLogger(() => false) });
    await store.appendEvents(job.events);
    const events = await store.readEvents();
    const sequences: HistoryStep[][] = [events.flatMap((e) => e.itemIds.map((itemId) => ({ itemId, type: e.type, time: e.time })))];
    const model = new RowModel(job.layout, new Map(job.vocabulary.map((id, i) => [id, i])));
    const result = await runFederatedRound({
      serverUrl: job.serverUrl,
      siteKey: job.siteKey,
      model,
      sequences,
      store,
      consent: { contribute: true },
      capabilities: { globalPrivacyControl: false, saveData: false },
      retry: { attempts: 2, baseDelayMs: 50 },
    });
    const checkpoint = await store.getCheckpoint('federated-global');
    self.postMessage({ ok: true, result, persistent: store.persistent, cached: checkpoint !== undefined, events: events.length });
  } catch (error) {
    self.postMessage({ ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  }
};
