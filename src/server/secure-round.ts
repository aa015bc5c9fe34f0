/**
 * The server's side of a secure round (Bonawitz et al., CCS 2017): it relays keys and sealed
 * shares between the clients of a cohort, collects their masked inputs, and unmasks only their sum.
 *
 * Phases and when they end (each at the latest `phaseTimeoutMs` after it started):
 * - `advertise`: clients join until the cohort is full; at the deadline with ≥ minClients joined
 *   the roster closes, with fewer the round keeps waiting.
 * - `share`: ends when every roster member has shared; at the deadline the sharers go on if they
 *   are at least the threshold, else the round is abandoned.
 * - `collect`: ends when every sharer's masked input is in; at the deadline likewise.
 * - `unmask`: ends when every survivor has answered; at the deadline the sum is unmasked if the
 *   answers suffice, else the round is abandoned. An abandoned round publishes nothing and the
 *   next round opens on the same model.
 *
 * Durability: every accepted message is a file of the round, written and fsync'd before the
 * client is answered (the store's `putUpdate`), named by its phase and the client's index, so a
 * second message of the same kind from the same client is refused; every phase change is
 * committed in `state.json` before any client can learn of it. A restarted server reloads the
 * round's files and goes on in the same phase.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Value } from 'typebox/value';
import type { AccountantEntry } from '../federated/accountant.js';
import { fromBase64Url, importPublicKey, PUBLIC_KEY_BYTES } from '../federated/secure/crypto.js';
import { addInto, centred } from '../federated/secure/masking.js';
import { gridParams, localVariance, MAX_COHORT, sharingThreshold, type GridParams } from '../federated/secure/params.js';
import { REVEAL_BYTES } from '../federated/secure/shares.js';
import { decodeFromGrid } from '../federated/secure/skellam.js';
import { UnmaskError, unmaskSum, type DealerRecord } from '../federated/secure/unmask.js';
import { sizeOf } from '../federated/update-math.js';
import { JoinRequest, SharesUpload, UnmaskUpload, type SecureRoundInfo, type SecureState } from '../protocol/secure-aggregation-http.js';
import type { PersistedState, SecurePhaseState } from './store.js';
import type { CoordinatorOptions } from './coordinator.js';

/** Secure aggregation settings of the server. */
export interface SecureOptions {
  /** Most clients one round admits, 2–255 (default 50 via the server options). */
  cohortSize: number;
  /** Longest wait of each phase (ms). */
  phaseTimeoutMs: number;
  /** Suggested polling interval for clients (ms, default 1,000). */
  pollMs?: number;
}

/** What the secure round needs from the coordinator that owns the state. */
export interface SecureRoundHost {
  options: CoordinatorOptions;
  state(): PersistedState;
  commitSecure(secure: SecurePhaseState): Promise<void>;
  layout(): { name: string; shape: number[] }[];
  modelVersion(): string;
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  now(): number;
  /** Publishes the averaged update; false when the privacy budget refused it. */
  publish(delta: Float32Array, clients: number, entry: AccountantEntry | undefined): Promise<boolean>;
  abandon(reason: string): Promise<void>;
  /** Hands background work (deadline steps) to the coordinator so `settled()` waits for it. */
  track(work: Promise<unknown>): void;
}

/** A refused secure-aggregation request: HTTP status and error code. */
export class SecureRejection extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Participant {
  encryptionKey: string;
  maskingKey: string;
  tokenHash: string;
}

/** Sealed box: IV (12) ‖ 4-byte header and two reveals ‖ GCM tag (16). */
const BOX_BYTES = 12 + 4 + 2 * REVEAL_BYTES + 16;
const DIGEST_BYTES = 32;

const name = (kind: 'a' | 's' | 'm' | 'u', index: number): string => `${kind}-${String(index).padStart(3, '0')}`;
const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

function decoded(text: string, bytes: number, what: string): Uint8Array {
  const out = fromBase64Url(text);
  if (out.length !== bytes) throw new SecureRejection(400, 'malformed', `${what} must be ${bytes} bytes`);
  return out;
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new SecureRejection(400, 'malformed', 'the body is not UTF-8 JSON');
  }
}

export class SecureRound {
  private participants = new Map<number, Participant>();
  private shares = new Map<number, SharesUpload>();
  private masked = new Set<number>();
  private reveals = new Map<number, string[]>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  /** The unmasking is queued or running: nothing else may start it. */
  private finishing = false;
  /** Milliseconds the last unmasking took (for metrics and the benchmark). */
  lastUnmaskMs: number | undefined;

  private constructor(
    private readonly host: SecureRoundHost,
    private readonly options: SecureOptions,
  ) {}

  /** Loads the open round's messages and phase from the store; arms the phase deadline. */
  static async restore(host: SecureRoundHost, options: SecureOptions): Promise<SecureRound> {
    if (!Number.isSafeInteger(options.cohortSize) || options.cohortSize < 2 || options.cohortSize > MAX_COHORT) throw new Error(`cohortSize must be an integer in 2–${MAX_COHORT}`);
    const round = new SecureRound(host, options);
    // Fails at start-up, not at the first unmasking, when an honest sum could wrap 32 bits.
    round.grid();
    if (!host.state().secure) await host.commitSecure(round.freshPhase());
    await round.load();
    return round;
  }

  /**
   * Arms the phase deadline and finishes a phase change that a crash interrupted (every message
   * of a phase in, the change not yet committed). Called once the coordinator holds this round.
   */
  resume(): void {
    this.arm();
    this.host.track(this.host.exclusive(() => this.advance(false)));
  }

  private get phase(): SecurePhaseState {
    return this.host.state().secure as SecurePhaseState;
  }

  private get roundId(): number {
    return this.host.state().roundId;
  }

  /** The phase state of a round that has just opened. */
  freshPhase(): SecurePhaseState {
    return { phase: 'advertise', phaseStartedAt: this.host.now() };
  }

  /** Forgets the closed round's messages (the coordinator has committed the next round). */
  reset(): void {
    this.finishing = false;
    this.participants = new Map();
    this.shares = new Map();
    this.masked = new Set();
    this.reveals = new Map();
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async load(): Promise<void> {
    const { store } = this.host.options;
    for (const id of await store.listUpdates(this.roundId)) {
      const match = /^([asmu])-([0-9]{3})$/.exec(id);
      if (!match) continue;
      const index = Number(match[2]);
      const kind = match[1];
      if (kind === 'm') {
        this.masked.add(index);
        continue;
      }
      const json = JSON.parse(new TextDecoder().decode(await store.readUpdate(this.roundId, id))) as unknown;
      if (kind === 'a') this.participants.set(index, json as Participant);
      else if (kind === 's') this.shares.set(index, json as SharesUpload);
      else this.reveals.set(index, (json as UnmaskUpload).reveals);
    }
  }

  private words(): number {
    return this.host.layout().reduce((n, t) => n + sizeOf(t.shape), 0);
  }

  private grid(): GridParams {
    const o = this.host.options;
    return gridParams({ dim: this.words(), clip: o.clip, noiseMultiplier: o.noiseMultiplier, maxClients: this.options.cohortSize });
  }

  /** What `GET /v1/round` adds. */
  info(): SecureRoundInfo {
    const o = this.host.options;
    return { cohortSize: this.options.cohortSize, minClients: o.minClients, noiseMultiplier: o.noiseMultiplier, modulusBits: 32, phase: this.phase.phase, phaseTimeoutMs: this.options.phaseTimeoutMs };
  }

  /** Messages of the current phase received so far. */
  received(): number {
    switch (this.phase.phase) {
      case 'advertise':
        return this.participants.size;
      case 'share':
        return this.shares.size;
      case 'collect':
        return this.masked.size;
      default:
        return this.reveals.size;
    }
  }

  private checkRound(roundId: number): void {
    if (this.host.state().status !== 'open') throw new SecureRejection(403, 'budget_exhausted', 'the privacy budget is spent: this server publishes no more rounds');
    if (roundId !== this.roundId) throw new SecureRejection(409, 'wrong_round', `round ${roundId} is not open; the current round is ${this.roundId}`);
  }

  private authenticate(token: unknown): number {
    if (typeof token !== 'string' || token.length === 0 || token.length > 128) throw new SecureRejection(401, 'bad_token', 'missing or malformed secure-aggregation token');
    const hash = Buffer.from(hashToken(token), 'hex');
    let found: number | undefined;
    for (const [index, p] of this.participants) {
      if (timingSafeEqual(Buffer.from(p.tokenHash, 'hex'), hash)) found = index;
    }
    if (found === undefined) throw new SecureRejection(401, 'bad_token', 'unknown secure-aggregation token for this round');
    return found;
  }

  private expectPhase(phase: SecurePhaseState['phase']): void {
    if (this.phase.phase !== phase) throw new SecureRejection(409, 'wrong_phase', `the round is in phase "${this.phase.phase}", not "${phase}"`);
  }

  private async put(kind: 'a' | 's' | 'm' | 'u', index: number, body: Uint8Array | string): Promise<void> {
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    const stored = await this.host.options.store.putUpdate(this.roundId, name(kind, index), bytes);
    if (stored === 'duplicate') throw new SecureRejection(409, 'replay', `client ${index} already sent this message in round ${this.roundId}`);
  }

  /** Phase 1: a client joins with its two public keys. */
  async join(roundId: number, body: Uint8Array): Promise<{ index: number; token: string }> {
    const request = parseJson(body);
    if (!Value.Check(JoinRequest, request)) throw new SecureRejection(400, 'malformed', 'join needs encryptionKey and maskingKey (base64url P-256 points)');
    // A key that is not a P-256 point would make every other client's key agreement fail: it is
    // refused here rather than breaking the round for the whole cohort later.
    for (const [what, key] of [
      ['encryptionKey', request.encryptionKey],
      ['maskingKey', request.maskingKey],
    ] as const) {
      const bytes = decoded(key, PUBLIC_KEY_BYTES, what);
      try {
        await importPublicKey(bytes);
      } catch {
        throw new SecureRejection(400, 'bad_key', `${what} is not a point on P-256`);
      }
    }
    return this.host.exclusive(async () => {
      this.checkRound(roundId);
      this.expectPhase('advertise');
      if (this.participants.size >= this.options.cohortSize) throw new SecureRejection(409, 'cohort_full', 'the cohort of this round is full');
      for (const p of this.participants.values()) {
        if (p.maskingKey === request.maskingKey || p.encryptionKey === request.encryptionKey) throw new SecureRejection(409, 'replay', 'these keys already joined this round');
      }
      const index = this.participants.size + 1;
      const token = randomBytes(32).toString('base64url');
      const participant: Participant = { encryptionKey: request.encryptionKey, maskingKey: request.maskingKey, tokenHash: hashToken(token) };
      await this.put('a', index, JSON.stringify(participant));
      this.participants.set(index, participant);
      await this.advance(false);
      return { index, token };
    });
  }

  /** What a client sees of the round now. */
  view(roundId: number, token: unknown): SecureState {
    this.checkRound(roundId);
    const me = this.authenticate(token);
    const phase = this.phase;
    const out: SecureState = { roundId, phase: phase.phase, pollMs: this.options.pollMs ?? 1000, done: false };
    if (phase.phase === 'advertise') return out;
    const roster = phase.roster ?? [];
    out.roster = roster.map((index) => {
      const p = this.participants.get(index) as Participant;
      return { index, encryptionKey: p.encryptionKey, maskingKey: p.maskingKey };
    });
    out.threshold = phase.threshold as number;
    if (phase.phase === 'share') {
      out.done = this.shares.has(me);
      return out;
    }
    const sharers = phase.sharers ?? [];
    out.sharers = [...sharers];
    if (phase.phase === 'collect') {
      const position = roster.indexOf(me);
      out.inbox = sharers.map((dealer) => (this.shares.get(dealer) as SharesUpload).boxes[position] as string);
      out.done = this.masked.has(me);
      return out;
    }
    out.survivors = [...(phase.survivors ?? [])];
    out.done = this.reveals.has(me);
    return out;
  }

  /** Phase 2: one client's boxes and commitments, one per roster member. */
  submitShares(roundId: number, token: unknown, body: Uint8Array): Promise<void> {
    const upload = parseJson(body);
    if (!Value.Check(SharesUpload, upload)) throw new SecureRejection(400, 'malformed', 'shares need boxes, seedCommitments, keyCommitments, seedCommitment and keyCommitment');
    return this.host.exclusive(async () => {
      this.checkRound(roundId);
      const me = this.authenticate(token);
      this.expectPhase('share');
      const roster = this.phase.roster ?? [];
      if (!roster.includes(me)) throw new SecureRejection(403, 'not_in_roster', `client ${me} is not in this round's roster`);
      const n = roster.length;
      if (upload.boxes.length !== n || upload.seedCommitments.length !== n || upload.keyCommitments.length !== n)
        throw new SecureRejection(400, 'malformed', `shares must hold exactly ${n} boxes and commitments`);
      for (const box of upload.boxes) decoded(box, BOX_BYTES, 'a box');
      for (const c of [...upload.seedCommitments, ...upload.keyCommitments, upload.seedCommitment, upload.keyCommitment]) decoded(c, DIGEST_BYTES, 'a commitment');
      await this.put('s', me, JSON.stringify(upload));
      this.shares.set(me, upload);
      await this.advance(false);
    });
  }

  /** Phase 3: one client's masked input, exactly 4 bytes per model value. */
  submitMasked(roundId: number, token: unknown, body: Uint8Array): Promise<void> {
    return this.host.exclusive(async () => {
      this.checkRound(roundId);
      const me = this.authenticate(token);
      this.expectPhase('collect');
      if (!(this.phase.sharers ?? []).includes(me)) throw new SecureRejection(403, 'not_a_sharer', `client ${me} did not share in this round`);
      if (body.length !== 4 * this.words()) throw new SecureRejection(400, 'bad_length', `a masked input has ${4 * this.words()} bytes, got ${body.length}`);
      await this.put('m', me, body);
      this.masked.add(me);
      await this.advance(false);
    });
  }

  /** Phase 4: one survivor's reveals, one per sharer. */
  submitUnmask(roundId: number, token: unknown, body: Uint8Array): Promise<void> {
    const upload = parseJson(body);
    if (!Value.Check(UnmaskUpload, upload)) throw new SecureRejection(400, 'malformed', 'unmasking needs reveals');
    return this.host.exclusive(async () => {
      this.checkRound(roundId);
      const me = this.authenticate(token);
      this.expectPhase('unmask');
      if (!(this.phase.survivors ?? []).includes(me)) throw new SecureRejection(403, 'not_a_survivor', `client ${me} has no input in this round's sum`);
      const sharers = this.phase.sharers ?? [];
      if (upload.reveals.length !== sharers.length) throw new SecureRejection(400, 'malformed', `unmasking must hold exactly ${sharers.length} reveals`);
      for (const r of upload.reveals) decoded(r, REVEAL_BYTES, 'a reveal');
      await this.put('u', me, JSON.stringify(upload));
      this.reveals.set(me, upload.reveals);
      await this.advance(false);
    });
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const due = this.phase.phaseStartedAt + this.options.phaseTimeoutMs - this.host.now();
    this.timer = setTimeout(() => this.host.track(this.host.exclusive(() => this.advance(true))), Math.max(0, due) + 5);
    this.timer.unref?.();
  }

  private async enter(next: SecurePhaseState): Promise<void> {
    await this.host.commitSecure(next);
    this.arm();
  }

  /**
   * Moves the phase on when its messages are all in or (with `deadline`) its time is up. Runs
   * inside `exclusive`.
   */
  private async advance(deadline: boolean): Promise<void> {
    const expired = deadline || this.host.now() >= this.phase.phaseStartedAt + this.options.phaseTimeoutMs;
    const o = this.host.options;
    const phase = this.phase;
    const now = this.host.now();
    if (this.host.state().status !== 'open') return;
    if (phase.phase === 'advertise') {
      const n = this.participants.size;
      if (n >= this.options.cohortSize || (expired && n >= Math.max(2, o.minClients))) {
        const roster = [...this.participants.keys()].sort((a, b) => a - b);
        await this.enter({ phase: 'share', phaseStartedAt: now, roster, threshold: sharingThreshold(roster.length, o.minClients) });
      } else if (expired) {
        // Too few joined: keep the roster open for another period.
        await this.enter({ ...phase, phaseStartedAt: now });
      }
      return;
    }
    const threshold = phase.threshold as number;
    if (phase.phase === 'share') {
      const roster = phase.roster ?? [];
      if (this.shares.size < roster.length && !expired) return;
      const sharers = [...this.shares.keys()].sort((a, b) => a - b);
      if (sharers.length < threshold) return this.host.abandon(`${sharers.length} of ${roster.length} clients shared; the threshold is ${threshold}`);
      return this.enter({ ...phase, phase: 'collect', phaseStartedAt: now, sharers });
    }
    if (phase.phase === 'collect') {
      const sharers = phase.sharers ?? [];
      if (this.masked.size < sharers.length && !expired) return;
      const survivors = [...this.masked].sort((a, b) => a - b);
      if (survivors.length < threshold) return this.host.abandon(`${survivors.length} of ${sharers.length} masked inputs arrived; the threshold is ${threshold}`);
      return this.enter({ ...phase, phase: 'unmask', phaseStartedAt: now, survivors });
    }
    const survivors = phase.survivors ?? [];
    if (this.reveals.size < survivors.length && !expired) return;
    if (this.finishing) return;
    this.finishing = true;
    const finish = async (): Promise<void> => {
      try {
        await this.finish(expired);
      } finally {
        this.finishing = false;
      }
    };
    // Unmasking takes seconds for large cohorts: when the last answer triggers it, it runs after
    // that answer's 202 (still inside the queue), so no client waits on it with an open request.
    if (deadline) await finish();
    else this.host.track(this.host.exclusive(finish));
  }

  /** Unmasks the sum and publishes it, or abandons the round. Runs inside `exclusive`. */
  private async finish(expired: boolean): Promise<void> {
    const o = this.host.options;
    const phase = this.phase;
    const sharers = phase.sharers ?? [];
    const survivors = phase.survivors ?? [];
    const roster = phase.roster ?? [];
    const words = this.words();
    const dealers = new Map<number, DealerRecord>();
    for (const dealer of sharers) {
      const upload = this.shares.get(dealer) as SharesUpload;
      const byHolder = (list: string[]): Map<number, Uint8Array> => new Map(list.map((c, i) => [roster[i] as number, fromBase64Url(c)]));
      dealers.set(dealer, {
        maskingKey: fromBase64Url((this.participants.get(dealer) as Participant).maskingKey),
        seedCommitments: byHolder(upload.seedCommitments),
        keyCommitments: byHolder(upload.keyCommitments),
        seedCommitment: fromBase64Url(upload.seedCommitment),
        keyCommitment: fromBase64Url(upload.keyCommitment),
      });
    }
    const reveals = new Map<number, Uint8Array[]>();
    for (const [holder, list] of this.reveals) reveals.set(holder, list.map(fromBase64Url));
    const ctx = { roundId: this.roundId, modelVersion: this.host.modelVersion() };
    const started = performance.now();
    let sum: Uint32Array;
    try {
      ({ sum } = await unmaskSum({
        ctx,
        words,
        threshold: phase.threshold as number,
        sharers,
        survivors,
        dealers,
        reveals,
        addMaskedInput: async (index, into) => {
          const bytes = await o.store.readUpdate(this.roundId, name('m', index));
          const aligned = new Uint8Array(bytes.length);
          aligned.set(bytes);
          addInto(into, new Uint32Array(aligned.buffer));
        },
      }));
    } catch (error) {
      if (!(error instanceof UnmaskError)) throw error;
      // Some answers may still come; give up only when none can.
      if (!expired && this.reveals.size < survivors.length) return;
      return this.host.abandon(error.message);
    }
    this.lastUnmaskMs = performance.now() - started;
    const grid = this.grid();
    const m = survivors.length;
    const total = decodeFromGrid(centred(sum), grid.scale);
    for (let i = 0; i < total.length; i++) total[i] = (total[i] as number) / m;
    let entry: AccountantEntry | undefined;
    if (o.noiseMultiplier > 0) {
      // The noise the sum actually carries: every survivor's share, planned for all sharers.
      entry = { mechanism: 'skellam', q: Math.min(1, m / (o.population ?? m)), l1: grid.l1Sensitivity, l2: grid.l2Sensitivity, variance: m * localVariance(grid, sharers.length), steps: 1 };
    }
    await this.host.publish(total, m, entry);
  }
}
