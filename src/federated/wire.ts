/**
 * The wire format of a federated update, shared by the client and the server.
 *
 * An update is dense: every tensor of the model, in the fixed order and shapes of `getWeights()`.
 * It never lists which embedding rows a shopper touched. Layout before compression:
 *
 * ```
 * "HFU" u8:formatVersion | u32le:headerLength | header (UTF-8 JSON) | tensor 0 | tensor 1 | …
 * ```
 *
 * Each tensor is linearly quantized to int8 (or int16) with one scale per tensor and stochastic
 * rounding, so the decoded value is an unbiased estimate of the original: E[decode(encode(x))] = x.
 * The whole buffer is then gzipped (`CompressionStream`, in browsers, workers and Node ≥ 18).
 */
import type { NamedWeight } from '../model/contract.js';
import type { QuantizationBits, TensorHeader, UpdateHeader } from '../protocol/federated.js';

export type { QuantizationBits, TensorHeader, UpdateHeader };
import { HearthError } from '../protocol/errors.js';
import { secureRandom, type RandomSource } from '../shared/random.js';
import { sizeOf } from './update-math.js';

/** Bumped on any incompatible change of the layout above. */
export const WIRE_FORMAT_VERSION = 1;
const MAGIC = [0x48, 0x46, 0x55] as const; // "HFU"
const PREFIX_BYTES = 8;
/** Headers are small (names, shapes, scales); anything bigger is hostile. */
const MAX_HEADER_BYTES = 1 << 20;
const MAX_TENSORS = 4096;
const MAX_NAME_LENGTH = 256;
/** A fresh random id per upload: the server refuses a second upload with the same id. */
const UPDATE_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
const MODEL_VERSION_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Why a body could not be decoded. Servers map these to HTTP statuses. */
export type WireErrorReason =
  | 'truncated'
  /** Bytes after the end of the gzip stream (padding, a second member). */
  | 'trailing_data'
  | 'malformed'
  | 'unsupported_version'
  | 'too_large'
  | 'non_finite'
  | 'shape_mismatch'
  | 'wrong_model_version'
  | 'wrong_round';

/** A decoding failure: `code` is always `invalid_update`; `reason` says what was wrong. */
export class WireError extends HearthError {
  readonly reason: WireErrorReason;

  constructor(reason: WireErrorReason, message: string) {
    super('invalid_update', message);
    this.reason = reason;
  }
}

export interface EncodeOptions {
  modelVersion: string;
  roundId: number;
  /** Default: 16 random bytes, base64url. */
  updateId?: string;
  bits?: QuantizationBits;
  /** Uniforms for stochastic rounding (default: the platform CSPRNG). */
  random?: RandomSource;
}

export interface EncodedUpdate {
  /** The gzipped body to upload. */
  body: Uint8Array;
  header: UpdateHeader;
  /** Bytes before compression. */
  rawBytes: number;
}

export interface DecodeExpectations {
  modelVersion?: string;
  roundId?: number;
  /** The model's layout; a different list of names or shapes is `shape_mismatch`. */
  tensors?: readonly { name: string; shape: readonly number[] }[];
  /** Decompressed size limit (default: what `tensors` needs at 16 bits plus the header, or 256 MiB). */
  maxRawBytes?: number;
}

export interface DecodedUpdate {
  header: UpdateHeader;
  tensors: NamedWeight[];
}

/**
 * A fresh update id: 16 random bytes, base64url.
 *
 * @example
 * ```ts
 * const id = newUpdateId(); // e.g. "q3Vb0m…"
 * ```
 */
export function newUpdateId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Quantizes `values` to integers in [-qmax, qmax] with stochastic rounding: `floor(v / scale + u)`
 * with u uniform in [0, 1) rounds up with probability equal to the fractional part, so the
 * expectation of `q * scale` is exactly `v`.
 */
export function quantize(values: Float32Array, bits: QuantizationBits, random: RandomSource): { q: Int8Array | Int16Array; scale: number } {
  const qmax = bits === 8 ? 127 : 32767;
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) throw new HearthError('invalid_update', 'cannot encode an update with NaN or infinite values');
    const a = Math.abs(v);
    if (a > maxAbs) maxAbs = a;
  }
  const q = bits === 8 ? new Int8Array(values.length) : new Int16Array(values.length);
  if (maxAbs === 0) return { q, scale: 0 };
  const scale = maxAbs / qmax;
  for (let i = 0; i < values.length; i++) {
    const r = Math.floor((values[i] as number) / scale + random());
    q[i] = r > qmax ? qmax : r < -qmax ? -qmax : r;
  }
  return { q, scale };
}

/**
 * Encodes an update: header, per-tensor quantized values, gzip.
 *
 * @example
 * ```ts
 * const { body, header } = await encodeUpdate(update, { modelVersion: '3', roundId: 7 });
 * await fetch(url, { method: 'POST', body });
 * ```
 */
export async function encodeUpdate(tensors: readonly NamedWeight[], options: EncodeOptions): Promise<EncodedUpdate> {
  const bits = options.bits ?? 8;
  if (bits !== 8 && bits !== 16) throw new HearthError('invalid_options', `bits must be 8 or 16, got ${String(bits)}`);
  const random = options.random ?? secureRandom();
  const updateId = options.updateId ?? newUpdateId();
  if (!UPDATE_ID_PATTERN.test(updateId)) throw new HearthError('invalid_options', 'updateId must be 16–64 characters of [A-Za-z0-9_-]');
  if (!MODEL_VERSION_PATTERN.test(options.modelVersion)) throw new HearthError('invalid_options', `bad model version "${options.modelVersion}"`);
  if (!Number.isSafeInteger(options.roundId) || options.roundId < 0) throw new HearthError('invalid_options', `bad round id ${options.roundId}`);

  const quantized = tensors.map((t) => {
    if (sizeOf(t.shape) !== t.values.length) throw new HearthError('invalid_update', `tensor "${t.name}" has ${t.values.length} values for shape [${t.shape.join(',')}]`);
    return quantize(t.values, bits, random);
  });
  const header: UpdateHeader = {
    format: WIRE_FORMAT_VERSION,
    modelVersion: options.modelVersion,
    roundId: options.roundId,
    updateId,
    bits,
    tensors: tensors.map((t, i) => ({ name: t.name, shape: [...t.shape], scale: (quantized[i] as { scale: number }).scale })),
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const bytesPerValue = bits / 8;
  const payload = quantized.reduce((n, { q }) => n + q.length * bytesPerValue, 0);
  const raw = new Uint8Array(PREFIX_BYTES + headerBytes.length + payload);
  raw.set(MAGIC, 0);
  raw[3] = WIRE_FORMAT_VERSION;
  const view = new DataView(raw.buffer);
  view.setUint32(4, headerBytes.length, true);
  raw.set(headerBytes, PREFIX_BYTES);
  let offset = PREFIX_BYTES + headerBytes.length;
  for (const { q } of quantized) {
    if (bits === 8) {
      raw.set(new Uint8Array(q.buffer, q.byteOffset, q.byteLength), offset);
      offset += q.length;
    } else {
      for (let i = 0; i < q.length; i++, offset += 2) view.setInt16(offset, q[i] as number, true);
    }
  }
  return { body: await gzip(raw), header, rawBytes: raw.length };
}

/**
 * Decodes and validates a body. Strict: a truncated or oversized body, a wrong version, a
 * malformed header, a non-finite scale or a layout other than the expected one throws a
 * `WireError` whose `reason` says which.
 *
 * @example
 * ```ts
 * const { header, tensors } = await decodeUpdate(body, { modelVersion: '3', roundId: 7, tensors: layout });
 * ```
 */
export async function decodeUpdate(body: Uint8Array, expect: DecodeExpectations = {}): Promise<DecodedUpdate> {
  return decodeRawUpdate(await gunzip(body, maxRawBytes(expect)), expect);
}

/** The decompressed size past which a body is refused: `expect.maxRawBytes`, else what the layout needs at 16 bits. */
export function maxRawBytes(expect: DecodeExpectations): number {
  return expect.maxRawBytes ?? (expect.tensors ? expect.tensors.reduce((n, t) => n + 2 * sizeOf(t.shape), MAX_HEADER_BYTES + PREFIX_BYTES) : 256 << 20);
}

/**
 * Decodes and validates an update already decompressed (the server inflates with its own strict
 * gunzip). Same checks and errors as {@link decodeUpdate}.
 *
 * @example
 * ```ts
 * const { header, tensors } = decodeRawUpdate(gunzipExact(body, maxRawBytes(expect)), expect);
 * ```
 */
export function decodeRawUpdate(raw: Uint8Array, expect: DecodeExpectations = {}): DecodedUpdate {
  if (raw.length > maxRawBytes(expect)) throw new WireError('too_large', `update inflates past ${maxRawBytes(expect)} bytes`);
  if (raw.length < PREFIX_BYTES) throw new WireError('truncated', 'update is shorter than its fixed prefix');
  if (raw[0] !== MAGIC[0] || raw[1] !== MAGIC[1] || raw[2] !== MAGIC[2]) throw new WireError('malformed', 'not a Hearth update (bad magic bytes)');
  if (raw[3] !== WIRE_FORMAT_VERSION) throw new WireError('unsupported_version', `wire format ${raw[3]} is not supported; expected ${WIRE_FORMAT_VERSION}`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const headerLength = view.getUint32(4, true);
  if (headerLength > MAX_HEADER_BYTES) throw new WireError('too_large', `header of ${headerLength} bytes exceeds ${MAX_HEADER_BYTES}`);
  if (PREFIX_BYTES + headerLength > raw.length) throw new WireError('truncated', 'update ends inside its header');
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength)));
  } catch {
    throw new WireError('malformed', 'update header is not valid UTF-8 JSON');
  }
  const header = validateHeader(parsed);
  if (expect.modelVersion !== undefined && header.modelVersion !== expect.modelVersion) {
    throw new WireError('wrong_model_version', `update is for model version "${header.modelVersion}", current is "${expect.modelVersion}"`);
  }
  if (expect.roundId !== undefined && header.roundId !== expect.roundId) {
    throw new WireError('wrong_round', `update is for round ${header.roundId}, current is ${expect.roundId}`);
  }
  if (expect.tensors) {
    const expected = expect.tensors;
    if (header.tensors.length !== expected.length) throw new WireError('shape_mismatch', `expected ${expected.length} tensors, got ${header.tensors.length}`);
    header.tensors.forEach((t, i) => {
      const e = expected[i] as { name: string; shape: readonly number[] };
      if (t.name !== e.name || t.shape.length !== e.shape.length || t.shape.some((d, j) => d !== e.shape[j])) {
        throw new WireError('shape_mismatch', `tensor ${i} is "${t.name}" [${t.shape.join(',')}], expected "${e.name}" [${e.shape.join(',')}]`);
      }
    });
  }
  const bytesPerValue = header.bits / 8;
  const payload = header.tensors.reduce((n, t) => n + sizeOf(t.shape) * bytesPerValue, 0);
  const expectedLength = PREFIX_BYTES + headerLength + payload;
  if (raw.length < expectedLength) throw new WireError('truncated', `update has ${raw.length} bytes, its header announces ${expectedLength}`);
  if (raw.length > expectedLength) throw new WireError('too_large', `update has ${raw.length - expectedLength} bytes after its last tensor`);
  let offset = PREFIX_BYTES + headerLength;
  const tensors = header.tensors.map((t) => {
    const n = sizeOf(t.shape);
    const values = new Float32Array(n);
    if (header.bits === 8) {
      for (let i = 0; i < n; i++) values[i] = view.getInt8(offset + i) * t.scale;
    } else {
      for (let i = 0; i < n; i++) values[i] = view.getInt16(offset + 2 * i, true) * t.scale;
    }
    offset += n * bytesPerValue;
    for (let i = 0; i < n; i++) if (!Number.isFinite(values[i])) throw new WireError('non_finite', `tensor "${t.name}" decodes to non-finite values`);
    return { name: t.name, shape: [...t.shape], values };
  });
  return { header, tensors };
}

function validateHeader(value: unknown): UpdateHeader {
  const fail = (message: string): never => {
    throw new WireError('malformed', `update header: ${message}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('not an object');
  const h = value as Record<string, unknown>;
  const allowed = new Set(['format', 'modelVersion', 'roundId', 'updateId', 'bits', 'tensors']);
  for (const key of Object.keys(h)) if (!allowed.has(key)) fail(`unexpected field "${key}"`);
  if (h.format !== WIRE_FORMAT_VERSION) throw new WireError('unsupported_version', `header format ${String(h.format)} is not ${WIRE_FORMAT_VERSION}`);
  if (typeof h.modelVersion !== 'string' || !MODEL_VERSION_PATTERN.test(h.modelVersion)) fail('modelVersion must be 1–64 characters of [A-Za-z0-9._-]');
  if (typeof h.roundId !== 'number' || !Number.isSafeInteger(h.roundId) || h.roundId < 0) fail('roundId must be a non-negative integer');
  if (typeof h.updateId !== 'string' || !UPDATE_ID_PATTERN.test(h.updateId)) fail('updateId must be 16–64 characters of [A-Za-z0-9_-]');
  if (h.bits !== 8 && h.bits !== 16) fail('bits must be 8 or 16');
  if (!Array.isArray(h.tensors) || h.tensors.length === 0 || h.tensors.length > MAX_TENSORS) fail(`tensors must be a list of 1–${MAX_TENSORS}`);
  let total = 0;
  const tensors = (h.tensors as unknown[]).map((entry, i): TensorHeader => {
    if (typeof entry !== 'object' || entry === null) return fail(`tensor ${i} is not an object`);
    const t = entry as Record<string, unknown>;
    if (Object.keys(t).some((k) => k !== 'name' && k !== 'shape' && k !== 'scale')) fail(`tensor ${i} has unexpected fields`);
    if (typeof t.name !== 'string' || t.name.length === 0 || t.name.length > MAX_NAME_LENGTH) fail(`tensor ${i} has a bad name`);
    if (!Array.isArray(t.shape) || t.shape.length > 8 || t.shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1 || d > 1 << 26)) {
      fail(`tensor ${i} has a bad shape`);
    }
    if (typeof t.scale !== 'number') {
      // JSON has no NaN or Infinity: JSON.stringify writes them as null.
      if (t.scale === null) throw new WireError('non_finite', `tensor ${i} has a non-finite scale`);
      fail(`tensor ${i} has a bad scale`);
    }
    const scale = t.scale as number;
    if (!Number.isFinite(scale)) throw new WireError('non_finite', `tensor ${i} has a non-finite scale`);
    if (scale < 0) fail(`tensor ${i} has a negative scale`);
    const shape = t.shape as number[];
    total += sizeOf(shape);
    if (total > 1 << 28) throw new WireError('too_large', 'update announces too many values');
    return { name: t.name as string, shape: [...shape], scale };
  });
  return {
    format: WIRE_FORMAT_VERSION,
    modelVersion: h.modelVersion as string,
    roundId: h.roundId as number,
    updateId: h.updateId as string,
    bits: h.bits as QuantizationBits,
    tensors,
  };
}

async function gzip(raw: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([raw as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Gunzips `body`, giving up as soon as the output passes `maxBytes` (a small body must not
 * inflate into gigabytes).
 */
async function gunzip(body: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  if (body.length < 18 || body[0] !== 0x1f || body[1] !== 0x8b) throw new WireError('malformed', 'update is not gzip-compressed');
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = new Blob([body as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) throw new WireError('too_large', `update inflates past ${maxBytes} bytes`);
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof WireError) throw error;
    throw new WireError('truncated', `update is not a complete gzip stream (${error instanceof Error ? error.message : String(error)})`);
  }
  const raw = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    raw.set(chunk, offset);
    offset += chunk.length;
  }
  return raw;
}
