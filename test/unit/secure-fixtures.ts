/** An in-memory secure round: real participants and the real unmasking, no transport. */
import { SecureParticipant, type RosterMember } from '../../src/federated/secure/participant.js';
import { sharingThreshold } from '../../src/federated/secure/params.js';
import { addInto } from '../../src/federated/secure/masking.js';
import type { DealtShares, RoundContext } from '../../src/federated/secure/shares.js';
import { unmaskSum, type DealerRecord } from '../../src/federated/secure/unmask.js';

export interface SimulatedRound {
  ctx: RoundContext;
  participants: SecureParticipant[];
  roster: RosterMember[];
  threshold: number;
  dealt: Map<number, DealtShares>;
  dealers: Map<number, DealerRecord>;
  sharers: number[];
  masked: Map<number, Uint32Array>;
  survivors: number[];
}

/** Runs phases 1–3 for `inputs.length` clients; `dropBeforeShares` and `dropBeforeMask` never send those messages. */
export async function runToMasked(
  inputs: Uint32Array[],
  options: { minClients?: number; dropBeforeShares?: ReadonlySet<number>; dropBeforeMask?: ReadonlySet<number>; ctx?: RoundContext } = {},
): Promise<SimulatedRound> {
  const ctx = options.ctx ?? { roundId: 7, modelVersion: '3' };
  const participants = await Promise.all(inputs.map(() => SecureParticipant.create(ctx)));
  const roster: RosterMember[] = participants.map((p, i) => ({ index: i + 1, ...p.publicKeys }));
  const threshold = sharingThreshold(roster.length, options.minClients ?? 2);
  const dealt = new Map<number, DealtShares>();
  for (let i = 0; i < participants.length; i++) {
    const index = i + 1;
    if (options.dropBeforeShares?.has(index)) continue;
    dealt.set(index, await (participants[i] as SecureParticipant).deal(index, roster, threshold, options.minClients ?? 2));
  }
  const sharers = [...dealt.keys()].sort((a, b) => a - b);
  const dealers = new Map<number, DealerRecord>();
  for (const dealer of sharers) {
    const d = dealt.get(dealer) as DealtShares;
    const byHolder = (list: Uint8Array[]): Map<number, Uint8Array> => new Map(list.map((c, i) => [(roster[i] as RosterMember).index, c]));
    dealers.set(dealer, {
      maskingKey: (roster[dealer - 1] as RosterMember).maskingKey,
      seedCommitments: byHolder(d.seedCommitments),
      keyCommitments: byHolder(d.keyCommitments),
      seedCommitment: d.seedCommitment,
      keyCommitment: d.keyCommitment,
    });
  }
  const masked = new Map<number, Uint32Array>();
  for (const index of sharers) {
    if (options.dropBeforeMask?.has(index)) continue;
    const inbox = sharers.map((dealer) => (dealt.get(dealer) as DealtShares).boxes[index - 1] as Uint8Array);
    masked.set(index, await (participants[index - 1] as SecureParticipant).mask(inputs[index - 1] as Uint32Array, sharers, inbox));
  }
  const survivors = [...masked.keys()].sort((a, b) => a - b);
  return { ctx, participants, roster, threshold, dealt, dealers, sharers, masked, survivors };
}

/** Phase 4 and the unmasking, with `reveals` overriding what some holders answer. */
export async function unmask(round: SimulatedRound, options: { silent?: ReadonlySet<number>; reveals?: Map<number, Uint8Array[]> } = {}): Promise<{ sum: Uint32Array; rejectedShares: number }> {
  const reveals = new Map<number, readonly Uint8Array[]>();
  for (const index of round.survivors) {
    if (options.silent?.has(index)) continue;
    reveals.set(index, options.reveals?.get(index) ?? (round.participants[index - 1] as SecureParticipant).unmask(round.survivors));
  }
  for (const [holder, list] of options.reveals ?? []) reveals.set(holder, list);
  const words = (round.masked.values().next().value as Uint32Array).length;
  return unmaskSum({
    ctx: round.ctx,
    words,
    threshold: round.threshold,
    sharers: round.sharers,
    survivors: round.survivors,
    dealers: round.dealers,
    reveals,
    addMaskedInput: async (index, sum) => addInto(sum, round.masked.get(index) as Uint32Array),
  });
}

/** The plain sum modulo 2^32 of some inputs (1-based indices). */
export function plainSum(inputs: Uint32Array[], indices: readonly number[]): Uint32Array {
  const sum = new Uint32Array((inputs[0] as Uint32Array).length);
  for (const i of indices) addInto(sum, inputs[i - 1] as Uint32Array);
  return sum;
}
