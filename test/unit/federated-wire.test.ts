import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { decodeUpdate, encodeUpdate, quantize, WireError, type WireErrorReason } from '../../src/federated/wire.js';
import { seededRandom } from '../../src/shared/random.js';
import type { NamedWeight } from '../../src/model/contract.js';

function tensors(seed = 1): NamedWeight[] {
  const random = seededRandom(seed);
  const make = (name: string, shape: number[]): NamedWeight => {
    const n = shape.reduce((a, b) => a * b, 1);
    return { name, shape, values: Float32Array.from({ length: n }, () => (random() - 0.5) * 0.2) };
  };
  return [make('item_embedding', [50, 8]), make('block0/dense/kernel', [8, 8]), make('block0/dense/bias', [8])];
}

async function reasonOf(promise: Promise<unknown>): Promise<WireErrorReason | string> {
  try {
    await promise;
    return 'no error';
  } catch (error) {
    return error instanceof WireError ? error.reason : `other: ${String(error)}`;
  }
}

/** Builds a raw (uncompressed) body around a header object, for strictness tests. */
function rawBody(header: unknown, payloadBytes: number, formatByte = 1): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const raw = new Uint8Array(8 + h.length + payloadBytes);
  raw.set([0x48, 0x46, 0x55, formatByte]);
  new DataView(raw.buffer).setUint32(4, h.length, true);
  raw.set(h, 8);
  return new Uint8Array(gzipSync(raw));
}

const goodHeader = {
  format: 1,
  modelVersion: '3',
  roundId: 7,
  updateId: 'abcdefghijklmnop',
  bits: 8,
  tensors: [{ name: 'w', shape: [4], scale: 0.1 }],
};

describe('federated wire format', () => {
  it('round-trips every tensor within one quantization step', async () => {
    const input = tensors();
    for (const bits of [8, 16] as const) {
      const { body, header } = await encodeUpdate(input, { modelVersion: '3', roundId: 7, bits, random: seededRandom(2) });
      const decoded = await decodeUpdate(body, { modelVersion: '3', roundId: 7, tensors: input });
      expect(decoded.header).toEqual(header);
      decoded.tensors.forEach((t, i) => {
        const original = input[i] as NamedWeight;
        expect(t.name).toBe(original.name);
        expect(t.shape).toEqual(original.shape);
        const step = (header.tensors[i] as { scale: number }).scale;
        for (let j = 0; j < t.values.length; j++) expect(Math.abs((t.values[j] as number) - (original.values[j] as number))).toBeLessThanOrEqual(step * 1.0001);
      });
    }
  });

  it('quantizes without bias: the mean of many stochastic roundings is the value', () => {
    const values = Float32Array.from([0.3, -0.77, 0.0123, 1, -1]);
    const random = seededRandom(3);
    const sums = new Float64Array(values.length);
    const trials = 20_000;
    for (let t = 0; t < trials; t++) {
      const { q, scale } = quantize(values, 8, random);
      for (let i = 0; i < values.length; i++) sums[i] = (sums[i] as number) + (q[i] as number) * scale;
    }
    const step = 1 / 127;
    values.forEach((v, i) => {
      // Rounding error per draw is at most one step; its mean shrinks like step / sqrt(trials).
      expect(Math.abs((sums[i] as number) / trials - v)).toBeLessThan((4 * step) / Math.sqrt(trials));
    });
  });

  it('compresses an all-zero update to almost nothing and keeps the header free of data', async () => {
    const zero = tensors().map((t) => ({ ...t, values: new Float32Array(t.values.length) }));
    const { body, header } = await encodeUpdate(zero, { modelVersion: '1', roundId: 0 });
    expect(body.length).toBeLessThan(400);
    expect(Object.keys(header).sort()).toEqual(['bits', 'format', 'modelVersion', 'roundId', 'tensors', 'updateId']);
  });

  it('refuses to encode NaN or infinite values', async () => {
    const bad = tensors();
    (bad[1] as NamedWeight).values[3] = Number.NaN;
    await expect(encodeUpdate(bad, { modelVersion: '1', roundId: 0 })).rejects.toMatchObject({ code: 'invalid_update' });
  });

  it('rejects truncated, padded, foreign and mismatched bodies with a typed reason', async () => {
    const input = tensors();
    const { body } = await encodeUpdate(input, { modelVersion: '3', roundId: 7, random: seededRandom(4) });
    const layout = { modelVersion: '3', roundId: 7, tensors: input };
    expect(await reasonOf(decodeUpdate(body.subarray(0, body.length - 9), layout))).toBe('truncated');
    expect(await reasonOf(decodeUpdate(body.subarray(0, 10), layout))).toBe('malformed');
    expect(await reasonOf(decodeUpdate(new TextEncoder().encode('{"hello":1}'), layout))).toBe('malformed');
    expect(await reasonOf(decodeUpdate(body, { ...layout, modelVersion: '4' }))).toBe('wrong_model_version');
    expect(await reasonOf(decodeUpdate(body, { ...layout, roundId: 8 }))).toBe('wrong_round');
    const otherShape = input.map((t, i) => (i === 2 ? { ...t, shape: [9] } : t));
    expect(await reasonOf(decodeUpdate(body, { ...layout, tensors: otherShape }))).toBe('shape_mismatch');
    expect(await reasonOf(decodeUpdate(body, { ...layout, tensors: input.slice(0, 2) }))).toBe('shape_mismatch');
  });

  it('checks the header strictly', async () => {
    expect(await reasonOf(decodeUpdate(rawBody(goodHeader, 4)))).toBe('no error');
    expect(await reasonOf(decodeUpdate(rawBody(goodHeader, 3)))).toBe('truncated');
    expect(await reasonOf(decodeUpdate(rawBody(goodHeader, 5)))).toBe('too_large');
    expect(await reasonOf(decodeUpdate(rawBody(goodHeader, 4, 2)))).toBe('unsupported_version');
    expect(await reasonOf(decodeUpdate(rawBody({ ...goodHeader, format: 9 }, 4)))).toBe('unsupported_version');
    expect(await reasonOf(decodeUpdate(rawBody({ ...goodHeader, tensors: [{ name: 'w', shape: [4], scale: null }] }, 4)))).toBe('non_finite');
    // eslint-disable-next-line no-loss-of-precision -- 1e400 is Infinity on purpose: a scale that is not finite.
    expect(await reasonOf(decodeUpdate(rawBody({ ...goodHeader, tensors: [{ name: 'w', shape: [4], scale: 1e400 }] }, 4)))).toBe('non_finite');
    expect(await reasonOf(decodeUpdate(rawBody({ ...goodHeader, tensors: [{ name: 'w', shape: [4], scale: 0.1, dtype: 'f64' }] }, 4)))).toBe('malformed');
    expect(await reasonOf(decodeUpdate(rawBody({ ...goodHeader, tensors: [{ name: 'w', shape: [0], scale: 0.1 }] }, 0)))).toBe('malformed');
    expect(await reasonOf(decodeUpdate(rawBody({ ...goodHeader, bits: 32 }, 4)))).toBe('malformed');
    expect(await reasonOf(decodeUpdate(rawBody({ ...goodHeader, updateId: 'short' }, 4)))).toBe('malformed');
    expect(await reasonOf(decodeUpdate(rawBody({ ...goodHeader, itemIds: ['a'] }, 4)))).toBe('malformed');
    expect(await reasonOf(decodeUpdate(rawBody({ ...goodHeader, tensors: [{ name: 'w', shape: [1 << 26, 1 << 26], scale: 1 }] }, 4)))).toBe('too_large');
  });

  it('stops inflating a compression bomb at the size limit', async () => {
    const bomb = new Uint8Array(gzipSync(new Uint8Array(50 << 20)));
    expect(bomb.length).toBeLessThan(100_000);
    expect(await reasonOf(decodeUpdate(bomb, { maxRawBytes: 1 << 20 }))).toBe('too_large');
  });
});
