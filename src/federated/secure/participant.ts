/**
 * One client's side of a secure round, independent of the transport: its keys and secrets, and
 * the checks that keep an honest client safe whatever the server asks.
 *
 * The client refuses (throws `SecureAggregationError`) when:
 * - the roster does not hold its own keys, repeats an index, holds a key that is not a P-256
 *   point, or is larger than 255;
 * - the threshold is not the one both sides derive from the roster's size (a server lowering it
 *   could collect both halves of an update);
 * - the sharers or survivors are not subsets of the roster / sharers, are fewer than the
 *   threshold, or the server asks it to unmask a second time (a second, different survivor list is
 *   how a server would collect a seed share and a key share of the same client).
 */
import { HearthError } from '../../protocol/errors.js';
import { exportPrivateScalar, generateAgreementKeys, importPublicKey, randomBytes, sameBytes, type AgreementKeys } from './crypto.js';
import { addInto, assertLittleEndian, pairSign, subtractInto } from './masking.js';
import { MAX_COHORT, sharingThreshold } from './params.js';
import { dealShares, openShares, REVEAL_BYTES, SECRET_BYTES, type DealtShares, type ReceivedShares, type RoundContext } from './shares.js';
import { pairMask, selfMask } from './streams.js';

/** Why a client stopped taking part in a secure round. */
export class SecureAggregationError extends HearthError {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super('invalid_update', `secure aggregation: ${message}`);
  }
}

export interface RosterMember {
  index: number;
  encryptionKey: Uint8Array;
  maskingKey: Uint8Array;
}

function strictlyIncreasing(list: readonly number[]): boolean {
  for (let i = 1; i < list.length; i++) if ((list[i] as number) <= (list[i - 1] as number)) return false;
  return true;
}

/**
 * @example
 * ```ts
 * const me = await SecureParticipant.create({ roundId: 7, modelVersion: '3' });
 * await join(me.publicKeys);
 * ```
 */
export class SecureParticipant {
  private index: number | undefined;
  private roster: RosterMember[] = [];
  private threshold = 0;
  private sharers: number[] = [];
  private readonly received = new Map<number, ReceivedShares | undefined>();
  private unmasked = false;

  private constructor(
    readonly ctx: RoundContext,
    private readonly encryption: AgreementKeys,
    private readonly masking: AgreementKeys,
    private readonly seed: Uint8Array,
  ) {}

  /** Fresh keys (the masking key is extractable: its scalar is secret-shared) and a fresh seed. */
  static async create(ctx: RoundContext): Promise<SecureParticipant> {
    assertLittleEndian();
    const encryption = await generateAgreementKeys(false);
    const masking = await generateAgreementKeys(true);
    return new SecureParticipant(ctx, encryption, masking, randomBytes(SECRET_BYTES));
  }

  get publicKeys(): { encryptionKey: Uint8Array; maskingKey: Uint8Array } {
    return { encryptionKey: this.encryption.publicKey, maskingKey: this.masking.publicKey };
  }

  /** Phase 2: checks the roster and deals this client's shares among it. */
  async deal(index: number, roster: readonly RosterMember[], threshold: number, minClients: number): Promise<DealtShares> {
    const n = roster.length;
    if (n < 2 || n > MAX_COHORT) throw new SecureAggregationError('bad_roster', `a roster of ${n} clients`);
    if (!strictlyIncreasing(roster.map((m) => m.index))) throw new SecureAggregationError('bad_roster', 'roster indices repeat or are out of order');
    const mine = roster.find((m) => m.index === index);
    if (!mine || !sameBytes(mine.encryptionKey, this.encryption.publicKey) || !sameBytes(mine.maskingKey, this.masking.publicKey)) {
      throw new SecureAggregationError('bad_roster', 'the roster does not hold this client under its index and keys');
    }
    for (const m of roster) {
      try {
        await importPublicKey(m.encryptionKey);
        await importPublicKey(m.maskingKey);
      } catch {
        throw new SecureAggregationError('bad_roster', `the keys of client ${m.index} are not P-256 points`);
      }
    }
    const expected = sharingThreshold(n, minClients);
    if (threshold !== expected) throw new SecureAggregationError('bad_threshold', `threshold ${threshold} for ${n} clients; expected ${expected}`);
    this.index = index;
    this.roster = roster.map((m) => ({ ...m }));
    this.threshold = threshold;
    return dealShares({
      ctx: this.ctx,
      dealer: index,
      encryptionKey: this.encryption.privateKey,
      holders: this.roster,
      threshold,
      seed: this.seed,
      keyScalar: await exportPrivateScalar(this.masking.privateKey),
    });
  }

  /**
   * Phase 3: opens the boxes addressed to this client (one per sharer, in `sharers` order) and
   * returns `input` (integers modulo 2^32) with the self mask and every pairwise mask with the
   * other sharers applied. `input` is left unchanged.
   */
  async mask(input: Uint32Array, sharers: readonly number[], inbox: readonly Uint8Array[]): Promise<Uint32Array> {
    const me = this.index;
    if (me === undefined) throw new SecureAggregationError('out_of_order', 'masking before dealing shares');
    if (!strictlyIncreasing(sharers) || !sharers.includes(me) || sharers.some((s) => !this.roster.some((m) => m.index === s))) {
      throw new SecureAggregationError('bad_sharers', 'the sharers are not a subset of the roster that includes this client');
    }
    if (sharers.length < this.threshold) throw new SecureAggregationError('too_few', `${sharers.length} sharers, fewer than the threshold ${this.threshold}`);
    if (inbox.length !== sharers.length) throw new SecureAggregationError('bad_inbox', `${inbox.length} boxes for ${sharers.length} sharers`);
    this.sharers = [...sharers];
    for (let i = 0; i < sharers.length; i++) {
      const dealer = sharers[i] as number;
      const member = this.roster.find((m) => m.index === dealer) as RosterMember;
      this.received.set(
        dealer,
        await openShares({ ctx: this.ctx, holder: me, encryptionKey: this.encryption.privateKey, dealer, dealerEncryptionKey: member.encryptionKey, box: inbox[i] as Uint8Array }),
      );
    }
    const masked = input.slice();
    addInto(masked, await selfMask(this.ctx, this.seed, me, masked.length));
    for (const other of sharers) {
      if (other === me) continue;
      const member = this.roster.find((m) => m.index === other) as RosterMember;
      const mask = await pairMask(this.ctx, this.masking.privateKey, member.maskingKey, me, other, masked.length);
      if (pairSign(me, other) > 0) addInto(masked, mask);
      else subtractInto(masked, mask);
    }
    return masked;
  }

  /**
   * Phase 4: for every sharer, in `sharers` order, reveals the seed share if it is a survivor (its
   * input arrived: its self mask must come off) or the key share if not (its pairwise masks must
   * come off). Never both for one client; answers once per round.
   */
  unmask(survivors: readonly number[]): Uint8Array[] {
    if (this.index === undefined || this.sharers.length === 0) throw new SecureAggregationError('out_of_order', 'unmasking before masking');
    if (this.unmasked) throw new SecureAggregationError('second_unmask', 'this client already answered the unmasking of this round');
    if (!strictlyIncreasing(survivors) || survivors.some((s) => !this.sharers.includes(s))) throw new SecureAggregationError('bad_survivors', 'the survivors are not a subset of the sharers');
    if (survivors.length < this.threshold) throw new SecureAggregationError('too_few', `${survivors.length} survivors, fewer than the threshold ${this.threshold}`);
    this.unmasked = true;
    const alive = new Set(survivors);
    return this.sharers.map((dealer) => {
      const shares = this.received.get(dealer);
      // A box that did not open yields nothing to reveal: zeros, which match no commitment.
      if (!shares) return new Uint8Array(REVEAL_BYTES);
      return (alive.has(dealer) ? shares.seed : shares.key).slice();
    });
  }
}
