/**
 * The round state machine of the aggregation server, independent of HTTP: which model is current,
 * which round is open, which updates it has accepted, when and how it aggregates.
 *
 * Every change of state runs inside one queue (`exclusive`), so a check ("is this id new? is
 * this round still open?") and the write that depends on it can never interleave with another.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { RdpAccountant, type AccountantEntry } from '../federated/accountant.js';
import { secureRandom, type RandomSource } from '../shared/random.js';
import { manifestLayout, withManifest, type ModelJson } from '../protocol/model-file.js';
import { decodeRawUpdate, maxRawBytes, WireError, type DecodedUpdate, type QuantizationBits } from '../federated/wire.js';
import type { RoundInfo } from '../protocol/aggregation-http.js';
import { gunzipExact } from './gunzip-exact.js';
import { checkUpdateNorm } from './norm-bound.js';
import { sizeOf } from '../federated/update-math.js';
import { clipFlat, coordinateMedian, fedAdamStep, fedAvgStep, noisyMean, trimmedMean, weightedMean, type AggregatorName, type RobustRule } from './aggregate.js';
import type { AggregationStore, PersistedState } from './store.js';
import { SecureRound, type SecureRoundHost, type SecureOptions } from './secure-round.js';

export interface CoordinatorOptions {
  store: AggregationStore;
  /** The starting model, used only when the store holds no state yet. */
  initialModel?: { modelJson: ModelJson; weights: Uint8Array };
  /** A round publishes once it has this many accepted updates; never with fewer. */
  minClients: number;
  aggregator: AggregatorName;
  /** η of the server step (1 = plain FedAvg; FedAdam's η, e.g. 0.01). */
  serverLearningRate: number;
  /** L2 bound of an update: sent to clients, enforced on receipt, applied again before summing. */
  clip: number;
  /** DP-FedAvg noise multiplier z: the sum gets N(0, (z·clip)²) per coordinate. 0 = no DP. */
  noiseMultiplier: number;
  /** σ of the noise clients add on the device (absolute, per coordinate). Default 0. */
  clientNoise: number;
  /** Refuse to publish a round that would take cumulative ε past this. */
  epsilonBudget?: number;
  delta: number;
  /** Size of the population clients are drawn from; q = clients per round / population. */
  population?: number;
  robust: RobustRule;
  /** Trimmed mean: the fraction cut at each end. */
  trim: number;
  /** Local epochs each client trains per round. */
  epochs: number;
  bits: QuantizationBits;
  /** Advisory deadline for clients; a round stays open until it has `minClients`. */
  roundDurationMs: number;
  /** Model versions kept on disk (so that a download racing a publication still completes). */
  keepModels?: number;
  random?: RandomSource;
  now?: () => number;
  log?: (message: string, detail?: Record<string, unknown>) => void;
  /**
   * Secure aggregation: updates go through the four phases of `secure-round.ts`, the server only
   * ever unmasks their sum, and `noiseMultiplier` is the distributed Skellam noise the clients add.
   */
  secure?: SecureOptions;
}

/** What `GET /v1/round` answers (declared once, in the shared protocol). */
export type { RoundInfo };

/** A refused upload: the HTTP status and the JSON error code. */
export class UploadRejection extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const WIRE_STATUS: Record<WireError['reason'], number> = {
  truncated: 400,
  trailing_data: 400,
  malformed: 400,
  unsupported_version: 400,
  too_large: 413,
  non_finite: 422,
  shape_mismatch: 422,
  wrong_model_version: 409,
  wrong_round: 409,
};

interface CurrentModel {
  version: string;
  etag: string;
  /** model.json as served: its manifest points at this version's weights. */
  modelJson: ModelJson;
  weights: Uint8Array;
  layout: { name: string; shape: number[] }[];
  optimizer?: Uint8Array;
}

function etagOf(version: string, weights: Uint8Array): string {
  return `"${version}-${createHash('sha256').update(weights).digest('hex').slice(0, 20)}"`;
}

function servedModelJson(modelJson: ModelJson, version: string): ModelJson {
  // Relative to /v1/model, this resolves to /v1/model/weights.bin?v=<version>.
  return withManifest(modelJson, manifestLayout(modelJson), `model/weights.bin?v=${encodeURIComponent(version)}`);
}

export class Coordinator {
  private state!: PersistedState;
  private model!: CurrentModel;
  private readonly accepted = new Set<string>();
  private chain: Promise<unknown> = Promise.resolve();
  private aggregation: Promise<void> = Promise.resolve();
  private readonly random: RandomSource;
  private readonly now: () => number;
  private readonly accountant = new RdpAccountant();
  readonly counters = { accepted: 0, rejected: new Map<string, number>(), aggregationsFailed: 0 };
  /** The secure-aggregation protocol of the open round, when the server runs it. */
  secure: SecureRound | undefined;

  private constructor(readonly options: CoordinatorOptions) {
    this.random = options.random ?? secureRandom();
    this.now = options.now ?? Date.now;
  }

  /** Opens the store, restoring the round that was open when the server last stopped. */
  static async open(options: CoordinatorOptions): Promise<Coordinator> {
    const c = new Coordinator(options);
    await c.restore();
    return c;
  }

  private async restore(): Promise<void> {
    const { store } = this.options;
    let state = await store.loadState();
    if (!state) {
      const initial = this.options.initialModel;
      if (!initial) throw new Error('the data folder holds no model yet: pass an initial model (--model-dir)');
      await store.saveModel('1', { modelJson: initial.modelJson, weights: initial.weights });
      state = { schema: 1, modelVersion: '1', roundId: 1, roundOpenedAt: this.now(), status: 'open', accountant: [], roundsPublished: 0, history: [] };
      await store.commitState(state);
    }
    const stored = await store.loadModel(state.modelVersion);
    if (!stored) throw new Error(`state.json names model ${state.modelVersion}, which is missing from the data folder`);
    this.state = state;
    this.setModel(state.modelVersion, stored.modelJson, stored.weights, stored.optimizer);
    for (const entry of state.accountant) this.accountant.record(entry);
    if (this.options.secure) {
      this.secure = await SecureRound.restore(this.secureHost(), this.options.secure);
      this.secure.resume();
      return;
    }
    for (const id of await store.listUpdates(state.roundId)) this.accepted.add(id);
    this.options.log?.('restored', { roundId: state.roundId, modelVersion: state.modelVersion, updates: this.accepted.size });
    // A crash after the last accepted update but before publication: publish now.
    if (state.status === 'open' && this.accepted.size >= this.options.minClients) this.scheduleAggregation();
  }

  private setModel(version: string, modelJson: ModelJson, weights: Uint8Array, optimizer?: Uint8Array): void {
    const layout = manifestLayout(modelJson);
    const expectedBytes = layout.reduce((n, t) => n + 4 * sizeOf(t.shape), 0);
    if (weights.length !== expectedBytes) throw new Error(`model ${version}: weights have ${weights.length} bytes, model.json announces ${expectedBytes}`);
    this.model = { version, etag: etagOf(version, weights), modelJson: servedModelJson(modelJson, version), weights, layout };
    if (optimizer) this.model.optimizer = optimizer;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** The model being served now. */
  current(): Readonly<CurrentModel> {
    return this.model;
  }

  /** Weights of `version` (the current one or one kept on disk), or undefined. */
  async weightsOf(version: string): Promise<Uint8Array | undefined> {
    if (version === this.model.version) return this.model.weights;
    // Only versions already published: a model written but not yet committed (or re-drawn after
    // a crash, with fresh DP noise) must never be observable.
    if (!/^[0-9]{1,12}$/.test(version) || Number(version) >= Number(this.model.version)) return undefined;
    return (await this.options.store.loadModel(version))?.weights;
  }

  roundInfo(): RoundInfo {
    const o = this.options;
    let deadline = this.state.roundOpenedAt + o.roundDurationMs;
    // The round stays open until it has enough clients; the advisory deadline rolls forward.
    while (deadline <= this.now()) deadline += o.roundDurationMs;
    return {
      roundId: this.state.roundId,
      modelVersion: this.state.modelVersion,
      status: this.state.status,
      epochs: o.epochs,
      clipBound: o.clip,
      noiseSigma: o.clientNoise,
      bits: o.bits,
      minClients: o.minClients,
      deadline: new Date(deadline).toISOString(),
      ...(this.secure ? { noiseSigma: 0, secure: this.secure.info() } : {}),
    };
  }

  status(): {
    roundId: number;
    modelVersion: string;
    status: PersistedState['status'];
    updates: number;
    roundsPublished: number;
    roundsAbandoned: number;
    epsilon: number | null;
    history: PersistedState['history'];
  } {
    return {
      roundId: this.state.roundId,
      modelVersion: this.state.modelVersion,
      status: this.state.status,
      updates: this.secure ? this.secure.received() : this.accepted.size,
      roundsPublished: this.state.roundsPublished,
      roundsAbandoned: this.state.roundsAbandoned ?? 0,
      epsilon: this.epsilonSpent(),
      history: this.state.history.map((h) => ({ ...h })),
    };
  }

  /** Cumulative ε at the configured δ, or null when the server adds no DP noise. */
  epsilonSpent(): number | null {
    if (this.options.noiseMultiplier <= 0) return null;
    return this.accountant.epsilon(this.options.delta);
  }

  /** Counts a rejection by reason (for /metrics). */
  countRejection(code: string): void {
    this.counters.rejected.set(code, (this.counters.rejected.get(code) ?? 0) + 1);
  }

  /**
   * Validates and durably stores one upload for round `roundId` (the HTTP layer has checked that
   * the path's id is a number). Resolves once the update is on disk; rejects with an
   * `UploadRejection` (and changes nothing) when anything about it is wrong.
   */
  async submit(roundId: number, body: Uint8Array): Promise<{ roundId: number; updates: number }> {
    try {
      return await this.submitInner(roundId, body);
    } catch (error) {
      if (error instanceof UploadRejection) this.countRejection(error.code);
      throw error;
    }
  }

  /** Strict gunzip (nothing after the stream) and full decoding; throws `WireError`. */
  private decode(body: Uint8Array, roundId: number, version: string, layout: CurrentModel['layout']): { decoded: DecodedUpdate; raw: Uint8Array } {
    const expect = { modelVersion: version, roundId, tensors: layout };
    const raw = gunzipExact(body, maxRawBytes(expect));
    return { decoded: decodeRawUpdate(raw, expect), raw };
  }

  private async submitInner(roundId: number, body: Uint8Array): Promise<{ roundId: number; updates: number }> {
    if (this.secure) throw new UploadRejection(409, 'secure_aggregation_required', 'this server runs secure aggregation: updates go through /v1/rounds/:id/secagg/*');
    if (this.state.status === 'budget_exhausted') throw new UploadRejection(403, 'budget_exhausted', 'the privacy budget is spent: this server publishes no more rounds');
    if (roundId !== this.state.roundId) throw new UploadRejection(409, 'wrong_round', `round ${roundId} is not open; the current round is ${this.state.roundId}`);
    const { version, layout } = this.model;
    let decoded: DecodedUpdate;
    let raw: Uint8Array;
    try {
      ({ decoded, raw } = this.decode(body, roundId, version, layout));
    } catch (error) {
      if (error instanceof WireError) throw new UploadRejection(WIRE_STATUS[error.reason], error.reason, error.message);
      throw new UploadRejection(400, 'malformed', 'the update could not be decoded');
    }
    // The tolerance comes from the server's own settings, never from the scale the client declares;
    // an update quantized coarser than the round asked (8 bits on a 16-bit server) gets the
    // coarser width's tolerance, which is still bounded by the clip and the layout alone.
    const bits = Math.min(this.options.bits, decoded.header.bits) as QuantizationBits;
    const { norm, allowed } = checkUpdateNorm({ clip: this.options.clip, clientNoise: this.options.clientNoise, bits, tensors: decoded.tensors });
    if (!(norm <= allowed))
      throw new UploadRejection(
        422,
        'norm_exceeded',
        `update norm ${norm.toPrecision(6)} exceeds the bound ${this.options.clip} (tolerance for quantization and on-device noise: ${allowed.toPrecision(6)})`,
      );
    // Stored in canonical form (this server's gzip of the exact decoded bytes), whatever header
    // fields or deflate blocks the client used: what is kept is what was checked, and no larger.
    const canonical = new Uint8Array(gzipSync(raw));

    const updateId = decoded.header.updateId;
    return this.exclusive(async () => {
      // The round may have closed, or this id arrived twice, while the body was decoded.
      if (this.state.status !== 'open') throw new UploadRejection(403, 'budget_exhausted', 'the privacy budget is spent');
      if (roundId !== this.state.roundId || version !== this.model.version) throw new UploadRejection(409, 'wrong_round', `round ${roundId} closed while the update was checked`);
      if (this.accepted.has(updateId)) throw new UploadRejection(409, 'replay', `update ${updateId} was already accepted in this round`);
      const stored = await this.options.store.putUpdate(roundId, updateId, canonical);
      if (stored === 'duplicate') throw new UploadRejection(409, 'replay', `update ${updateId} was already accepted in this round`);
      this.accepted.add(updateId);
      this.counters.accepted++;
      if (this.accepted.size >= this.options.minClients) this.scheduleAggregation();
      return { roundId, updates: this.accepted.size };
    });
  }

  private scheduleAggregation(): void {
    const roundId = this.state.roundId;
    this.aggregation = this.exclusive(async () => {
      // Another upload of the same round may already have triggered and finished it.
      if (this.state.roundId !== roundId || this.state.status !== 'open') return;
      if (this.accepted.size < this.options.minClients) return;
      await this.aggregate();
    }).catch((error: unknown) => {
      // Deliberately handled: a failed aggregation leaves the round open with every update on
      // disk; the next accepted update (or a restart) tries again.
      this.counters.aggregationsFailed++;
      this.options.log?.('aggregation failed', { error: String(error) });
    });
  }

  /** Resolves when no aggregation is queued or running. */
  async settled(): Promise<void> {
    await this.aggregation;
    await this.chain;
  }

  /** Aggregates the open round and publishes the next model. Runs inside `exclusive`. */
  private async aggregate(): Promise<void> {
    const o = this.options;
    const { store } = o;
    const ids = [...this.accepted].sort();
    const m = ids.length;
    let nextAccountant: AccountantEntry | undefined;
    if (o.noiseMultiplier > 0) {
      const q = Math.min(1, m / (o.population ?? m));
      nextAccountant = { q, sigma: o.noiseMultiplier, steps: 1 };
      if (await this.refuseOverBudget(nextAccountant)) return;
    }
    const { layout, version } = this.model;
    const total = layout.reduce((n, t) => n + sizeOf(t.shape), 0);
    const updates: Float32Array[] = [];
    for (const id of ids) {
      const { decoded } = this.decode(await store.readUpdate(this.state.roundId, id), this.state.roundId, version, layout);
      const flat = new Float32Array(total);
      let offset = 0;
      for (const t of decoded.tensors) {
        flat.set(t.values, offset);
        offset += t.values.length;
      }
      clipFlat(flat, o.clip);
      updates.push(flat);
    }
    let delta: Float32Array;
    if (o.robust === 'median') delta = coordinateMedian(updates);
    else if (o.robust === 'trimmed-mean') delta = trimmedMean(updates, o.trim);
    else if (o.noiseMultiplier > 0) delta = noisyMean(updates, o.clip, o.noiseMultiplier, this.random);
    else delta = weightedMean(updates);
    await this.publish(delta, m, nextAccountant);
  }

  /**
   * When publishing one more round with `entry` would take ε past the budget: marks the server
   * exhausted (durably) and answers true. Runs inside `exclusive`.
   */
  private async refuseOverBudget(entry: AccountantEntry): Promise<boolean> {
    const o = this.options;
    const after = this.accountant.epsilon(o.delta, entry);
    if (o.epsilonBudget === undefined || after <= o.epsilonBudget) return false;
    this.state = { ...this.state, status: 'budget_exhausted' };
    await o.store.commitState(this.state);
    o.log?.('privacy budget reached: round not published', { roundId: this.state.roundId, epsilonIfPublished: after, budget: o.epsilonBudget });
    return true;
  }

  /** Applies the averaged update `delta` of `m` clients and publishes the next model. Runs inside `exclusive`. */
  private async publish(delta: Float32Array, m: number, nextAccountant: AccountantEntry | undefined): Promise<void> {
    const o = this.options;
    const { store } = o;
    const { version } = this.model;
    const total = delta.length;
    const weights = new Float32Array(total);
    new Uint8Array(weights.buffer).set(this.model.weights);
    let optimizer: Uint8Array | undefined;
    if (o.aggregator === 'fedadam') {
      const moments = new Float32Array(2 * total);
      if (this.model.optimizer && this.model.optimizer.length === moments.byteLength) new Uint8Array(moments.buffer).set(this.model.optimizer);
      fedAdamStep(weights, delta, { m: moments.subarray(0, total), v: moments.subarray(total) }, { learningRate: o.serverLearningRate });
      optimizer = new Uint8Array(moments.buffer);
    } else {
      fedAvgStep(weights, delta, o.serverLearningRate);
    }
    for (let i = 0; i < weights.length; i++) if (!Number.isFinite(weights[i])) throw new Error('aggregation produced non-finite weights; round left open');

    const nextVersion = String(Number(version) + 1);
    const weightBytes = new Uint8Array(weights.buffer);
    const baseJson = this.model.modelJson;
    await store.saveModel(nextVersion, optimizer ? { modelJson: baseJson, weights: weightBytes, optimizer } : { modelJson: baseJson, weights: weightBytes });
    if (nextAccountant) this.accountant.record(nextAccountant);
    const epsilon = this.epsilonSpent();
    const next: PersistedState = {
      ...this.state,
      modelVersion: nextVersion,
      roundId: this.state.roundId + 1,
      roundOpenedAt: this.now(),
      accountant: this.accountant.history,
      roundsPublished: this.state.roundsPublished + 1,
      history: [...this.state.history, { roundId: this.state.roundId, modelVersion: nextVersion, clients: m, epsilon, at: this.now() }].slice(-50),
    };
    if (this.secure) next.secure = this.secure.freshPhase();
    // The commit point: before this rename the old round is still open with all its updates.
    await store.commitState(next);
    this.state = next;
    this.setModel(nextVersion, baseJson, weightBytes, optimizer);
    this.accepted.clear();
    this.secure?.reset();
    o.log?.('round published', { roundId: next.roundId - 1, modelVersion: nextVersion, clients: m, epsilon });
    const keep = Array.from({ length: o.keepModels ?? 3 }, (_, i) => String(Number(nextVersion) - i)).filter((v) => Number(v) >= 1);
    await store.prune(next.roundId, keep).catch((error: unknown) => o.log?.('prune failed', { error: String(error) }));
  }

  /** Gives the open (secure) round up: the next round opens on the same model. Runs inside `exclusive`. */
  private async abandon(reason: string): Promise<void> {
    const o = this.options;
    const next: PersistedState = {
      ...this.state,
      roundId: this.state.roundId + 1,
      roundOpenedAt: this.now(),
      roundsAbandoned: (this.state.roundsAbandoned ?? 0) + 1,
    };
    if (this.secure) next.secure = this.secure.freshPhase();
    await o.store.commitState(next);
    const abandoned = this.state.roundId;
    this.state = next;
    this.secure?.reset();
    o.log?.('round abandoned', { roundId: abandoned, reason });
    const keep = Array.from({ length: o.keepModels ?? 3 }, (_, i) => String(Number(this.model.version) - i)).filter((v) => Number(v) >= 1);
    await o.store.prune(next.roundId, keep).catch((error: unknown) => o.log?.('prune failed', { error: String(error) }));
  }

  /** Stops the secure round's phase timer (the app calls it on close). */
  stop(): void {
    this.secure?.stop();
  }

  private secureHost(): SecureRoundHost {
    return {
      options: this.options,
      state: () => this.state,
      commitSecure: async (secure) => {
        const next = { ...this.state, secure };
        await this.options.store.commitState(next);
        this.state = next;
      },
      layout: () => this.model.layout,
      modelVersion: () => this.model.version,
      exclusive: (fn) => this.exclusive(fn),
      now: this.now,
      publish: async (delta, clients, entry) => {
        if (entry && (await this.refuseOverBudget(entry))) return false;
        await this.publish(delta, clients, entry);
        return true;
      },
      abandon: (reason) => this.abandon(reason),
      track: (work) => {
        this.aggregation = work.then(
          () => undefined,
          (error: unknown) => {
            this.counters.aggregationsFailed++;
            this.options.log?.('secure round step failed', { error: String(error) });
          },
        );
      },
    };
  }
}
