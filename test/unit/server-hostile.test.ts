/**
 * The aggregation server against a curious or hostile client: inflated quantization scales, floods
 * of wrong keys and unknown paths, slow and half-sent requests, padded gzip streams.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { createAggregationServer, createMemoryStore, type AggregationServer, type AggregationStore } from '../../src/server/index.js';
import type { AggregationServerOptions } from '../../src/server/options.js';
import { checkUpdateNorm } from '../../src/server/norm-bound.js';
import { gunzipExact } from '../../src/server/gunzip-exact.js';
import { decodeUpdate, encodeUpdate, WireError, type QuantizationBits } from '../../src/federated/wire.js';
import { addGaussianNoise, clipToNorm } from '../../src/federated/update-math.js';
import { seededRandom } from '../../src/shared/random.js';
import { LAYOUT, SITE_KEY, tinyModel, updateBody } from './server-fixtures.js';

const servers: AggregationServer[] = [];

async function start(options: Partial<AggregationServerOptions> = {}): Promise<{ server: AggregationServer; store: AggregationStore }> {
  const store = createMemoryStore();
  const { modelJson, weights } = tinyModel();
  const server = await createAggregationServer({ store, initialModel: { modelJson, weights }, siteKeys: [SITE_KEY], minClients: 100, clip: 1, ...options });
  servers.push(server);
  return { server, store };
}

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

function post(server: AggregationServer, body: Uint8Array, key: string = SITE_KEY) {
  return server.app.inject({ method: 'POST', url: '/v1/rounds/1/updates', headers: { 'content-type': 'application/octet-stream', 'x-hearth-site-key': key }, payload: Buffer.from(body) });
}

/** An 8-bit update whose every value is quantized to ±1 step of the declared `scale`. */
function declaredScaleBody(scale: number): Buffer {
  const header = Buffer.from(JSON.stringify({ format: 1, modelVersion: '1', roundId: 1, updateId: 'inflated-scale-0001', bits: 8, tensors: LAYOUT.map((t) => ({ ...t, scale })) }));
  const values = LAYOUT.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  const raw = Buffer.alloc(8 + header.length + values);
  raw.set([0x48, 0x46, 0x55, 1]);
  raw.writeUInt32LE(header.length, 4);
  header.copy(raw, 8);
  for (let i = 0; i < values; i++) raw.writeInt8(i % 2 ? 1 : -1, 8 + header.length + i);
  return gzipSync(raw);
}

/** A gzip member whose header carries a file name of `nameBytes` bytes (RFC 1952 FNAME). */
function withFileName(body: Uint8Array, nameBytes: number): Buffer {
  const plain = Buffer.from(body);
  const header = Buffer.from(plain.subarray(0, 10));
  header[3] = (header[3] as number) | 0x08;
  return Buffer.concat([header, Buffer.alloc(nameBytes, 0x61), Buffer.from([0]), plain.subarray(10)]);
}

describe('the norm check', () => {
  it('refuses an update whose declared quantization scale would inflate the tolerance', async () => {
    const { server } = await start();
    // Norm ~1e7 against --clip 1: accepted while the tolerance trusted the declared scale.
    const res = await post(server, declaredScaleBody(1e6));
    expect(res.statusCode).toBe(422);
    expect(res.json().error.code).toBe('norm_exceeded');
    expect(server.coordinator.status().updates).toBe(0);
  });

  it('accepts every honest update at the clip bound, with and without on-device noise, at 8 and 16 bits', async () => {
    const random = seededRandom(3);
    for (const bits of [8, 16] as QuantizationBits[]) {
      for (const sigma of [0, 0.01, 0.1]) {
        for (let trial = 0; trial < 20; trial++) {
          const update = LAYOUT.map(({ name, shape }) => ({
            name,
            shape: [...shape],
            // A spike in one tensor is the worst case of per-tensor quantization.
            values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (trial % 2 && i === 0 ? 50 : random() - 0.5)),
          }));
          clipToNorm(update, 1);
          addGaussianNoise(update, sigma, random);
          const { body } = await encodeUpdate(update, { modelVersion: '1', roundId: 1, bits, random });
          const { tensors } = await decodeUpdate(body);
          const { norm, allowed } = checkUpdateNorm({ clip: 1, clientNoise: sigma, bits, tensors });
          expect(norm).toBeLessThanOrEqual(allowed);
        }
      }
    }
  });

  it('bounds what it accepts by its own settings, whatever scale is declared', () => {
    const n = 80 + 16 + 4;
    for (const scale of [1e-3, 1, 1e3, 1e9]) {
      const tensors = LAYOUT.map(({ shape }) => ({ values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i % 2 ? scale : -scale)) }));
      const { allowed } = checkUpdateNorm({ clip: 1, clientNoise: 0, bits: 8, tensors });
      expect(allowed).toBeLessThanOrEqual(1.001 * (1 + Math.sqrt(n) / 127) + 1e-6);
    }
  });
});

describe('rate limiting', () => {
  it('limits uploads with a wrong key, which are refused before any body is read', async () => {
    const { server } = await start({ rateLimit: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await post(server, Buffer.from('x'), 'not-the-key-123')).statusCode);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
  });

  it('limits requests to unknown paths', async () => {
    const { server } = await start({ rateLimit: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await server.app.inject(`/wp-admin/${i}.php`)).statusCode);
    expect(statuses).toEqual([404, 404, 404, 404, 404, 429, 429, 429]);
  });
});

describe('slow and half-sent requests', () => {
  /** Opens a raw connection that writes `chunks` one by one, `gapMs` apart, until the server closes it. */
  function slowClient(port: number, chunks: string[], gapMs: number): Promise<{ answer: string; closed: boolean }> {
    return new Promise((resolve) => {
      const socket: Socket = connect(port, '127.0.0.1');
      let answer = '';
      let closed = false;
      let sent = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const next = (): void => {
        if (closed || sent >= chunks.length) return;
        socket.write(chunks[sent++] as string);
        timer = setTimeout(next, gapMs);
      };
      socket.on('connect', next);
      socket.on('data', (data) => (answer += data.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        closed = true;
        clearTimeout(timer);
        resolve({ answer, closed });
      });
      // Bounded: the loop above stops after its chunks; a server that never closes fails the test by its timeout.
    });
  }

  it('answers or drops slow and half-sent requests and keeps serving others meanwhile', async () => {
    const { server } = await start({ requestTimeoutMs: 1_000, idleTimeoutMs: 600 });
    const base = await server.listen();
    const port = Number(new URL(base).port);
    const upload = `POST /v1/rounds/1/updates HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/octet-stream\r\nx-hearth-site-key: ${SITE_KEY}\r\ncontent-length: 100000\r\n\r\n`;
    const slow = [
      // Headers, a little of the body, then silence.
      slowClient(port, [upload, 'a'.repeat(100)], 10),
      // The body one byte every 100 ms: never silent, never done (bounded at 200 bytes).
      slowClient(port, [upload, ...Array.from({ length: 200 }, () => 'b')], 100),
      // The headers themselves one line at a time (slowloris), bounded at 200 lines.
      slowClient(port, ['GET /health HTTP/1.1\r\n', ...Array.from({ length: 200 }, (_, i) => `x-pad-${i}: 1\r\n`)], 100),
    ];
    // While those hang, others are served.
    for (let i = 0; i < 3; i++) {
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
    }
    const results = await Promise.all(slow);
    for (const result of results) {
      expect(result.closed).toBe(true);
      // Either a 408 or a dropped connection, never an accepted upload.
      if (result.answer) expect(result.answer).toMatch(/^HTTP\/1\.1 408/);
    }
    expect(server.coordinator.status().updates).toBe(0);
    expect((await fetch(`${base}/health`)).status).toBe(200);
  }, 20_000);
});

describe('the gzip stream of an upload', () => {
  it('refuses zero padding, junk and a second member after the gzip stream', async () => {
    const { server } = await start();
    const { body } = await updateBody({ seed: 21 });
    for (const tail of [Buffer.alloc(4_000), Buffer.from('junk-after-the-end'), gzipSync(Buffer.from('second member'))]) {
      const res = await post(server, Buffer.concat([body, tail]));
      expect({ status: res.statusCode, code: res.json().error.code }).toEqual({ status: 400, code: 'trailing_data' });
    }
    expect(server.coordinator.status().updates).toBe(0);
    expect((await post(server, body)).statusCode).toBe(202);
  });

  it('stores the canonical form of an update, not the bytes as sent', async () => {
    const { server, store } = await start();
    const { body, updateId } = await updateBody({ seed: 22 });
    const bloated = withFileName(body, 50_000);
    expect((await post(server, bloated)).statusCode).toBe(202);
    const stored = await store.readUpdate(1, updateId);
    expect(stored.length).toBeLessThan(body.length * 2);
    expect(Buffer.from(stored).equals(gzipSync(gunzipExact(body, 1 << 20)))).toBe(true);
  });

  it('checks the trailer: a flipped byte of the CRC is refused', () => {
    const body = gzipSync(Buffer.from('hello hearth'.repeat(20)));
    body[body.length - 6] = (body[body.length - 6] as number) ^ 0xff;
    expect(() => gunzipExact(body, 1 << 20)).toThrow(WireError);
  });
});

describe('schemas and metrics', () => {
  it('validates route input with the declared schemas and says where it failed', async () => {
    const { server } = await start();
    const bad = await server.app.inject('/v1/model/weights.bin?v=../../state.json');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('bad_query');
    const round = await server.app.inject({
      method: 'POST',
      url: '/v1/rounds/1e3/updates',
      headers: { 'content-type': 'application/octet-stream', 'x-hearth-site-key': SITE_KEY },
      payload: Buffer.from('x'),
    });
    expect(round.json().error).toMatchObject({ code: 'bad_round_id' });
  });

  it('serves Prometheus metrics with request latency histograms by route and status', async () => {
    const { server } = await start();
    await server.app.inject('/v1/round');
    await server.app.inject('/health');
    await server.app.inject('/nope');
    const metrics = await server.app.inject('/metrics');
    expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.body).toMatch(/hearth_http_request_duration_seconds_bucket\{le="0\.\d+",method="GET",route="\/v1\/round",status_code="200"\} 1/);
    expect(metrics.body).toMatch(/hearth_http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} 1/);
    expect(metrics.body).toContain('# TYPE hearth_http_request_duration_seconds histogram');
    expect(metrics.body).toContain('hearth_round_id 1');
  });
});
