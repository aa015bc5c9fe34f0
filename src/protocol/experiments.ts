/**
 * What the page, the worker, the aggregation server and the benchmark agree on about experiments
 * (A/B tests) and on-device optimisation (bandits): the page API's options and answers, the metrics,
 * the fixed layout of a device's private report, and the channels that carry it. Imports nothing.
 *
 * A device's report is a vector of small integers (0 or 1) with one row per experiment and variant:
 * `[exposed, metric₁, …, metricₘ]`. Its length is fixed by the server's registry of experiments, so
 * it says nothing by its size; a device fills only the rows of the experiments it reports.
 */

/**
 * Outcomes an experiment can measure, each from events Hearth already tracks, counted when they
 * happen within the attribution window after the device's first exposure. `revenue` is the sum of
 * `purchase` values (else price × quantity), clipped to the experiment's `revenueCap`.
 */
export const EXPERIMENT_METRICS = ['select_item', 'add_to_cart', 'begin_checkout', 'purchase', 'revenue'] as const;
export type ExperimentMetric = (typeof EXPERIMENT_METRICS)[number];

/** The default metrics of an experiment. */
export const DEFAULT_METRICS: readonly ExperimentMetric[] = ['add_to_cart', 'purchase', 'revenue'];

/** Events that can reward an arm of `optimise()`: every metric but revenue. */
export const REWARD_EVENTS = ['select_item', 'add_to_cart', 'begin_checkout', 'purchase'] as const;
export type RewardEvent = (typeof REWARD_EVENTS)[number];

/** Most variants of one experiment or arms of one optimisation. */
export const MAX_VARIANTS = 8;
/** Longest experiment, variant or arm name. */
export const MAX_EXPERIMENT_NAME = 64;
/** What a name may look like: letters, digits and `._:-`, so it is safe in markup, keys and files. */
export const EXPERIMENT_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$';

/**
 * Options of `hearth.experiment(name, options)`.
 *
 * @example
 * ```ts
 * const { variant } = await hearth.experiment('home-recs', { variants: ['model', 'bestsellers'] });
 * ```
 */
export interface ExperimentOptions {
  /** Two to eight distinct names; the first is the control. */
  variants: string[];
  /** Relative weights, one per variant (default equal); each finite and > 0. */
  weights?: number[];
  /** What the experiment measures (default `add_to_cart`, `purchase`, `revenue`); the server's registry decides what is reported. */
  metrics?: ExperimentMetric[];
}

/**
 * This device's place in an experiment, as `hearth.experiment()` answers it.
 *
 * @example
 * ```ts
 * const assignment = await hearth.experiment('home-recs', { variants: ['model', 'bestsellers'] });
 * render(assignment.variant);
 * assignment.exposed();
 * ```
 */
export interface ExperimentAssignment {
  readonly name: string;
  /** The variant to show. The control (first variant) when the device is not enrolled. */
  readonly variant: string;
  /**
   * True when the device takes part: the shopper granted `personalise` (so the assignment can be
   * stored) and storage works. A device that is not enrolled is shown the control and counted nowhere.
   */
  readonly enrolled: boolean;
  /** Records that the page showed the variant (the first call counts); never throws. */
  exposed(): Promise<void>;
}

/**
 * Options of `hearth.optimise(name, options)`.
 *
 * @example
 * ```ts
 * const choice = await hearth.optimise('pdp-widget', { arms: ['carousel', 'grid'], reward: 'select_item' });
 * ```
 */
export interface OptimiseOptions {
  /** Two to eight distinct arm names. */
  arms: string[];
  /** The event that rewards the arm shown, when it follows within `windowMinutes`. */
  reward: RewardEvent;
  /** Minutes after showing an arm in which its reward counts (default 30, 1–1,440). */
  windowMinutes?: number;
}

/** What `hearth.optimise()` answers. */
export interface OptimiseChoice {
  readonly name: string;
  /** The arm Thompson sampling chose for this showing. */
  readonly arm: string;
  /** True when this device learns from its showings (the shopper granted `personalise`). */
  readonly learning: boolean;
  /** Records that the page showed the arm; a reward event within the window then counts for it. */
  exposed(): Promise<void>;
}

/** How a device's report travelled. */
export type ReportChannel = 'secure' | 'central' | 'randomized-response';

/** What the device knows and did about one experiment or optimisation (`hearth.experiments.list()`). */
export interface ExperimentRecordView {
  name: string;
  kind: 'experiment' | 'bandit';
  /** The variant (experiment) or the arm first shown (bandit); null when none yet. */
  variant: string | null;
  assignedAt: number | null;
  exposedAt: number | null;
  /** Per metric: whether it happened within the window so far (revenue: the clipped sum is not shown). */
  outcome: Partial<Record<ExperimentMetric, boolean>> | null;
  /** Thompson sampling's counts on this device, per arm: [successes, failures]. */
  local?: Record<string, [number, number]>;
  /** Set once the device has reported: how, and the ε it spent on this experiment. */
  report: { at: number; channel: ReportChannel; epsilon: number; roundId: number | null } | null;
}

/** The outcome of `hearth.experiments.report()` (also run at idle time). */
export interface ExperimentReportResult {
  /** `waiting`: the device joined a secure round's cohort and sends its masked report on a later run. */
  status: 'reported' | 'waiting' | 'skipped' | 'missed' | 'rejected';
  reason?: string;
  /** Names of the experiments reported now, with the channel each took. */
  reported?: { name: string; channel: ReportChannel; epsilon: number }[];
}

/**
 * One experiment as the server's registry declares it. `kind: 'bandit'` is an `optimise()`: its
 * variants are the arms, its one metric the reward, and a device reports its first showing.
 */
export interface RegistryExperiment {
  name: string;
  kind: 'experiment' | 'bandit';
  variants: string[];
  metrics: ExperimentMetric[];
  /** Hours after the first exposure in which conversions count; a device reports once it has passed. */
  windowHours: number;
  /** Revenue per shopper is clipped to this (in the shop's currency) before it is counted. */
  revenueCap: number;
  /** The privacy budget of the experiment: ε (and δ) for any one shopper's data in it. */
  epsilon: number;
  delta: number;
}

/** A registry experiment with its place in the report vector and its privacy mechanisms. */
export interface LayoutExperiment extends RegistryExperiment {
  /** Index of the first cell; the rows of its variants follow one another. */
  offset: number;
  /** Cells per variant row: 1 (exposed) + the metrics. */
  rowCells: number;
  /** σ of the Gaussian noise each round adds to every cell of this experiment (central and secure rounds). */
  sigma: number;
  /** Total Skellam parameter μ of a secure round's noise on every cell (variance 2μ), added in shares μ/n by its n cohort members. */
  secureMu: number;
  /** The randomized-response fallback: k-ary RR ("krr") or optimised unary encoding ("oue") over the outcome categories, at ε. */
  rr: { mechanism: 'krr' | 'oue'; epsilon: number; categories: number };
}

export interface ReportLayout {
  /** Cells in all. */
  length: number;
  experiments: LayoutExperiment[];
}

/** Shop-wide Beta priors of a bandit's arms, from the private aggregate: `[alpha, beta]` per arm. */
export type BanditPriors = Record<string, Record<string, [number, number]>>;

/** An estimate with its standard error and 95 % interval (DP noise included). */
export interface Estimate {
  estimate: number;
  se: number;
  ci95: [number, number];
}

/** One variant against the control on one metric. */
export interface ExperimentComparison {
  variant: string;
  metric: ExperimentMetric;
  /** p_variant − p_control (for revenue: mean revenue per shopper, in the shop's currency). */
  difference: Estimate;
  /** p_variant / p_control − 1 (Fieller's interval; the upper end is Infinity while the control's rate is not clearly above 0). */
  uplift: Estimate;
  /** The always-valid test (mSPRT) over every release so far: its p-value and confidence sequence on the difference. */
  sequential: { pValue: number; ci: [number, number]; looks: number; significant: boolean };
}

/** What the server (and `hearth-server report`) says about an experiment. */
export interface ExperimentResults {
  name: string;
  kind: 'experiment' | 'bandit';
  variants: string[];
  metrics: ExperimentMetric[];
  windowHours: number;
  revenueCap: number;
  epsilon: number;
  delta: number;
  /** When the last release was made (ms), or null before any. */
  asOf: number | null;
  /** Releases so far (rounds that closed). */
  releases: number;
  /** Reports received in all, by channel (the server counts reports, not shoppers). */
  reports: { vector: number; randomizedResponse: number };
  /** Per variant: estimated exposed shoppers, and per metric the rate (revenue: per shopper, in currency). */
  perVariant: { variant: string; exposed: Estimate; rates: Partial<Record<ExperimentMetric, Estimate>> }[];
  comparisons: ExperimentComparison[];
  /** After each release: exposed shoppers and rates per variant, and the sequential p-value per comparison (for charts). */
  history: { at: number; exposed: number[]; rates: Partial<Record<ExperimentMetric, Estimate[]>>; pValues: Record<string, number> }[];
  /** Parameters of the sequential test. */
  test: { alpha: number; tau: number; minConversions: number };
}
