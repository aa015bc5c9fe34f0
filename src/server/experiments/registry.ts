/**
 * The registry of experiments a server counts, from the operator's JSON file
 * (`hearth-server --experiments experiments.json`):
 *
 * ```json
 * [
 *   { "name": "home-recs", "variants": ["model", "bestsellers"], "metrics": ["add_to_cart", "purchase", "revenue"],
 *     "windowHours": 168, "revenueCap": 500, "epsilon": 1 },
 *   { "name": "pdp-widget", "kind": "bandit", "variants": ["carousel", "grid"], "metrics": ["select_item"], "windowHours": 0.5 }
 * ]
 * ```
 *
 * Names, variants (first = control) and metrics must match what the pages declare with
 * `hearth.experiment()` / `hearth.optimise()`; devices report only experiments the registry lists.
 */
import { readFile } from 'node:fs/promises';
import { EXPERIMENT_METRICS, EXPERIMENT_NAME_PATTERN, MAX_VARIANTS, REWARD_EVENTS, DEFAULT_METRICS, type ExperimentMetric, type RegistryExperiment } from '../../protocol/experiments.js';
import { DEVICE_MAX_EPSILON } from '../../federated/experiment-privacy.js';

const NAME = new RegExp(EXPERIMENT_NAME_PATTERN);
const KEYS = ['name', 'kind', 'variants', 'metrics', 'windowHours', 'revenueCap', 'epsilon', 'delta'];

/** Most experiments one registry holds (the report vector grows with each). */
export const MAX_EXPERIMENTS = 64;

/**
 * Checks a registry and fills in the defaults (`kind` experiment, metrics add_to_cart / purchase /
 * revenue, a 168-hour window, revenue clipped at 500, ε 1, δ 1e-6). Throws a TypeError naming what
 * is wrong.
 *
 * @example
 * ```ts
 * const registry = parseRegistry([{ name: 'home-recs', variants: ['model', 'bestsellers'] }]);
 * ```
 */
export function parseRegistry(input: unknown): RegistryExperiment[] {
  const fail = (message: string): never => {
    throw new TypeError(`hearth server: experiments: ${message}`);
  };
  if (!Array.isArray(input)) fail('the registry must be a JSON array of experiments');
  const list = input as unknown[];
  if (list.length > MAX_EXPERIMENTS) fail(`at most ${MAX_EXPERIMENTS} experiments`);
  const seen = new Set<string>();
  return list.map((raw, i): RegistryExperiment => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`entry ${i} must be an object`);
    const e = raw as Record<string, unknown>;
    for (const key of Object.keys(e)) if (!KEYS.includes(key)) fail(`entry ${i}: unknown field "${key}"; valid fields: ${KEYS.join(', ')}`);
    const name = e.name;
    if (typeof name !== 'string' || !NAME.test(name)) fail(`entry ${i}: name must match ${EXPERIMENT_NAME_PATTERN}`);
    if (seen.has(name as string)) fail(`"${String(name)}" is listed twice`);
    seen.add(name as string);
    const kind = e.kind ?? 'experiment';
    if (kind !== 'experiment' && kind !== 'bandit') fail(`"${String(name)}": kind must be "experiment" or "bandit"`);
    const variants = e.variants;
    if (
      !Array.isArray(variants) ||
      variants.length < 2 ||
      variants.length > MAX_VARIANTS ||
      variants.some((v) => typeof v !== 'string' || !NAME.test(v)) ||
      new Set(variants).size !== variants.length
    ) {
      fail(`"${String(name)}": variants must be 2–${MAX_VARIANTS} distinct names`);
    }
    const allowed: readonly string[] = kind === 'bandit' ? REWARD_EVENTS : EXPERIMENT_METRICS;
    const metrics = (e.metrics ?? (kind === 'bandit' ? undefined : [...DEFAULT_METRICS])) as unknown;
    if (!Array.isArray(metrics) || metrics.length === 0 || metrics.some((m) => !allowed.includes(m as string)) || new Set(metrics).size !== metrics.length) {
      fail(`"${String(name)}": metrics must be distinct values of: ${allowed.join(', ')}`);
    }
    if (kind === 'bandit' && (metrics as unknown[]).length !== 1) fail(`"${String(name)}": a bandit has exactly one metric, its reward`);
    if ((metrics as unknown[]).length > 5) fail(`"${String(name)}": at most 5 metrics`);
    const number = (key: string, fallback: number, ok: (v: number) => boolean, what: string): number => {
      const v = e[key] ?? fallback;
      if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) fail(`"${String(name)}": ${key} must be ${what}`);
      return v as number;
    };
    return {
      name: name as string,
      kind: kind as RegistryExperiment['kind'],
      variants: [...(variants as string[])],
      metrics: [...(metrics as ExperimentMetric[])],
      windowHours: number('windowHours', kind === 'bandit' ? 0.5 : 168, (v) => v > 0 && v <= 24 * 90, 'a number of hours in (0, 2160]'),
      revenueCap: number('revenueCap', 500, (v) => v > 0, 'a positive number'),
      epsilon: number('epsilon', 1, (v) => v > 0 && v <= DEVICE_MAX_EPSILON, `in (0, ${DEVICE_MAX_EPSILON}] (devices refuse more)`),
      delta: number('delta', 1e-6, (v) => v > 0 && v < 1e-3, 'in (0, 0.001)'),
    };
  });
}

/** Reads and checks a registry file. */
export async function loadRegistry(path: string): Promise<RegistryExperiment[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new TypeError(`hearth server: experiments: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return parseRegistry(json);
}
