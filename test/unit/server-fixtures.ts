/** Tiny models and update bodies for the server's tests. */
import { gzipSync } from 'node:zlib';
import { withManifest, weightsToBuffer, type ModelJson } from '../../src/protocol/model-file.js';
import { encodeUpdate } from '../../src/federated/wire.js';
import { seededRandom } from '../../src/shared/random.js';
import type { NamedWeight } from '../../src/model/contract.js';

export const LAYOUT = [
  { name: 'item_embedding', shape: [20, 4] },
  { name: 'dense/kernel', shape: [4, 4] },
  { name: 'dense/bias', shape: [4] },
];

export function tinyWeights(seed = 1, scale = 0.1): NamedWeight[] {
  const random = seededRandom(seed);
  return LAYOUT.map(({ name, shape }) => ({
    name,
    shape: [...shape],
    values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (random() - 0.5) * 2 * scale),
  }));
}

export function tinyModel(seed = 1): { modelJson: ModelJson; weights: Uint8Array; tensors: NamedWeight[] } {
  const tensors = tinyWeights(seed);
  const modelJson = withManifest({ format: 'hearth-test', modelTopology: null }, LAYOUT, 'weights.bin');
  return { modelJson, weights: weightsToBuffer(tensors), tensors };
}

/** An update of L2 norm `norm` (before quantization), as a request body. */
export async function updateBody(options: {
  modelVersion?: string;
  roundId?: number;
  seed?: number;
  norm?: number;
  updateId?: string;
  layout?: typeof LAYOUT;
}): Promise<{ body: Buffer; tensors: NamedWeight[]; updateId: string }> {
  const layout = options.layout ?? LAYOUT;
  const random = seededRandom(options.seed ?? 7);
  const tensors = layout.map(({ name, shape }) => ({
    name,
    shape: [...shape],
    values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random() - 0.5),
  }));
  let sum = 0;
  for (const t of tensors) for (const v of t.values) sum += v * v;
  const factor = (options.norm ?? 0.5) / Math.sqrt(sum);
  for (const t of tensors) for (let i = 0; i < t.values.length; i++) t.values[i] = (t.values[i] as number) * factor;
  const encoded = await encodeUpdate(tensors, {
    modelVersion: options.modelVersion ?? '1',
    roundId: options.roundId ?? 1,
    bits: 16,
    random: seededRandom((options.seed ?? 7) + 1),
    ...(options.updateId ? { updateId: options.updateId } : {}),
  });
  return { body: Buffer.from(encoded.body), tensors, updateId: encoded.header.updateId };
}

/** A gzipped body with the given header and `payloadBytes` zero bytes of values. */
export function rawBody(header: unknown, payloadBytes: number): Buffer {
  const h = Buffer.from(JSON.stringify(header));
  const raw = Buffer.alloc(8 + h.length + payloadBytes);
  raw.set([0x48, 0x46, 0x55, 1]);
  raw.writeUInt32LE(h.length, 4);
  h.copy(raw, 8);
  return gzipSync(raw);
}

export const SITE_KEY = 'test-site-key-0001';
