/**
 * The secure-aggregation routes over HTTP, message by message: how `hearth-server`'s flags wire
 * them, and every refusal a hostile or confused client can meet (site key, token, phase, round,
 * size, replay, roster), each with its status and JSON error code, none of them moving the round.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createAggregationServer, createMemoryStore, parseArgs, type AggregationServer } from '../../src/server/index.js';
import { SecureParticipant } from '../../src/federated/secure/participant.js';
import { fromBase64Url, toBase64Url } from '../../src/federated/secure/crypto.js';
import { SITE_KEY, tinyModel } from './server-fixtures.js';

const DIM = 20 * 4 + 4 * 4 + 4;
const CTX = { roundId: 1, modelVersion: '1' };

let server: AggregationServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(extra: Partial<Parameters<typeof createAggregationServer>[0]> = {}): Promise<string> {
  const { modelJson, weights } = tinyModel();
  server = await createAggregationServer({
    store: createMemoryStore(),
    initialModel: { modelJson, weights },
    siteKeys: [SITE_KEY],
    minClients: 2,
    clip: 1,
    secureAggregation: true,
    cohortSize: 3,
    phaseTimeoutMs: 60_000,
    pollMs: 10,
    rateLimit: 1e9,
    ...extra,
  });
  return server.listen({});
}

interface Reply {
  status: number;
  code: string | undefined;
  body: Record<string, unknown>;
}

async function call(url: string, path: string, options: { body?: Uint8Array | string | object; token?: string; siteKey?: string | null; method?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.siteKey !== null) headers['x-hearth-site-key'] = options.siteKey ?? SITE_KEY;
  if (options.token) headers['x-hearth-secagg-token'] = options.token;
  let body: BodyInit | undefined;
  if (options.body instanceof Uint8Array) {
    headers['content-type'] = 'application/octet-stream';
    body = options.body as Uint8Array<ArrayBuffer>;
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${url}${path}`, { method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body !== undefined ? { body } : {}) });
  const json = (await response.json().catch(() => ({}))) as Record<string, unknown> & { error?: { code?: string } };
  return { status: response.status, code: json.error?.code, body: json };
}

async function joinBody(p?: SecureParticipant): Promise<{ participant: SecureParticipant; body: object }> {
  const participant = p ?? (await SecureParticipant.create(CTX));
  return { participant, body: { encryptionKey: toBase64Url(participant.publicKeys.encryptionKey), maskingKey: toBase64Url(participant.publicKeys.maskingKey) } };
}

/** `n` clients join; the roster closes (cohort full) and the round is in `share`. */
async function toSharePhase(url: string, n = 3): Promise<{ participants: SecureParticipant[]; tokens: string[] }> {
  const participants: SecureParticipant[] = [];
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const { participant, body } = await joinBody();
    const reply = await call(url, '/v1/rounds/1/secagg/join', { body });
    expect(reply.status).toBe(202);
    participants.push(participant);
    tokens.push(reply.body.token as string);
  }
  return { participants, tokens };
}

async function deal(url: string, participants: SecureParticipant[], tokens: string[], who: number[]): Promise<void> {
  const state = await call(url, '/v1/rounds/1/secagg/state', { token: tokens[0] as string });
  const roster = (state.body.roster as { index: number; encryptionKey: string; maskingKey: string }[]).map((m, i) => ({
    index: m.index,
    ...(participants[i] as SecureParticipant).publicKeys,
  }));
  for (const i of who) {
    const dealt = await (participants[i] as SecureParticipant).deal(i + 1, roster, state.body.threshold as number, 2);
    const reply = await call(url, '/v1/rounds/1/secagg/shares', {
      token: tokens[i] as string,
      body: {
        boxes: dealt.boxes.map(toBase64Url),
        seedCommitments: dealt.seedCommitments.map(toBase64Url),
        keyCommitments: dealt.keyCommitments.map(toBase64Url),
        seedCommitment: toBase64Url(dealt.seedCommitment),
        keyCommitment: toBase64Url(dealt.keyCommitment),
      },
    });
    expect(reply.status).toBe(202);
  }
}

describe('hearth-server wires secure aggregation from its flags', () => {
  it('serves the secure routes and announces the phase only with --secure-aggregation', async () => {
    const { modelJson, weights } = tinyModel();
    const plainFlags = parseArgs(['--data-dir', '/unused', '--site-keys', SITE_KEY, '--min-clients', '2']).server;
    const { dataDir: _plainDir, ...plain } = plainFlags;
    server = await createAggregationServer({ ...plain, store: createMemoryStore(), initialModel: { modelJson, weights } });
    let url = await server.listen({});
    expect((await call(url, '/v1/round')).body.secure).toBeUndefined();
    expect((await call(url, '/v1/rounds/1/secagg/join', { body: {} })).status).toBe(404);
    await server.close();

    const secureFlags = parseArgs(['--data-dir', '/unused', '--site-keys', SITE_KEY, '--min-clients', '2', '--secure-aggregation', '--cohort-size', '3', '--phase-timeout', '45000']).server;
    const { dataDir: _secureDir, ...secure } = secureFlags;
    server = await createAggregationServer({ ...secure, store: createMemoryStore(), initialModel: { modelJson, weights } });
    url = await server.listen({});
    const round = await call(url, '/v1/round');
    expect(round.body).toMatchObject({ roundId: 1, noiseSigma: 0, secure: { cohortSize: 3, minClients: 2, phase: 'advertise', phaseTimeoutMs: 45_000, modulusBits: 32 } });
    const health = await call(url, '/health');
    expect(health.body).toMatchObject({ roundsAbandoned: 0 });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^hearth_secure_aggregation 1$/m);
    expect(metrics).toMatch(/^hearth_rounds_abandoned_total 0$/m);
  });

  it('refuses to start when an honest sum of the cohort could wrap around 32 bits', async () => {
    const { modelJson, weights } = tinyModel();
    await expect(
      createAggregationServer({
        store: createMemoryStore(),
        initialModel: { modelJson, weights },
        siteKeys: [SITE_KEY],
        minClients: 2,
        secureAggregation: true,
        cohortSize: 3,
        noiseMultiplier: 1e5,
        population: 1000,
      }),
    ).rejects.toThrow(/would not fit 32 bits/);
  });
});

describe('the secure routes refuse what a client may not send', () => {
  it('refuses every phase message without a valid site key, before reading the body', async () => {
    const url = await start();
    for (const path of ['join', 'shares', 'masked', 'unmask']) {
      expect(await call(url, `/v1/rounds/1/secagg/${path}`, { body: {}, siteKey: null })).toMatchObject({ status: 401, code: 'bad_site_key' });
      expect(await call(url, `/v1/rounds/1/secagg/${path}`, { body: {}, siteKey: 'not-the-key-000' })).toMatchObject({ status: 401, code: 'bad_site_key' });
    }
    expect(server?.coordinator.counters.rejected.get('bad_site_key')).toBe(8);
    expect(server?.coordinator.status().updates).toBe(0);
  });

  it('refuses joins that are not JSON, lack a key, or carry keys that are not P-256 points', async () => {
    const url = await start();
    const { body } = await joinBody();
    const good = body as { encryptionKey: string; maskingKey: string };
    expect(await call(url, '/v1/rounds/1/secagg/join', { body: 'not json' })).toMatchObject({ status: 400, code: 'malformed' });
    expect(await call(url, '/v1/rounds/1/secagg/join', { body: { encryptionKey: good.encryptionKey } })).toMatchObject({ status: 400, code: 'malformed' });
    expect(await call(url, '/v1/rounds/1/secagg/join', { body: { ...good, extra: 1 } })).toMatchObject({ status: 400, code: 'malformed' });
    // The right length, but not on the curve: it would break every other client's key agreement.
    const offCurve = new Uint8Array(65);
    offCurve[0] = 4;
    offCurve.fill(1, 1);
    expect(await call(url, '/v1/rounds/1/secagg/join', { body: { ...good, maskingKey: toBase64Url(offCurve) } })).toMatchObject({ status: 400, code: 'bad_key' });
    expect(await call(url, '/v1/rounds/1/secagg/join', { body: { ...good, encryptionKey: toBase64Url(new Uint8Array(65)) } })).toMatchObject({ status: 400, code: 'bad_key' });
    expect(server?.coordinator.status().updates).toBe(0);
  });

  it('refuses a second join with the same keys, a join to another round and a join once the cohort is full', async () => {
    const url = await start();
    const first = await joinBody();
    expect((await call(url, '/v1/rounds/1/secagg/join', { body: first.body })).status).toBe(202);
    expect(await call(url, '/v1/rounds/1/secagg/join', { body: first.body })).toMatchObject({ status: 409, code: 'replay' });
    expect(await call(url, '/v1/rounds/2/secagg/join', { body: (await joinBody()).body })).toMatchObject({ status: 409, code: 'wrong_round' });
    for (let i = 0; i < 2; i++) expect((await call(url, '/v1/rounds/1/secagg/join', { body: (await joinBody()).body })).status).toBe(202);
    // Three joined: the roster is closed and the round is sharing.
    expect(await call(url, '/v1/rounds/1/secagg/join', { body: (await joinBody()).body })).toMatchObject({ status: 409, code: 'wrong_phase' });
    expect(server?.coordinator.secure?.info().phase).toBe('share');
  });

  it('answers the state only to tokens it handed out in this round', async () => {
    const url = await start();
    const { tokens } = await toSharePhase(url);
    expect(await call(url, '/v1/rounds/1/secagg/state')).toMatchObject({ status: 401, code: 'bad_token' });
    expect(await call(url, '/v1/rounds/1/secagg/state', { token: 'x'.repeat(43) })).toMatchObject({ status: 401, code: 'bad_token' });
    expect(await call(url, '/v1/rounds/1/secagg/state', { token: 'x'.repeat(500) })).toMatchObject({ status: 401, code: 'bad_token' });
    expect(await call(url, '/v1/rounds/2/secagg/state', { token: tokens[0] as string })).toMatchObject({ status: 409, code: 'wrong_round' });
    const state = await call(url, '/v1/rounds/1/secagg/state', { token: tokens[1] as string });
    expect(state.status).toBe(200);
    expect(state.body).toMatchObject({ roundId: 1, phase: 'share', threshold: 2, done: false });
    expect(state.body.roster).toHaveLength(3);
    expect(state.body.inbox).toBeUndefined();
  });

  it('refuses shares of the wrong shape, out of phase or sent twice, and masked inputs of the wrong size', async () => {
    const url = await start();
    const { participants, tokens } = await toSharePhase(url);
    const token = tokens[0] as string;
    // Out of phase: a masked input while the round is sharing.
    expect(await call(url, '/v1/rounds/1/secagg/masked', { token, body: new Uint8Array(4 * DIM) })).toMatchObject({ status: 409, code: 'wrong_phase' });
    expect(await call(url, '/v1/rounds/1/secagg/shares', { body: { boxes: [] } })).toMatchObject({ status: 400, code: 'malformed' });
    const digest = toBase64Url(new Uint8Array(32));
    const box = toBase64Url(new Uint8Array(12 + 4 + 2 * 49 + 16));
    const shaped = { boxes: [box, box], seedCommitments: [digest, digest], keyCommitments: [digest, digest], seedCommitment: digest, keyCommitment: digest };
    expect(await call(url, '/v1/rounds/1/secagg/shares', { token, body: shaped })).toMatchObject({ status: 400, code: 'malformed' });
    const short = { ...shaped, boxes: [box, box, toBase64Url(new Uint8Array(10))], seedCommitments: [digest, digest, digest], keyCommitments: [digest, digest, digest] };
    expect(await call(url, '/v1/rounds/1/secagg/shares', { token, body: short })).toMatchObject({ status: 400, code: 'malformed' });
    expect(await call(url, '/v1/rounds/1/secagg/shares', { body: { ...short, boxes: [box, box, box] } })).toMatchObject({ status: 401, code: 'bad_token' });

    await deal(url, participants, tokens, [0]);
    const again = { ...short, boxes: [box, box, box] };
    expect(await call(url, '/v1/rounds/1/secagg/shares', { token, body: again })).toMatchObject({ status: 409, code: 'replay' });
    await deal(url, participants, tokens, [1, 2]);
    expect(server?.coordinator.secure?.info().phase).toBe('collect');

    expect(await call(url, '/v1/rounds/1/secagg/masked', { token, body: new Uint8Array(4 * DIM - 4) })).toMatchObject({ status: 400, code: 'bad_length' });
    expect(await call(url, '/v1/rounds/1/secagg/masked', { token, body: new Uint8Array(4 * DIM + 4) })).toMatchObject({ status: 400, code: 'bad_length' });
    expect(await call(url, '/v1/rounds/1/secagg/masked', { token, body: new Uint8Array(0) })).toMatchObject({ status: 400, code: 'empty_body' });
    expect((await call(url, '/v1/rounds/1/secagg/masked', { token, body: new Uint8Array(4 * DIM) })).status).toBe(202);
    expect(await call(url, '/v1/rounds/1/secagg/masked', { token, body: new Uint8Array(4 * DIM) })).toMatchObject({ status: 409, code: 'replay' });
    expect(await call(url, '/v1/rounds/1/secagg/unmask', { token, body: { reveals: [] } })).toMatchObject({ status: 409, code: 'wrong_phase' });
    expect(server?.coordinator.status()).toMatchObject({ roundId: 1, updates: 1, roundsPublished: 0 });
  });

  it('takes no message from a client left out of the sharers or the survivors, and unmasks only the survivors’ sum', async () => {
    // Cohort 6, threshold 4: one client never shares, another never sends its masked input.
    const url = await start({ cohortSize: 6, phaseTimeoutMs: 2000 });
    const { participants, tokens } = await toSharePhase(url, 6);
    await deal(url, participants, tokens, [0, 1, 2, 3, 4]);
    await expect.poll(() => server?.coordinator.secure?.info().phase, { timeout: 10_000 }).toBe('collect');
    expect(await call(url, '/v1/rounds/1/secagg/masked', { token: tokens[5] as string, body: new Uint8Array(4 * DIM) })).toMatchObject({ status: 403, code: 'not_a_sharer' });
    for (const i of [0, 1, 2, 3]) {
      const state = await call(url, '/v1/rounds/1/secagg/state', { token: tokens[i] as string });
      expect(state.body).toMatchObject({ phase: 'collect', sharers: [1, 2, 3, 4, 5], done: false });
      const inbox = (state.body.inbox as string[]).map(fromBase64Url);
      const masked = await (participants[i] as SecureParticipant).mask(new Uint32Array(DIM), state.body.sharers as number[], inbox);
      expect((await call(url, '/v1/rounds/1/secagg/masked', { token: tokens[i] as string, body: new Uint8Array(masked.buffer) })).status).toBe(202);
    }
    await expect.poll(() => server?.coordinator.secure?.info().phase, { timeout: 10_000 }).toBe('unmask');
    expect(await call(url, '/v1/rounds/1/secagg/unmask', { token: tokens[4] as string, body: { reveals: [] } })).toMatchObject({ status: 403, code: 'not_a_survivor' });
    const state = await call(url, '/v1/rounds/1/secagg/state', { token: tokens[0] as string });
    expect(state.body).toMatchObject({ phase: 'unmask', survivors: [1, 2, 3, 4] });
    expect(await call(url, '/v1/rounds/1/secagg/unmask', { token: tokens[0] as string, body: { reveals: ['AA'] } })).toMatchObject({ status: 400, code: 'malformed' });
    for (const i of [0, 1, 2, 3]) {
      const reveals = (participants[i] as SecureParticipant).unmask([1, 2, 3, 4]).map(toBase64Url);
      expect((await call(url, '/v1/rounds/1/secagg/unmask', { token: tokens[i] as string, body: { reveals } })).status).toBe(202);
    }
    await server?.settled();
    // Every survivor's input was zero: the published model is the initial one, as version 2.
    expect(server?.coordinator.status()).toMatchObject({ roundId: 2, modelVersion: '2', roundsPublished: 1, roundsAbandoned: 0 });
    expect(Buffer.from(server?.coordinator.current().weights ?? []).equals(Buffer.from(tinyModel().weights))).toBe(true);
    expect(await call(url, '/v1/rounds/1/secagg/unmask', { token: tokens[0] as string, body: { reveals: [] } })).toMatchObject({ status: 409, code: 'wrong_round' });
  });
});
