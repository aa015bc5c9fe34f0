/**
 * Durable storage of the aggregation server, behind an interface so that a shared store (a
 * database, an object store) can replace the local disk when one server is not enough.
 *
 * The disk store's invariants:
 * - an accepted update is written to a temporary file, fsync'd, renamed into place and its folder
 *   fsync'd before `putUpdate` resolves — so before the server answers 2xx;
 * - a round's accepted updates are exactly the `*.upd` files in its folder, named by update id,
 *   so a replayed id is found on disk after any restart;
 * - publication is one atomic rename of `state.json` (after the new model's folder is complete and
 *   fsync'd): a crash before it leaves the old round open with all its updates, a crash after it
 *   opens the next round; the old round's updates are never counted again.
 */
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccountantEntry } from '../federated/accountant.js';
import type { ModelJson } from '../protocol/model-file.js';

/** The server's durable state: which model is current, which round is open, privacy spent. */
export interface PersistedState {
  schema: 1;
  modelVersion: string;
  roundId: number;
  roundOpenedAt: number;
  /** 'open' accepts updates; 'budget_exhausted' refuses them (the ε budget is spent). */
  status: 'open' | 'budget_exhausted';
  /** Privacy accountant history: (q, σ, steps) of every published noisy round. */
  accountant: AccountantEntry[];
  roundsPublished: number;
  /** The last few publications, newest last, for /metrics and operators. */
  history: { roundId: number; modelVersion: string; clients: number; epsilon: number | null; at: number }[];
  /** The open round's secure-aggregation phase, when the server runs secure aggregation. */
  secure?: SecurePhaseState;
  /** Rounds given up because too few clients stayed (secure aggregation). */
  roundsAbandoned?: number;
}

/** Where a secure round stands; each change is committed before any client is told of it. */
export interface SecurePhaseState {
  phase: 'advertise' | 'share' | 'collect' | 'unmask';
  phaseStartedAt: number;
  /** U1, fixed when `share` starts. */
  roster?: number[];
  threshold?: number;
  /** U2, fixed when `collect` starts. */
  sharers?: number[];
  /** U3, fixed when `unmask` starts. */
  survivors?: number[];
}

export interface StoredModel {
  modelJson: ModelJson;
  /** float32 weights, concatenated in manifest order. */
  weights: Uint8Array;
  /** FedAdam moments (m then v), when the aggregator has them. */
  optimizer?: Uint8Array;
}

export interface AggregationStore {
  loadState(): Promise<PersistedState | undefined>;
  /** Atomically replaces the state (the commit point of a publication). */
  commitState(state: PersistedState): Promise<void>;
  loadModel(version: string): Promise<StoredModel | undefined>;
  /** Durably stores a model version; may be called again for a version that a crash left half-written. */
  saveModel(version: string, model: StoredModel): Promise<void>;
  /** Durably stores an accepted update; `duplicate` when this id was already stored for the round. */
  putUpdate(roundId: number, updateId: string, body: Uint8Array): Promise<'stored' | 'duplicate'>;
  listUpdates(roundId: number): Promise<string[]>;
  readUpdate(roundId: number, updateId: string): Promise<Uint8Array>;
  /** Removes rounds other than `keepRound` and models other than `keepModels` (after a publication). */
  prune(keepRound: number, keepModels: readonly string[]): Promise<void>;
}

const SAFE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

function checkName(name: string): string {
  // Names become paths: never let one climb out of the data folder.
  if (!SAFE_NAME.test(name) || name === '.' || name === '..') throw new Error(`unsafe storage name "${name}"`);
  return name;
}

export async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `data` to `path` durably: temporary file, fsync, rename, fsync of the folder. */
export async function writeDurably(dir: string, name: string, data: Uint8Array | string): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.${Date.now()}.tmp`);
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, join(dir, name));
  await syncDir(dir);
}

async function exists(path: string): Promise<boolean> {
  try {
    await open(path, 'r').then((h) => h.close());
    return true;
  } catch {
    return false;
  }
}

/**
 * The default store: plain files under `dataDir`, no other service.
 *
 * @example
 * ```ts
 * const store = await createDiskStore('/var/lib/hearth');
 * ```
 */
export async function createDiskStore(dataDir: string): Promise<AggregationStore> {
  const roundsDir = join(dataDir, 'rounds');
  const modelsDir = join(dataDir, 'models');
  await mkdir(roundsDir, { recursive: true });
  await mkdir(modelsDir, { recursive: true });
  const roundDir = (roundId: number): string => join(roundsDir, String(roundId));

  return {
    async loadState() {
      try {
        return JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as PersistedState;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async commitState(state) {
      await writeDurably(dataDir, 'state.json', JSON.stringify(state));
    },
    async loadModel(version) {
      const dir = join(modelsDir, checkName(version));
      if (!(await exists(join(dir, 'complete')))) return undefined;
      const modelJson = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelJson;
      const weights = new Uint8Array(await readFile(join(dir, 'weights.bin')));
      const optimizer = (await exists(join(dir, 'optimizer.bin'))) ? new Uint8Array(await readFile(join(dir, 'optimizer.bin'))) : undefined;
      return optimizer ? { modelJson, weights, optimizer } : { modelJson, weights };
    },
    async saveModel(version, model) {
      const dir = join(modelsDir, checkName(version));
      // A half-written folder from a crashed publication is simply redone.
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await writeDurably(dir, 'model.json', JSON.stringify(model.modelJson));
      await writeDurably(dir, 'weights.bin', model.weights);
      if (model.optimizer) await writeDurably(dir, 'optimizer.bin', model.optimizer);
      // The marker is written last: a folder without it is incomplete.
      await writeDurably(dir, 'complete', '');
      await syncDir(modelsDir);
    },
    async putUpdate(roundId, updateId, body) {
      const dir = roundDir(roundId);
      const name = `${checkName(updateId)}.upd`;
      await mkdir(dir, { recursive: true });
      if (await exists(join(dir, name))) return 'duplicate';
      await writeDurably(dir, name, body);
      await syncDir(roundsDir);
      return 'stored';
    },
    async listUpdates(roundId) {
      try {
        const names = await readdir(roundDir(roundId));
        return names
          .filter((n) => n.endsWith('.upd') && !n.startsWith('.'))
          .map((n) => n.slice(0, -4))
          .sort();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
    },
    async readUpdate(roundId, updateId) {
      return new Uint8Array(await readFile(join(roundDir(roundId), `${checkName(updateId)}.upd`)));
    },
    async prune(keepRound, keepModels) {
      for (const name of await readdir(roundsDir)) {
        if (name !== String(keepRound)) await rm(join(roundsDir, name), { recursive: true, force: true });
      }
      for (const name of await readdir(modelsDir)) {
        if (!keepModels.includes(name)) await rm(join(modelsDir, name), { recursive: true, force: true });
      }
      // Leftover temporaries of the open round (a crash between write and rename) are garbage.
      for (const name of await readdir(roundDir(keepRound)).catch(() => [] as string[])) {
        if (name.endsWith('.tmp')) await rm(join(roundDir(keepRound), name), { force: true });
      }
    },
  };
}

/**
 * An in-memory store for tests and simulations (nothing survives a restart).
 *
 * @example
 * ```ts
 * const store = createMemoryStore();
 * ```
 */
export function createMemoryStore(): AggregationStore {
  let state: PersistedState | undefined;
  const models = new Map<string, StoredModel>();
  const rounds = new Map<number, Map<string, Uint8Array>>();
  return {
    async loadState() {
      return state === undefined ? undefined : (JSON.parse(JSON.stringify(state)) as PersistedState);
    },
    async commitState(next) {
      state = JSON.parse(JSON.stringify(next)) as PersistedState;
    },
    async loadModel(version) {
      return models.get(version);
    },
    async saveModel(version, model) {
      models.set(version, model);
    },
    async putUpdate(roundId, updateId, body) {
      const round = rounds.get(roundId) ?? new Map<string, Uint8Array>();
      rounds.set(roundId, round);
      if (round.has(updateId)) return 'duplicate';
      round.set(updateId, body);
      return 'stored';
    },
    async listUpdates(roundId) {
      return [...(rounds.get(roundId)?.keys() ?? [])].sort();
    },
    async readUpdate(roundId, updateId) {
      const body = rounds.get(roundId)?.get(updateId);
      if (!body) throw new Error(`no update ${updateId} in round ${roundId}`);
      return body;
    },
    async prune(keepRound, keepModels) {
      for (const id of [...rounds.keys()]) if (id !== keepRound) rounds.delete(id);
      for (const v of [...models.keys()]) if (!keepModels.includes(v)) models.delete(v);
    },
  };
}
