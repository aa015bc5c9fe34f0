/**
 * Strict gunzip for uploads: exactly one gzip member (RFC 1952) and nothing after it. Node's own
 * `gunzip` (and its `DecompressionStream`) silently ignore zero padding after the stream and join
 * further members, so a 3.8 KB update padded with megabytes of zeros would be accepted and stored
 * as sent. Here the deflate data is inflated raw, so zlib says exactly how many bytes it consumed;
 * the 8-byte trailer (CRC-32, length) must follow and end the body.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { WireError } from '../federated/wire.js';

const FTEXT_FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const RESERVED = 0xe0;

/** Offset of the deflate data: past the fixed header and whichever optional fields the flags announce. */
function deflateStart(body: Uint8Array): number {
  if (body.length < 18 || body[0] !== 0x1f || body[1] !== 0x8b) throw new WireError('malformed', 'update is not gzip-compressed');
  if (body[2] !== 8) throw new WireError('malformed', 'gzip compression method is not deflate');
  const flags = body[3] as number;
  if (flags & RESERVED) throw new WireError('malformed', 'gzip header sets reserved flags');
  let at = 10;
  const need = (n: number): void => {
    if (at + n > body.length) throw new WireError('truncated', 'update ends inside its gzip header');
  };
  if (flags & FEXTRA) {
    need(2);
    at += 2 + ((body[at] as number) | ((body[at + 1] as number) << 8));
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    while (at < body.length && body[at] !== 0) at++;
    need(1);
    at++;
  }
  if (flags & FTEXT_FHCRC) at += 2;
  need(0);
  return at;
}

/**
 * Inflates `body`, rejecting anything but one complete gzip member that ends exactly where the
 * body ends; gives up as soon as the output would pass `maxBytes`.
 *
 * @example
 * ```ts
 * const raw = gunzipExact(body, 8 << 20); // throws WireError('trailing_data') for padded bodies
 * ```
 */
export function gunzipExact(body: Uint8Array, maxBytes: number): Uint8Array {
  const start = deflateStart(body);
  let raw: Buffer;
  let consumed: number;
  try {
    const result = inflateRawSync(body.subarray(start), { info: true, maxOutputLength: maxBytes }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    raw = result.buffer;
    consumed = result.engine.bytesWritten;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') throw new WireError('too_large', `update inflates past ${maxBytes} bytes`);
    throw new WireError('truncated', `update is not a complete gzip stream (${error instanceof Error ? error.message : String(error)})`);
  }
  const trailer = start + consumed;
  if (trailer + 8 > body.length) throw new WireError('truncated', 'update ends before its gzip trailer');
  if (trailer + 8 < body.length) throw new WireError('trailing_data', `update has ${body.length - trailer - 8} bytes after its gzip stream`);
  const view = new DataView(body.buffer, body.byteOffset + trailer, 8);
  if (view.getUint32(0, true) !== crc32(raw) || view.getUint32(4, true) !== raw.length % 2 ** 32) {
    throw new WireError('malformed', 'gzip trailer does not match the data (CRC-32 or length)');
  }
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}
