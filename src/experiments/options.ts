/**
 * Checks the options of `hearth.experiment()` and `hearth.optimise()`. Bad options are a
 * programmer mistake: a `HearthError('invalid_argument')` saying what was wrong and what is valid.
 */
import { HearthError, describeValue, readPageData } from '../protocol/errors.js';
import { DEFAULT_METRICS, EXPERIMENT_METRICS, EXPERIMENT_NAME_PATTERN, MAX_VARIANTS, REWARD_EVENTS, type ExperimentMetric, type RewardEvent } from '../protocol/experiments.js';

const NAME = new RegExp(EXPERIMENT_NAME_PATTERN);

function fail(message: string): never {
  throw new HearthError('invalid_argument', message);
}

/** Throws unless `name` is a valid experiment, variant or arm name. */
export function checkName(what: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME.test(name)) fail(`${what} must be 1–64 letters, digits or ._:- (starting with a letter or digit), got ${describeValue(name)}`);
  return name;
}

function only(what: string, value: Record<string, unknown>, keys: readonly string[]): void {
  for (const key of Object.keys(value)) if (!keys.includes(key)) fail(`Unknown ${what} option "${key.slice(0, 40)}"; valid options: ${keys.join(', ')}`);
}

function plain(what: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} options must be an object, got ${describeValue(value)}`);
  return value as Record<string, unknown>;
}

function names(what: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.length < 2 || value.length > MAX_VARIANTS) fail(`${what} must be an array of 2–${MAX_VARIANTS} names, got ${describeValue(value)}`);
  const list = value.map((v) => checkName(`each of ${what}`, v));
  if (new Set(list).size !== list.length) fail(`${what} must be distinct, got ${list.join(', ')}`);
  return list;
}

/** Normalised experiment options. */
export interface CheckedExperiment {
  name: string;
  variants: string[];
  weights: number[];
  metrics: ExperimentMetric[];
}

/**
 * @example
 * ```ts
 * checkExperimentOptions('home-recs', { variants: ['model', 'bestsellers'] }).weights; // [1, 1]
 * ```
 */
export function checkExperimentOptions(name: unknown, options: unknown): CheckedExperiment {
  return readPageData('invalid_argument', 'The experiment options', () => {
    const checkedName = checkName('The experiment name', name);
    const o = plain('experiment()', options);
    only('experiment()', o, ['variants', 'weights', 'metrics']);
    const variants = names('variants', o.variants);
    let weights = variants.map(() => 1);
    if (o.weights !== undefined) {
      if (!Array.isArray(o.weights) || o.weights.length !== variants.length) fail(`weights must be an array of ${variants.length} numbers (one per variant), got ${describeValue(o.weights)}`);
      weights = o.weights.map((w: unknown) => {
        if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0) fail(`each weight must be a finite number > 0, got ${describeValue(w)}`);
        return w;
      });
    }
    let metrics = [...DEFAULT_METRICS];
    if (o.metrics !== undefined) {
      if (!Array.isArray(o.metrics) || o.metrics.length === 0) fail(`metrics must be a non-empty array of: ${EXPERIMENT_METRICS.join(', ')}`);
      metrics = o.metrics.map((m: unknown) => {
        if (!(EXPERIMENT_METRICS as readonly unknown[]).includes(m)) fail(`Unknown metric ${describeValue(m)}; expected one of: ${EXPERIMENT_METRICS.join(', ')}`);
        return m as ExperimentMetric;
      });
      if (new Set(metrics).size !== metrics.length) fail('metrics must be distinct');
    }
    return { name: checkedName, variants, weights, metrics };
  });
}

/** Normalised optimisation options. */
export interface CheckedOptimise {
  name: string;
  arms: string[];
  reward: RewardEvent;
  windowMs: number;
}

/**
 * @example
 * ```ts
 * checkOptimiseOptions('widget', { arms: ['grid', 'carousel'], reward: 'select_item' }).windowMs; // 1_800_000
 * ```
 */
export function checkOptimiseOptions(name: unknown, options: unknown): CheckedOptimise {
  return readPageData('invalid_argument', 'The optimise options', () => {
    const checkedName = checkName('The optimisation name', name);
    const o = plain('optimise()', options);
    only('optimise()', o, ['arms', 'reward', 'windowMinutes']);
    const arms = names('arms', o.arms);
    if (!(REWARD_EVENTS as readonly unknown[]).includes(o.reward)) fail(`reward must be one of: ${REWARD_EVENTS.join(', ')}; got ${describeValue(o.reward)}`);
    const minutes = o.windowMinutes ?? 30;
    if (typeof minutes !== 'number' || !(minutes >= 1 && minutes <= 1440)) fail(`windowMinutes must be a number from 1 to 1440, got ${describeValue(minutes)}`);
    return { name: checkedName, arms, reward: o.reward as RewardEvent, windowMs: minutes * 60_000 };
  });
}

/**
 * The index drawn from `weights` (relative, each > 0) with the uniform `u` in [0, 1). Callers pass
 * a uniform from the CSPRNG: the assignment must not be predictable from anything about the device.
 *
 * @example
 * ```ts
 * drawIndex([1, 1], 0.7); // 1
 * ```
 */
export function drawIndex(weights: readonly number[], u: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let target = u * total;
  for (let i = 0; i < weights.length; i++) {
    target -= weights[i] as number;
    if (target < 0) return i;
  }
  return weights.length - 1;
}
