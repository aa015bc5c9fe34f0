/**
 * Fuzz: thousands of malformed bodies (random bytes, mutated valid updates, hostile headers) sent
 * through fastify's in-process injection. Every one must get a 4xx JSON error — except the rare
 * mutation that is in fact a valid update (a changed digit of a scale or of the update id), which
 * is accepted and counted once — the server must stay up, and its state must be exactly as it was
 * plus those. Bounded in count and time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createAggregationServer, type AggregationServer } from '../../src/server/index.js';
import { seededRandom } from '../../src/shared/random.js';
import { LAYOUT, rawBody, SITE_KEY, tinyModel, updateBody } from './server-fixtures.js';

const COUNT = 3000;
const TIME_BUDGET_MS = 40_000;
let server: AggregationServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hearth-fuzz-'));
  const { modelJson, weights } = tinyModel();
  server = await createAggregationServer({ dataDir, initialModel: { modelJson, weights }, siteKeys: [SITE_KEY], minClients: 1_000_000, rateLimit: 1e9, bodyLimit: 64 * 1024 });
});

afterAll(async () => {
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('aggregation server under fuzzing', () => {
  it('answers every malformed body with a 4xx JSON error and keeps its state', async () => {
    const random = seededRandom(123);
    const int = (n: number): number => Math.floor(random() * n);
    const valid = await updateBody({ seed: 5 });
    const raw = gunzipSync(valid.body);
    const accepted = await server.app.inject({
      method: 'POST',
      url: '/v1/rounds/1/updates',
      headers: { 'x-hearth-site-key': SITE_KEY, 'content-type': 'application/octet-stream' },
      payload: (await updateBody({ seed: 99 })).body,
    });
    expect(accepted.statusCode).toBe(202);
    const before = server.coordinator.status();
    const weightsBefore = (await server.app.inject('/v1/model/weights.bin')).rawPayload;

    const generators: (() => Buffer)[] = [
      // Random bytes.
      () => Buffer.from(Array.from({ length: int(2000) }, () => int(256))),
      // A valid compressed body with bytes flipped.
      () => {
        const b = Buffer.from(valid.body);
        for (let k = 0; k < 1 + int(8); k++) b[int(b.length)] = int(256);
        return b;
      },
      // A valid raw body with bytes flipped, recompressed (reaches the header/payload checks).
      () => {
        const b = Buffer.from(raw);
        for (let k = 0; k < 1 + int(8); k++) b[int(b.length)] = int(256);
        return gzipSync(b);
      },
      // Truncated or extended raw bodies, recompressed.
      () => gzipSync(random() < 0.5 ? raw.subarray(0, int(raw.length)) : Buffer.concat([raw, Buffer.alloc(1 + int(50))])),
      // Hostile headers: wrong types, huge shapes, extra fields, non-finite scales.
      () => {
        const tensors = LAYOUT.map((t) => ({ ...t, scale: 0.01 }));
        const header: Record<string, unknown> = { format: 1, modelVersion: '1', roundId: 1, updateId: `fuzz${int(1e9)}aaaaaaaaaaaa`, bits: 8, tensors };
        const keys = Object.keys(header);
        const key = keys[int(keys.length)] as string;
        const values: unknown[] = [null, -1, 1e308, 'x', [], {}, [1 << 30], true, '../../etc', 'a'.repeat(100)];
        header[key] = values[int(values.length)];
        if (random() < 0.3) header.itemIds = ['42'];
        return rawBody(header, int(200));
      },
    ];

    const started = Date.now();
    let sent = 0;
    const statuses = new Map<number, number>();
    while (sent < COUNT && Date.now() - started < TIME_BUDGET_MS) {
      const payload = (generators[int(generators.length)] as () => Buffer)();
      const res = await server.app.inject({
        method: 'POST',
        url: `/v1/rounds/${random() < 0.9 ? '1' : String(int(1e6))}/updates`,
        headers: { 'x-hearth-site-key': SITE_KEY, 'content-type': 'application/octet-stream' },
        payload,
      });
      sent++;
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode === 202) continue;
      if (res.statusCode < 400 || res.statusCode >= 500) throw new Error(`fuzz case ${sent} got ${res.statusCode}: ${res.body.slice(0, 200)}`);
      const json = res.json() as { error?: { code?: unknown; message?: unknown } };
      expect(typeof json.error?.code).toBe('string');
      expect(typeof json.error?.message).toBe('string');
    }
    expect(sent).toBeGreaterThanOrEqual(1000);
    await server.settled();
    expect((await server.app.inject('/health')).statusCode).toBe(200);
    const validMutants = statuses.get(202) ?? 0;
    expect(validMutants).toBeLessThan(sent * 0.05);
    expect(server.coordinator.status()).toEqual({ ...before, updates: before.updates + validMutants });
    expect((await server.app.inject('/v1/model/weights.bin')).rawPayload.equals(weightsBefore)).toBe(true);
    // A good update is still accepted afterwards.
    const after = await server.app.inject({
      method: 'POST',
      url: '/v1/rounds/1/updates',
      headers: { 'x-hearth-site-key': SITE_KEY, 'content-type': 'application/octet-stream' },
      payload: (await updateBody({ seed: 100 })).body,
    });
    expect(after.statusCode).toBe(202);
    console.log(`fuzz: ${sent} bodies in ${Date.now() - started} ms, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  });
});
