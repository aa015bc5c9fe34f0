/**
 * `hearth-server report [EXPERIMENT] --data-dir DIR [--json]`: an experiment's results from the
 * server's data folder (its `experiments/state.json`, which the server replaces atomically, so it
 * can be read while the server runs). Without a name: the experiments with data.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ExperimentsState } from './experiment-store.js';
import { experimentResults, formatResults } from './results.js';

/**
 * Runs the command; resolves to the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await reportCommand(['home-recs', '--data-dir', './fl'], process.env, out, err);
 * ```
 */
export async function reportCommand(argv: readonly string[], env: Record<string, string | undefined>, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  let values: { 'data-dir'?: string; json?: boolean; alpha?: string; tau?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { 'data-dir': { type: 'string' }, json: { type: 'boolean' }, alpha: { type: 'string' }, tau: { type: 'string' } },
    }));
  } catch (error) {
    err(`hearth-server report: ${error instanceof Error ? error.message : String(error)}\nUsage: hearth-server report [EXPERIMENT] --data-dir DIR [--json] [--alpha A] [--tau T]\n`);
    return 2;
  }
  const dataDir = values['data-dir'] ?? env.HEARTH_DATA_DIR;
  if (!dataDir) {
    err('hearth-server report: --data-dir is required\n');
    return 2;
  }
  let state: ExperimentsState;
  try {
    state = JSON.parse(await readFile(join(dataDir, 'experiments', 'state.json'), 'utf8')) as ExperimentsState;
  } catch {
    err(`hearth-server report: no experiment data in ${dataDir} (start the server with --experiments)\n`);
    return 1;
  }
  const name = positionals[0];
  if (name === undefined) {
    for (const [key, data] of Object.entries(state.data).sort()) out(`${key}\t${data.experiment.kind}\t${data.experiment.variants.join(',')}\t${data.releases.length} releases\n`);
    return 0;
  }
  const data = state.data[name];
  if (!data) {
    err(`hearth-server report: no experiment "${name}"; known: ${Object.keys(state.data).sort().join(', ') || 'none'}\n`);
    return 1;
  }
  const alpha = values.alpha === undefined ? undefined : Number(values.alpha);
  const tau = values.tau === undefined ? undefined : Number(values.tau);
  if ((alpha !== undefined && !(alpha > 0 && alpha < 1)) || (tau !== undefined && !(tau > 0))) {
    err('hearth-server report: --alpha must be in (0, 1) and --tau > 0\n');
    return 2;
  }
  const results = experimentResults(data, { ...(alpha !== undefined ? { alpha } : {}), ...(tau !== undefined ? { tau } : {}) });
  out(values.json ? `${JSON.stringify(results, null, 2)}\n` : formatResults(results));
  return 0;
}
