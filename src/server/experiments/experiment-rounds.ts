/**
 * The server's side of private experiment reports, independent of HTTP: the registry and the
 * layout of the report vector, the open report round, and its release.
 *
 * A round collects reports until it has `minClients` of them (or its deadline passes with at least
 * one), then releases, for every experiment, the sum of the round's vectors over its cells plus
 * Gaussian noise of σ = z·Δ₂ per cell (central DP: the server sees each vector, keeps it only until
 * the release, and never publishes anything but the noisy sums), and the tally of the round's
 * randomized-response reports. Releases accumulate per experiment; results and the sequential test
 * are computed from them (`results.ts`). Every change of state runs in one queue.
 */
import { createHash } from 'node:crypto';
import type { BanditPriors, ExperimentResults, LayoutExperiment, RegistryExperiment, ReportLayout } from '../../protocol/experiments.js';
import type { CohortKey, ExperimentsInfo, MaskedReport, RrReportBody, VectorReport } from '../../protocol/experiments-http.js';
import { decodeWords } from '../../federated/secure-aggregation.js';
import { buildLayout, vectorProblem } from '../../experiments/layout.js';
import type { SequentialOptions } from '../../experiments/statistics.js';
import { calibrate } from '../../federated/experiment-privacy.js';
import { gaussianSampler, secureRandom, type RandomSource } from '../../shared/random.js';
import type { CohortState, ExperimentStore, ExperimentsState, ReportKind } from './experiment-store.js';
import { UploadRejection } from '../coordinator.js';
import { banditPriors, experimentResults, type ExperimentData, type Release } from './results.js';

export type ExperimentChannel = 'central' | 'secure' | 'local';

export interface ExperimentRoundsOptions {
  store: ExperimentStore;
  registry: RegistryExperiment[];
  /**
   * `central`: devices send vectors, the server adds the noise; `secure`: a cohort of `minClients`
   * devices sends masked vectors with Skellam noise shares, and the server learns only their sum;
   * `local`: randomized response only.
   */
  channel: ExperimentChannel;
  /** Reports a round needs before it releases (secure rounds: the cohort's size, at least 2). */
  minClients: number;
  /** A round with at least one report releases at this deadline even below `minClients` (default 24 h). */
  roundDurationMs?: number;
  /** Failed attempts after which devices fall back to randomized response (default 2). */
  fallbackAfter?: number;
  /** The sequential test's parameters. */
  test?: SequentialOptions;
  random?: RandomSource;
  now?: () => number;
  log?: (message: string, detail?: Record<string, unknown>) => void;
}

/** A refused report: the HTTP status and the JSON error code (answered like a refused model update). */
export class ExperimentRejection extends UploadRejection {}

const DEFINING = ['kind', 'variants', 'metrics', 'windowHours', 'revenueCap', 'epsilon', 'delta'] as const;

export class ExperimentRounds {
  private state!: ExperimentsState;
  private layoutValue!: ReportLayout;
  private layoutIdValue = '';
  private pending = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly random: RandomSource;
  private readonly now: () => number;
  readonly counters = { accepted: 0, rejected: new Map<string, number>(), releases: 0 };

  private constructor(readonly options: ExperimentRoundsOptions) {
    this.random = options.random ?? secureRandom();
    this.now = options.now ?? Date.now;
  }

  /** Opens the store, checks the registry against what was counted before, restores the open round. */
  static async open(options: ExperimentRoundsOptions): Promise<ExperimentRounds> {
    const rounds = new ExperimentRounds(options);
    await rounds.restore();
    return rounds;
  }

  private async restore(): Promise<void> {
    const { store, registry } = this.options;
    const state = (await store.load()) ?? { schema: 1, roundId: 1, roundOpenedAt: this.now(), registry: [], data: {} };
    for (const experiment of registry) {
      const known = state.data[experiment.name]?.experiment;
      if (!known) continue;
      for (const key of DEFINING) {
        if (JSON.stringify(known[key]) !== JSON.stringify(experiment[key])) {
          throw new TypeError(`hearth server: experiments: "${experiment.name}" changed its ${key} since it started counting; give the changed experiment a new name`);
        }
      }
    }
    // An experiment keeps the calibration it started with: devices that reported spent ε under it.
    this.layoutValue = buildLayout(registry, (e) => {
      const known = state.data[e.name]?.experiment;
      return known ? { sigma: known.sigma, secureMu: known.secureMu ?? calibrate(e).secureMu, rr: { ...known.rr } } : calibrate(e);
    });
    this.layoutIdValue = createHash('sha256').update(JSON.stringify(this.layoutValue)).digest('hex').slice(0, 16);
    for (const experiment of this.layoutValue.experiments) state.data[experiment.name] ??= { experiment, releases: [] };
    this.state = { ...state, registry: registry.map((e) => ({ ...e })) };
    await store.commit(this.state);
    this.pending = (await store.listReports(this.state.roundId)).length;
    this.arm();
    if (this.pending >= this.options.minClients) this.closeSoon();
  }

  get layout(): ReportLayout {
    return this.layoutValue;
  }

  get layoutId(): string {
    return this.layoutIdValue;
  }

  get roundId(): number {
    return this.state.roundId;
  }

  /** Reports waiting in the open round. */
  get waiting(): number {
    return this.pending;
  }

  /** What `GET /v1/experiments` answers. */
  info(): ExperimentsInfo {
    return {
      roundId: this.state.roundId,
      channel: this.options.channel,
      layoutId: this.layoutIdValue,
      layout: this.layoutValue,
      minClients: this.options.minClients,
      fallbackAfter: this.options.fallbackAfter ?? 2,
      priors: this.priors(),
      ...(this.options.channel === 'secure' ? { secure: { phase: this.cohort().phase, cohortSize: this.cohortSize, keys: this.cohort().phase === 'submit' ? this.cohort().keys : [] } } : {}),
    };
  }

  private get cohortSize(): number {
    return Math.max(2, this.options.minClients);
  }

  /** The open round's cohort (secure rounds). */
  private cohort(): CohortState {
    if (this.state.cohort?.roundId !== this.state.roundId) this.state = { ...this.state, cohort: { roundId: this.state.roundId, phase: 'enrol', phaseAt: this.now(), keys: [] } };
    return this.state.cohort as CohortState;
  }

  /** A device's public key for the open round's cohort (secure rounds). */
  submitKey(roundId: number, body: CohortKey): Promise<{ roundId: number; reports: number }> {
    if (this.options.channel !== 'secure') this.reject(409, 'wrong_channel', 'this server has no secure rounds');
    if (body.layoutId !== this.layoutIdValue) this.reject(409, 'wrong_layout', 'the experiments registry changed; fetch /v1/experiments again');
    return this.exclusive(async () => {
      if (roundId !== this.state.roundId) this.reject(409, 'wrong_round', `round ${roundId} is not open; the current round is ${this.state.roundId}`);
      const cohort = this.cohort();
      if (cohort.phase !== 'enrol') this.reject(409, 'cohort_closed', 'this round’s cohort is full; join the next round');
      if (cohort.keys.some((k) => k.keyId === body.keyId || k.publicKey === body.publicKey)) this.reject(409, 'replay', 'this key is already in the cohort');
      const keys = [...cohort.keys, { keyId: body.keyId, publicKey: body.publicKey }];
      const full = keys.length >= this.cohortSize;
      const next: ExperimentsState = { ...this.state, cohort: { ...cohort, keys, ...(full ? { phase: 'submit' as const, phaseAt: this.now() } : {}) } };
      await this.options.store.commit(next);
      this.state = next;
      this.counters.accepted++;
      if (full) this.arm();
      return { roundId, reports: keys.length };
    });
  }

  /** A cohort member's masked vector (secure rounds); the round releases when every member has sent one. */
  submitMasked(roundId: number, body: MaskedReport): Promise<{ roundId: number; reports: number }> {
    if (this.options.channel !== 'secure') this.reject(409, 'wrong_channel', 'this server has no secure rounds');
    if (body.layoutId !== this.layoutIdValue) this.reject(409, 'wrong_layout', 'the experiments registry changed; fetch /v1/experiments again');
    if (!decodeWords(body.masked, this.layoutValue.length)) this.reject(422, 'bad_report', `a masked report is ${this.layoutValue.length} uint32 words in base64url`);
    return this.exclusive(async () => {
      if (roundId !== this.state.roundId) this.reject(409, 'wrong_round', `round ${roundId} is not open; the current round is ${this.state.roundId}`);
      const cohort = this.cohort();
      if (cohort.phase !== 'submit' || !cohort.keys.some((k) => k.keyId === body.keyId)) this.reject(403, 'not_in_cohort', 'this key is not in the round’s cohort');
      const stored = await this.options.store.putReport(roundId, 'm', body.keyId, body.masked);
      if (stored === 'duplicate') this.reject(409, 'replay', `the masked report of ${body.keyId} was already accepted`);
      this.counters.accepted++;
      const masked = (await this.options.store.listReports(roundId)).filter((r) => r.kind === 'm').length;
      if (masked >= cohort.keys.length) this.closeSoon();
      return { roundId, reports: masked };
    });
  }

  /** Shop-wide priors of every bandit of the registry. */
  priors(): BanditPriors {
    const out: BanditPriors = {};
    for (const e of this.layoutValue.experiments) {
      const data = this.state.data[e.name];
      if (e.kind === 'bandit' && data) out[e.name] = banditPriors(data);
    }
    return out;
  }

  /** Names of every experiment with data (current and past). */
  names(): string[] {
    return Object.keys(this.state.data).sort();
  }

  results(name: string): ExperimentResults | undefined {
    const data = this.state.data[name];
    return data ? experimentResults(data, this.options.test) : undefined;
  }

  countRejection(code: string): void {
    this.counters.rejected.set(code, (this.counters.rejected.get(code) ?? 0) + 1);
  }

  private reject(status: number, code: string, message: string): never {
    this.countRejection(code);
    throw new ExperimentRejection(status, code, message);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** One device's vector for round `roundId` (central rounds). Resolves once it is on disk. */
  submitVector(roundId: number, report: VectorReport): Promise<{ roundId: number; reports: number }> {
    if (this.options.channel !== 'central') this.reject(409, 'wrong_channel', 'this server takes experiment reports by randomized response only');
    if (report.layoutId !== this.layoutIdValue) this.reject(409, 'wrong_layout', 'the experiments registry changed; fetch /v1/experiments again');
    const cells = Array.from(report.cells, (c) => (c === '1' ? 1 : 0));
    const problem = vectorProblem(this.layoutValue, cells);
    if (problem) this.reject(422, 'bad_report', problem);
    return this.store(roundId, 'v', report.reportId, report.cells);
  }

  /** One randomized-response report; it joins the open round. */
  submitRr(report: RrReportBody): Promise<{ roundId: number; reports: number }> {
    if (report.layoutId !== this.layoutIdValue) this.reject(409, 'wrong_layout', 'the experiments registry changed; fetch /v1/experiments again');
    const experiment = this.layoutValue.experiments.find((e) => e.name === report.experiment);
    if (!experiment) this.reject(404, 'unknown_experiment', `no experiment "${report.experiment}" in the registry`);
    if (report.mechanism !== experiment.rr.mechanism) this.reject(422, 'bad_report', `experiment "${experiment.name}" takes ${experiment.rr.mechanism} reports`);
    const d = experiment.rr.categories;
    if (
      report.mechanism === 'krr'
        ? !(report.value !== undefined && report.bits === undefined && report.value < d)
        : !(report.bits !== undefined && report.value === undefined && report.bits.length === d)
    ) {
      this.reject(422, 'bad_report', report.mechanism === 'krr' ? `a krr report is one value in 0–${d - 1}` : `an oue report is ${d} bits`);
    }
    return this.store(this.state.roundId, 'r', report.reportId, JSON.stringify({ experiment: report.experiment, mechanism: report.mechanism, value: report.value, bits: report.bits }));
  }

  private store(roundId: number, kind: ReportKind, reportId: string, body: string): Promise<{ roundId: number; reports: number }> {
    return this.exclusive(async () => {
      if (roundId !== this.state.roundId) this.reject(409, 'wrong_round', `round ${roundId} is not open; the current round is ${this.state.roundId}`);
      const stored = await this.options.store.putReport(roundId, kind, reportId, body);
      if (stored === 'duplicate') this.reject(409, 'replay', `report ${reportId} was already accepted in this round`);
      this.pending++;
      this.counters.accepted++;
      // Secure rounds release when their cohort completes; randomized-response reports wait for it.
      if (this.pending >= this.options.minClients && this.options.channel !== 'secure') this.closeSoon();
      return { roundId, reports: this.pending };
    });
  }

  private closing: Promise<void> = Promise.resolve();

  private closeSoon(): void {
    const roundId = this.state.roundId;
    this.closing = this.exclusive(async () => {
      if (this.state.roundId !== roundId) return;
      if (this.options.channel === 'secure') {
        const cohort = this.cohort();
        const masked = (await this.options.store.listReports(roundId)).filter((r) => r.kind === 'm').length;
        const complete = cohort.phase === 'submit' && masked >= cohort.keys.length;
        const due = this.now() >= cohort.phaseAt + this.duration();
        if (!complete && cohort.phase === 'enrol' && due && cohort.keys.length >= 2) {
          // The enrolment deadline: the cohort is what enrolled (each member's noise share follows its size).
          const next: ExperimentsState = { ...this.state, cohort: { ...cohort, phase: 'submit', phaseAt: this.now() } };
          await this.options.store.commit(next);
          this.state = next;
          this.arm();
          return;
        }
        // An incomplete cohort at its deadline is abandoned: its masked reports cannot be unmasked.
        if (complete || (due && (cohort.phase === 'submit' || this.pending > 0))) await this.release();
        else {
          // Still enrolling past its deadline with fewer than two keys: the enrolment goes on for another period.
          if (due) this.state = { ...this.state, cohort: { ...cohort, phaseAt: this.now() } };
          this.arm();
        }
        return;
      }
      if (this.pending > 0) await this.release();
    }).catch((error: unknown) => this.options.log?.('experiments release failed', { error: String(error) }));
  }

  private duration(): number {
    return this.options.roundDurationMs ?? 24 * 3600_000;
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const duration = this.duration();
    const from = this.options.channel === 'secure' && this.state.cohort?.roundId === this.state.roundId ? this.state.cohort.phaseAt : this.state.roundOpenedAt;
    const due = Math.max(0, from + duration - this.now());
    this.timer = setTimeout(() => this.closeSoon(), Math.min(due, 2 ** 31 - 1));
    this.timer.unref?.();
  }

  /** Releases the open round into every experiment and opens the next. Runs inside `exclusive`. */
  private async release(): Promise<void> {
    const { store } = this.options;
    const roundId = this.state.roundId;
    const at = this.now();
    const sums = new Float64Array(this.layoutValue.length);
    let vectors = 0;
    const maskedSum = new Uint32Array(this.layoutValue.length);
    let maskedCount = 0;
    const cohort = this.options.channel === 'secure' ? this.cohort() : undefined;
    const rr = new Map<string, { n: number; counts: number[] }>();
    for (const { kind, reportId } of await store.listReports(roundId)) {
      const body = await store.readReport(roundId, kind, reportId);
      if (kind === 'v') {
        for (let i = 0; i < body.length && i < sums.length; i++) if (body.charCodeAt(i) === 49) sums[i] = (sums[i] as number) + 1;
        vectors++;
        continue;
      }
      if (kind === 'm') {
        const words = decodeWords(body, maskedSum.length);
        if (!words) continue;
        for (let i = 0; i < words.length; i++) maskedSum[i] = ((maskedSum[i] as number) + (words[i] as number)) >>> 0;
        maskedCount++;
        continue;
      }
      const report = JSON.parse(body) as { experiment: string; mechanism: 'krr' | 'oue'; value?: number; bits?: string };
      const experiment = this.layoutValue.experiments.find((e) => e.name === report.experiment);
      if (!experiment) continue;
      const tally = rr.get(experiment.name) ?? { n: 0, counts: new Array<number>(experiment.rr.categories).fill(0) };
      tally.n++;
      if (report.mechanism === 'krr') tally.counts[report.value as number] = (tally.counts[report.value as number] ?? 0) + 1;
      else Array.from(report.bits ?? '').forEach((bit, j) => (tally.counts[j] = (tally.counts[j] ?? 0) + (bit === '1' ? 1 : 0)));
      rr.set(experiment.name, tally);
    }
    const normal = gaussianSampler(this.random);
    const data = { ...this.state.data };
    for (const experiment of this.layoutValue.experiments) {
      const size = experiment.rowCells * experiment.variants.length;
      const release: Release = { at, roundId, vectorReports: vectors, cells: [], noiseVariance: [], rrN: 0, rrCounts: [] };
      if (vectors > 0) {
        // round() of a Gaussian-noised integer sum is post-processing: integer releases with no
        // floating-point low bits to read the data from (Mironov, CCS 2012), variance σ² + 1/12.
        release.cells = Array.from({ length: size }, (_, i) => Math.round((sums[experiment.offset + i] as number) + experiment.sigma * normal()));
        release.noiseVariance = new Array<number>(size).fill(experiment.sigma * experiment.sigma + 1 / 12);
      }
      if (cohort && maskedCount === cohort.keys.length && maskedCount > 0) {
        // The masks cancelled: each cell is Σ x + Σ Skellam shares (mod 2³², read as a signed sum).
        release.vectorReports = maskedCount;
        release.cells = Array.from({ length: size }, (_, i) => (maskedSum[experiment.offset + i] as number) | 0);
        release.noiseVariance = new Array<number>(size).fill(2 * experiment.secureMu);
      }
      const tally = rr.get(experiment.name);
      if (tally) {
        release.rrN = tally.n;
        release.rrCounts = tally.counts;
      }
      if (release.cells.length === 0 && release.rrN === 0) continue;
      const previous = data[experiment.name] as ExperimentData;
      data[experiment.name] = { experiment: previous.experiment, releases: [...previous.releases, release] };
    }
    if (cohort && maskedCount > 0 && maskedCount < cohort.keys.length) this.options.log?.('experiments cohort abandoned', { roundId, keys: cohort.keys.length, masked: maskedCount });
    const next: ExperimentsState = {
      ...this.state,
      roundId: roundId + 1,
      roundOpenedAt: at,
      data,
      ...(cohort ? { cohort: { roundId: roundId + 1, phase: 'enrol' as const, phaseAt: at, keys: [] } } : {}),
    };
    // The commit point: before it the round is open with all its reports; after it they are released and deleted.
    await store.commit(next);
    this.state = next;
    this.pending = 0;
    this.counters.releases++;
    this.arm();
    this.options.log?.('experiments round released', { roundId, vectors: vectors + maskedCount, randomizedResponse: [...rr.values()].reduce((n, t) => n + t.n, 0) });
    await store.prune(next.roundId).catch((error: unknown) => this.options.log?.('experiments prune failed', { error: String(error) }));
  }

  /** Releases the open round now if it holds any report (an operator's or a test's call). */
  async flush(): Promise<void> {
    this.closeSoon();
    await this.settled();
  }

  async settled(): Promise<void> {
    await this.closing;
    await this.chain;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** The layout entry of `name`, if the registry lists it. */
  experiment(name: string): LayoutExperiment | undefined {
    return this.layoutValue.experiments.find((e) => e.name === name);
  }
}
