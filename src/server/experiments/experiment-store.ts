/**
 * Durable storage of experiment reports and releases, with the invariants of the model's store
 * (`../store.ts`): a report is on disk (fsync'd, renamed into place) before the server answers
 * 202; a round's reports are exactly the files of its folder, named by kind and report id, so a
 * retried report is found after any restart; closing a round is one atomic rename of `state.json`,
 * after which the round's files are deleted — individual reports are kept no longer than needed.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RegistryExperiment } from '../../protocol/experiments.js';
import { syncDir, writeDurably } from '../store.js';
import type { ExperimentData } from './results.js';

export interface ExperimentsState {
  schema: 1;
  roundId: number;
  roundOpenedAt: number;
  /** The registry in force when the state was last committed. */
  registry: RegistryExperiment[];
  /** Every experiment ever counted, by name, with its releases. */
  data: Record<string, ExperimentData>;
  /** Secure rounds: the open round's cohort (its members' public keys) and its phase. */
  cohort?: CohortState;
}

export interface CohortState {
  roundId: number;
  /** `enrol`: devices post keys until the cohort is full (or the deadline); `submit`: the cohort is fixed. */
  phase: 'enrol' | 'submit';
  /** When the phase began (its deadline is one round duration later). */
  phaseAt: number;
  keys: { keyId: string; publicKey: string }[];
}

/** A report's kind in a round: `v` a vector, `r` a randomized-response report, `m` a cohort member's masked vector. */
export type ReportKind = 'v' | 'r' | 'm';

export interface ExperimentStore {
  load(): Promise<ExperimentsState | undefined>;
  commit(state: ExperimentsState): Promise<void>;
  putReport(roundId: number, kind: ReportKind, reportId: string, body: string): Promise<'stored' | 'duplicate'>;
  listReports(roundId: number): Promise<{ kind: ReportKind; reportId: string }[]>;
  readReport(roundId: number, kind: ReportKind, reportId: string): Promise<string>;
  /** Deletes every round folder but `keepRound`'s. */
  prune(keepRound: number): Promise<void>;
}

const ID = /^[A-Za-z0-9_-]{22}$/;

function fileName(kind: ReportKind, reportId: string): string {
  if (!ID.test(reportId)) throw new Error(`unsafe report id "${reportId.slice(0, 30)}"`);
  return `${kind}-${reportId}.rep`;
}

/**
 * Files under `dir` (e.g. `<data-dir>/experiments`).
 *
 * @example
 * ```ts
 * const store = await createExperimentDiskStore(join(dataDir, 'experiments'));
 * ```
 */
export async function createExperimentDiskStore(dir: string): Promise<ExperimentStore> {
  const rounds = join(dir, 'rounds');
  await mkdir(rounds, { recursive: true });
  const roundDir = (id: number): string => join(rounds, String(id));
  return {
    async load() {
      try {
        return JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as ExperimentsState;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async commit(state) {
      await writeDurably(dir, 'state.json', JSON.stringify(state));
    },
    async putReport(roundId, kind, reportId, body) {
      const folder = roundDir(roundId);
      const name = fileName(kind, reportId);
      await mkdir(folder, { recursive: true });
      const present = await readdir(folder);
      if (present.includes(fileName('v', reportId)) || present.includes(fileName('r', reportId)) || present.includes(fileName('m', reportId))) return 'duplicate';
      await writeDurably(folder, name, body);
      await syncDir(rounds);
      return 'stored';
    },
    async listReports(roundId) {
      const names = await readdir(roundDir(roundId)).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [] as string[];
        throw error;
      });
      return names
        .filter((n) => /^[vrm]-[A-Za-z0-9_-]{22}\.rep$/.test(n))
        .sort()
        .map((n) => ({ kind: n[0] as ReportKind, reportId: n.slice(2, -4) }));
    },
    async readReport(roundId, kind, reportId) {
      return readFile(join(roundDir(roundId), fileName(kind, reportId)), 'utf8');
    },
    async prune(keepRound) {
      for (const name of await readdir(rounds)) if (name !== String(keepRound)) await rm(join(rounds, name), { recursive: true, force: true });
    },
  };
}

/** In memory, for tests and simulations. */
export function createExperimentMemoryStore(): ExperimentStore {
  let state: string | undefined;
  const rounds = new Map<number, Map<string, string>>();
  const key = (kind: ReportKind, id: string): string => `${kind}-${id}`;
  return {
    async load() {
      return state === undefined ? undefined : (JSON.parse(state) as ExperimentsState);
    },
    async commit(next) {
      state = JSON.stringify(next);
    },
    async putReport(roundId, kind, reportId, body) {
      const round = rounds.get(roundId) ?? new Map<string, string>();
      rounds.set(roundId, round);
      if (round.has(key('v', reportId)) || round.has(key('r', reportId)) || round.has(key('m', reportId))) return 'duplicate';
      round.set(key(kind, reportId), body);
      return 'stored';
    },
    async listReports(roundId) {
      return [...(rounds.get(roundId)?.keys() ?? [])].sort().map((k) => ({ kind: k[0] as ReportKind, reportId: k.slice(2) }));
    },
    async readReport(roundId, kind, reportId) {
      const body = rounds.get(roundId)?.get(key(kind, reportId));
      if (body === undefined) throw new Error(`no report ${reportId} in round ${roundId}`);
      return body;
    },
    async prune(keepRound) {
      for (const id of [...rounds.keys()]) if (id !== keepRound) rounds.delete(id);
    },
  };
}
