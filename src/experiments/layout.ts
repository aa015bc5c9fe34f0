/**
 * The fixed layout of a device's private report and the two shapes one device's data takes in it:
 *
 * - a **row** per variant, `[exposed, metric₁, …, metricₘ]` of 0/1 cells, for the rounds that sum
 *   vectors (secure aggregation, or central DP): a device sets the row of its variant and nothing
 *   else of that experiment, so its contribution to an experiment has L2 norm ≤ √(1 + m);
 * - a **category** `v · 2^m + Σ_j bit_j · 2^j` of the `k · 2^m` possible outcomes, for randomized
 *   response, which privatises one categorical value.
 *
 * A bandit (`optimise()`) is an experiment whose variants are the arms and whose one metric is the
 * reward: a device reports the arm it was shown first and whether that showing was rewarded.
 */
import type { ExperimentMetric, LayoutExperiment, RegistryExperiment, ReportLayout } from '../protocol/experiments.js';

/** What a device observed in one experiment, ready to report. */
export interface DeviceOutcome {
  /** Index of the variant (or first arm) in the registry's list. */
  variant: number;
  /** One bit per registry metric, in the registry's order (revenue already rounded to a bit). */
  bits: boolean[];
}

/** L1 and L2 sensitivity of one device's rows of an experiment (0/1 cells, one row). */
export function sensitivity(experiment: Pick<RegistryExperiment, 'metrics'>): { l1: number; l2: number } {
  const cells = 1 + experiment.metrics.length;
  return { l1: cells, l2: Math.sqrt(cells) };
}

/** Outcome categories of an experiment under randomized response: k variants × 2^m metric bits. */
export function categoryCount(experiment: Pick<RegistryExperiment, 'variants' | 'metrics'>): number {
  return experiment.variants.length * 2 ** experiment.metrics.length;
}

/** The category of an outcome, for an experiment of `metricCount` metrics. */
export function categoryOf(metricCount: number, outcome: DeviceOutcome): number {
  let bits = 0;
  for (let j = 0; j < metricCount; j++) if (outcome.bits[j]) bits |= 1 << j;
  return outcome.variant * 2 ** metricCount + bits;
}

/** The outcome a category stands for, for an experiment of `metricCount` metrics. */
export function outcomeOfCategory(metricCount: number, category: number): DeviceOutcome {
  const variant = Math.floor(category / 2 ** metricCount);
  const rest = category % 2 ** metricCount;
  return { variant, bits: Array.from({ length: metricCount }, (_, j) => (rest & (1 << j)) !== 0) };
}

/**
 * The layout of `registry`: offsets in registry order, and each experiment's calibrated noise and
 * randomized-response mechanism (computed by the caller from the experiment's ε and δ).
 *
 * @example
 * ```ts
 * const layout = buildLayout(registry, (e) => calibrate(e));
 * ```
 */
export function buildLayout(registry: readonly RegistryExperiment[], calibrate: (experiment: RegistryExperiment) => Pick<LayoutExperiment, 'sigma' | 'secureMu' | 'rr'>): ReportLayout {
  let offset = 0;
  const experiments = registry.map((experiment): LayoutExperiment => {
    const rowCells = 1 + experiment.metrics.length;
    const entry: LayoutExperiment = { ...experiment, variants: [...experiment.variants], metrics: [...experiment.metrics], offset, rowCells, ...calibrate(experiment) };
    offset += rowCells * experiment.variants.length;
    return entry;
  });
  return { length: offset, experiments };
}

/** Index of the cell of `variant`'s exposure (`metric` undefined) or of one of its metrics. */
export function cellIndex(experiment: Pick<LayoutExperiment, 'offset' | 'rowCells' | 'metrics'>, variant: number, metric?: ExperimentMetric): number {
  const base = experiment.offset + variant * experiment.rowCells;
  return metric === undefined ? base : base + 1 + experiment.metrics.indexOf(metric);
}

/**
 * Writes `outcome` into the row of its variant in `vector` (a device's report, all zeros elsewhere).
 *
 * @example
 * ```ts
 * const vector = new Uint8Array(layout.length);
 * writeOutcome(vector, layout.experiments[0], { variant: 1, bits: [true, false, false] });
 * ```
 */
export function writeOutcome(vector: Uint8Array | Int32Array | Float64Array, experiment: LayoutExperiment, outcome: DeviceOutcome): void {
  const base = cellIndex(experiment, outcome.variant);
  vector[base] = 1;
  experiment.metrics.forEach((_, j) => {
    vector[base + 1 + j] = outcome.bits[j] ? 1 : 0;
  });
}

/**
 * Why `cells` is not a report a device can honestly send under `layout`, or undefined. Every cell
 * is 0 or 1; per experiment at most one row is set, and a row's metric cells only with its exposure
 * cell. This bounds what one report can move, which the privacy calibration relies on.
 */
export function vectorProblem(layout: ReportLayout, cells: ArrayLike<number>): string | undefined {
  if (cells.length !== layout.length) return `a report has ${layout.length} cells, got ${cells.length}`;
  for (let i = 0; i < cells.length; i++) if (cells[i] !== 0 && cells[i] !== 1) return `cell ${i} is not 0 or 1`;
  for (const experiment of layout.experiments) {
    let rows = 0;
    for (let v = 0; v < experiment.variants.length; v++) {
      const base = experiment.offset + v * experiment.rowCells;
      const exposed = cells[base] === 1;
      if (exposed) rows++;
      for (let j = 1; j < experiment.rowCells; j++) if (cells[base + j] === 1 && !exposed) return `experiment "${experiment.name}": a metric without an exposure`;
    }
    if (rows > 1) return `experiment "${experiment.name}": more than one variant in one report`;
  }
  return undefined;
}

/** Same registry entries (what a layout's cells mean), ignoring calibration. */
export function sameRegistry(a: readonly RegistryExperiment[], b: readonly RegistryExperiment[]): boolean {
  const key = (list: readonly RegistryExperiment[]): string => JSON.stringify(list.map((e) => [e.name, e.kind, e.variants, e.metrics]));
  return key(a) === key(b);
}
