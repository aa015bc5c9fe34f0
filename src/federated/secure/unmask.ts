/**
 * The server's last step of a secure round: from the survivors' masked inputs and the revealed
 * shares, recover the survivors' self-mask seeds and the dropped clients' masking keys, and take
 * every mask off the sum. What comes out is the sum of the survivors' inputs and nothing else;
 * no individual input is ever unmasked, because honest holders reveal a seed share only for a
 * survivor and a key share only for a dropped client, and the threshold is above half.
 */
import { importPrivateScalar } from './crypto.js';
import { addInto, pairSign, subtractInto } from './masking.js';
import { recoverSecret, type RoundContext } from './shares.js';
import { pairMask, selfMask } from './streams.js';

/** What the server holds about one client that dealt shares. */
export interface DealerRecord {
  maskingKey: Uint8Array;
  /** Commitment to each holder's share of the seed / the key, by holder index. */
  seedCommitments: ReadonlyMap<number, Uint8Array>;
  keyCommitments: ReadonlyMap<number, Uint8Array>;
  seedCommitment: Uint8Array;
  keyCommitment: Uint8Array;
}

export interface UnmaskInput {
  ctx: RoundContext;
  words: number;
  threshold: number;
  /** Clients that dealt shares, ascending (U2). */
  sharers: readonly number[];
  /** Clients whose masked input arrived, ascending (U3 ⊆ U2). */
  survivors: readonly number[];
  dealers: ReadonlyMap<number, DealerRecord>;
  /** Each answering holder's reveals, one per sharer in `sharers` order. */
  reveals: ReadonlyMap<number, readonly Uint8Array[]>;
  /** Adds the masked input of `index` into `sum` (modulo 2^32); read from storage one at a time. */
  addMaskedInput: (index: number, sum: Uint32Array) => Promise<void>;
}

/** Why a round could not be unmasked. */
export class UnmaskError extends Error {
  constructor(
    readonly dealer: number,
    readonly kind: 'seed' | 'key',
  ) {
    super(`the ${kind} of client ${dealer} could not be recovered from the revealed shares`);
  }
}

/**
 * The unmasked sum of the survivors' inputs, modulo 2^32. Throws `UnmaskError` when a secret
 * cannot be recovered (too few valid shares, or shares that disagree with the dealer's
 * commitments): the round is then abandoned, never published wrong.
 *
 * @example
 * ```ts
 * const sum = await unmaskSum({ ctx, words: dim, threshold, sharers, survivors, dealers, reveals, addMaskedInput });
 * ```
 */
export async function unmaskSum(input: UnmaskInput): Promise<{ sum: Uint32Array; rejectedShares: number }> {
  const { ctx, words, threshold, sharers, survivors, dealers, reveals } = input;
  const alive = new Set(survivors);
  let rejectedShares = 0;
  const recovered = new Map<number, Uint8Array>();
  for (let position = 0; position < sharers.length; position++) {
    const dealer = sharers[position] as number;
    const record = dealers.get(dealer);
    const kind = alive.has(dealer) ? 'seed' : 'key';
    if (!record) throw new UnmaskError(dealer, kind);
    const given: { holder: number; reveal: Uint8Array }[] = [];
    for (const [holder, list] of reveals) {
      const reveal = list[position];
      if (reveal) given.push({ holder, reveal });
    }
    const result = await recoverSecret({
      ctx,
      kind,
      dealer,
      threshold,
      reveals: given,
      commitments: kind === 'seed' ? record.seedCommitments : record.keyCommitments,
      secretCommitment: kind === 'seed' ? record.seedCommitment : record.keyCommitment,
    });
    if (!result) throw new UnmaskError(dealer, kind);
    rejectedShares += result.rejectedShares;
    recovered.set(dealer, result.secret);
  }

  const sum = new Uint32Array(words);
  for (const index of survivors) await input.addMaskedInput(index, sum);
  for (const index of survivors) subtractInto(sum, await selfMask(ctx, recovered.get(index) as Uint8Array, index, words));
  for (const dropped of sharers) {
    if (alive.has(dropped)) continue;
    const record = dealers.get(dropped) as DealerRecord;
    const privateKey = await importPrivateScalar(recovered.get(dropped) as Uint8Array, record.maskingKey);
    for (const survivor of survivors) {
      // The survivor applied pairSign(survivor, dropped) · mask; take exactly that off.
      const mask = await pairMask(ctx, privateKey, (dealers.get(survivor) as DealerRecord).maskingKey, survivor, dropped, words);
      if (pairSign(survivor, dropped) > 0) subtractInto(sum, mask);
      else addInto(sum, mask);
    }
  }
  return { sum, rejectedShares };
}
