/**
 * An experiment's results from its releases: each release (a closed round) adds noisy vector sums
 * and randomized-response counts; the results are the cumulative totals after the last one, and
 * the sequential test looks after every one of them.
 */
import type { ExperimentComparison, ExperimentResults, LayoutExperiment, RegistryExperiment, Estimate } from '../../protocol/experiments.js';
import { compare, emptyTotals, estimatedCounts, initialSequentialState, look, rate, Z95, type ExperimentTotals, type SequentialOptions } from '../../experiments/statistics.js';
import { rrParams } from '../../experiments/randomized-response.js';
import { priorFromCounts } from '../../experiments/thompson.js';

/** What one closed round added to one experiment. */
export interface Release {
  at: number;
  roundId: number;
  /** Vector reports in the round that carried this experiment's cells (all of the round's, in central rounds). */
  vectorReports: number;
  /** Noisy sums of this experiment's cells, variant rows in order; empty when the round had no vector part. */
  cells: number[];
  /** Variance of the noise in each of `cells`. */
  noiseVariance: number[];
  /** Randomized-response reports of this experiment in the round, and their category (krr) or bit (oue) counts. */
  rrN: number;
  rrCounts: number[];
}

/** An experiment's stored data: its definition and calibration when first seen, and its releases. */
export interface ExperimentData {
  experiment: LayoutExperiment;
  releases: Release[];
}

/** Adds `release` into `totals` (in place). */
export function accumulate(totals: ExperimentTotals, experiment: LayoutExperiment, release: Release): void {
  release.cells.forEach((x, i) => (totals.vector.cells[i] = (totals.vector.cells[i] ?? 0) + x));
  release.noiseVariance.forEach((x, i) => (totals.vector.noiseVariance[i] = (totals.vector.noiseVariance[i] ?? 0) + x));
  if (release.rrN > 0) {
    totals.rr ??= { params: rrParams(experiment.rr.mechanism, experiment.rr.epsilon, experiment.rr.categories), tally: { n: 0, counts: new Array<number>(experiment.rr.categories).fill(0) } };
    totals.rr.tally.n += release.rrN;
    release.rrCounts.forEach((x, i) => (totals.rr!.tally.counts[i] = (totals.rr!.tally.counts[i] ?? 0) + x));
  }
}

/** The cumulative totals after every release. */
export function totalsOf(data: ExperimentData): ExperimentTotals {
  const totals = emptyTotals(data.experiment.variants.length, data.experiment.metrics.length);
  for (const release of data.releases) accumulate(totals, data.experiment, release);
  return totals;
}

/** Revenue is counted as bits of revenue / cap: its rates are scaled back to currency. */
function scaleOf(experiment: RegistryExperiment, metric: number): number {
  return experiment.metrics[metric] === 'revenue' ? experiment.revenueCap : 1;
}

function scaled(e: Estimate, k: number): Estimate {
  return { estimate: e.estimate * k, se: e.se * k, ci95: [e.ci95[0] * k, e.ci95[1] * k] };
}

/**
 * @example
 * ```ts
 * const results = experimentResults(data, { alpha: 0.05, tau: 0.1 });
 * results.comparisons[0]?.sequential.pValue;
 * ```
 */
export function experimentResults(data: ExperimentData, options: SequentialOptions = {}): ExperimentResults {
  const e = data.experiment;
  const test = { alpha: options.alpha ?? 0.05, tau: options.tau ?? 0.1, minConversions: options.minConversions ?? 20 };
  const k = e.variants.length;
  const totals = emptyTotals(k, e.metrics.length);
  const states = new Map<string, ReturnType<typeof initialSequentialState>>();
  const history: ExperimentResults['history'] = [];
  let vectorReports = 0;
  let rrReports = 0;
  for (const release of data.releases) {
    accumulate(totals, e, release);
    vectorReports += release.vectorReports;
    rrReports += release.rrN;
    const { exposed, conversions } = estimatedCounts(totals);
    const pValues: Record<string, number> = {};
    const rates: ExperimentResults['history'][number]['rates'] = {};
    e.metrics.forEach((metric, j) => {
      rates[metric] = e.variants.map((_, v) => scaled(rate(totals, v, j), scaleOf(e, j)));
      for (let v = 1; v < k; v++) {
        const key = `${e.variants[v]}:${metric}`;
        const state = states.get(key) ?? initialSequentialState();
        const next = look(state, compare(totals, 0, v, j), { control: (conversions[0] as number[])[j] as number, treatment: (conversions[v] as number[])[j] as number }, test);
        states.set(key, next);
        pValues[key] = next.pValue;
      }
    });
    history.push({ at: release.at, exposed, rates, pValues });
  }
  const { exposed } = estimatedCounts(totals);
  const perVariant = e.variants.map((variant, v) => {
    // The exposed count's own uncertainty: the noise of its cells (and the RR estimate's).
    const n = exposed[v] as number;
    const rates: Partial<Record<(typeof e.metrics)[number], Estimate>> = {};
    e.metrics.forEach((metric, j) => (rates[metric] = scaled(rate(totals, v, j), scaleOf(e, j))));
    const noise = Math.sqrt(totals.vector.noiseVariance[v * (1 + e.metrics.length)] ?? 0);
    return { variant, exposed: { estimate: n, se: noise, ci95: [n - Z95 * noise, n + Z95 * noise] as [number, number] }, rates };
  });
  const comparisons: ExperimentComparison[] = [];
  for (let v = 1; v < k; v++) {
    e.metrics.forEach((metric, j) => {
      const c = compare(totals, 0, v, j);
      const state = states.get(`${e.variants[v]}:${metric}`) ?? initialSequentialState();
      comparisons.push({
        variant: e.variants[v] as string,
        metric,
        difference: scaled(c.difference, scaleOf(e, j)),
        uplift: c.uplift,
        sequential: { ...state, ci: [state.ci[0] * scaleOf(e, j), state.ci[1] * scaleOf(e, j)] },
      });
    });
  }
  const last = data.releases[data.releases.length - 1];
  return {
    name: e.name,
    kind: e.kind,
    variants: [...e.variants],
    metrics: [...e.metrics],
    windowHours: e.windowHours,
    revenueCap: e.revenueCap,
    epsilon: e.epsilon,
    delta: e.delta,
    asOf: last ? last.at : null,
    releases: data.releases.length,
    reports: { vector: vectorReports, randomizedResponse: rrReports },
    perVariant,
    comparisons,
    history,
    test,
  };
}

/** A bandit's shop-wide priors per arm, from its cumulative totals (showings and rewards). */
export function banditPriors(data: ExperimentData): Record<string, [number, number]> {
  const { exposed, conversions } = estimatedCounts(totalsOf(data));
  return Object.fromEntries(data.experiment.variants.map((arm, v) => [arm, priorFromCounts(exposed[v] as number, (conversions[v] as number[])[0] as number)]));
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(2)} %` : '–');
const num = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');

/**
 * The results as text for the CLI (`hearth-server report <experiment>`).
 *
 * @example
 * ```ts
 * process.stdout.write(formatResults(results));
 * ```
 */
export function formatResults(r: ExperimentResults): string {
  const lines: string[] = [];
  lines.push(`${r.kind} "${r.name}": ${r.variants.join(' vs ')} (control: ${r.variants[0]}); window ${r.windowHours} h; ε ${r.epsilon}, δ ${r.delta} per shopper`);
  lines.push(`releases ${r.releases}${r.asOf ? `, last ${new Date(r.asOf).toISOString()}` : ''}; reports: ${r.reports.vector} in rounds, ${r.reports.randomizedResponse} by randomized response`);
  lines.push('');
  const header = ['variant', 'exposed (est.)', ...r.metrics.map((m) => `${m} (95 % CI)`)];
  const rows = r.perVariant.map((p) => [
    p.variant,
    num(p.exposed.estimate, 0),
    ...r.metrics.map((m) => {
      const e = p.rates[m];
      if (!e) return '–';
      return m === 'revenue' ? `${num(e.estimate)} [${num(e.ci95[0])}, ${num(e.ci95[1])}]` : `${pct(e.estimate)} [${pct(e.ci95[0])}, ${pct(e.ci95[1])}]`;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ');
  lines.push(line(header), ...rows.map(line), '');
  for (const c of r.comparisons) {
    const unit = c.metric === 'revenue' ? '' : ' pp';
    const k = c.metric === 'revenue' ? 1 : 100;
    lines.push(
      `${c.variant} vs ${r.variants[0]}, ${c.metric}: difference ${num(k * c.difference.estimate)}${unit} [${num(k * c.difference.ci95[0])}, ${num(k * c.difference.ci95[1])}], ` +
        `uplift ${pct(c.uplift.estimate)} [${pct(c.uplift.ci95[0])}, ${pct(c.uplift.ci95[1])}]; ` +
        `always-valid p ${c.sequential.pValue < 1e-4 ? '< 0.0001' : num(c.sequential.pValue, 4)} over ${c.sequential.looks} looks${c.sequential.significant ? ' — significant' : ''}` +
        (c.sequential.looks > 0 ? `, confidence sequence on the difference [${num(k * c.sequential.ci[0])}, ${num(k * c.sequential.ci[1])}]${unit}` : ''),
    );
  }
  lines.push('', `Intervals include the DP noise. Sequential test: mSPRT, α ${r.test.alpha}, τ ${r.test.tau} × the pooled rate on p_variant − p_control; valid at any number of looks.`);
  return `${lines.join('\n')}\n`;
}
