/**
 * Durability: a server killed with SIGKILL at any moment restarts into the same round with every
 * acknowledged update kept and none counted twice. The real CLI runs in a child process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';
import { LAYOUT, SITE_KEY, tinyModel, updateBody } from './server-fixtures.js';

const REPO = join(import.meta.dirname, '../..');
// Next to node_modules, so that the bundle's bare imports (fastify) resolve.
const CLI = join(REPO, 'node_modules/.cache/hearth-server-test/cli.mjs');
let work: string;
let modelDir: string;

beforeAll(async () => {
  await build({ entryPoints: [join(REPO, 'src/server/cli.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: CLI, logLevel: 'silent' });
  work = await mkdtemp(join(tmpdir(), 'hearth-durability-'));
  modelDir = join(work, 'model');
  await mkdir(modelDir);
  const { modelJson, weights } = tinyModel();
  await writeFile(join(modelDir, 'model.json'), JSON.stringify(modelJson));
  await writeFile(join(modelDir, 'weights.bin'), weights);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  url: string;
}

async function startServer(dataDir: string, minClients: number): Promise<Running> {
  const child = spawn(
    process.execPath,
    [CLI, '--data-dir', dataDir, '--model-dir', modelDir, '--site-keys', SITE_KEY, '--min-clients', String(minClients), '--port', '0', '--rate-limit', '1000000', '--bits', '16'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => resolve((JSON.parse(line) as { listening: string }).listening));
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
  });
  return { child, url };
}

async function kill(running: Running): Promise<void> {
  const exited = new Promise((done) => running.child.once('exit', done));
  running.child.kill('SIGKILL');
  await exited;
}

async function health(url: string): Promise<{ roundId: number; modelVersion: string; updates: number }> {
  return (await (await fetch(`${url}/health`)).json()) as { roundId: number; modelVersion: string; updates: number };
}

function upload(url: string, round: number, body: Buffer): Promise<number> {
  return fetch(`${url}/v1/rounds/${round}/updates`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-hearth-site-key': SITE_KEY },
    body: new Uint8Array(body),
  }).then((res) => res.status);
}

describe('aggregation server durability', () => {
  it('keeps every acknowledged update and counts none twice across SIGKILL mid-stream', async () => {
    const dataDir = join(work, 'data-stream');
    const bodies = await Promise.all(Array.from({ length: 120 }, (_, i) => updateBody({ seed: 1000 + i, norm: 0.3 })));
    let server = await startServer(dataDir, 1000);
    const acknowledged = new Set<number>();
    const unknown = new Set<number>();
    let killed = false;
    // Eight uploads in flight at a time; the kill lands while some are being written.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < bodies.length && !killed) {
        const i = next++;
        try {
          const status = await upload(server.url, 1, (bodies[i] as { body: Buffer }).body);
          if (status === 202) acknowledged.add(i);
          else unknown.add(i);
        } catch {
          unknown.add(i);
        }
        if (acknowledged.size >= 40 && !killed) {
          killed = true;
          await kill(server);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(killed).toBe(true);

    server = await startServer(dataDir, 1000);
    const afterRestart = await health(server.url);
    expect(afterRestart.roundId).toBe(1);
    // Everything acknowledged survived; at most the uploads in flight at the kill were added.
    expect(afterRestart.updates).toBeGreaterThanOrEqual(acknowledged.size);
    expect(afterRestart.updates).toBeLessThanOrEqual(acknowledged.size + unknown.size);
    // Replays of acknowledged updates are refused: nothing counts twice.
    for (const i of acknowledged) expect(await upload(server.url, 1, (bodies[i] as { body: Buffer }).body)).toBe(409);
    // Updates whose fate was unknown are either already in (409) or accepted now (202).
    for (const i of unknown) expect([202, 409]).toContain(await upload(server.url, 1, (bodies[i] as { body: Buffer }).body));
    const final = await health(server.url);
    expect(final.updates).toBe(acknowledged.size + unknown.size);
    await kill(server);
  });

  it('publishes exactly once when killed around the publication of a round', async () => {
    for (const [attempt, delayMs] of [0, 5, 30].entries()) {
      const dataDir = join(work, `data-publish-${attempt}`);
      let server = await startServer(dataDir, 5);
      const bodies = await Promise.all(Array.from({ length: 5 }, (_, i) => updateBody({ seed: 2000 + 10 * attempt + i, norm: 0.3 })));
      for (const { body } of bodies) expect(await upload(server.url, 1, body)).toBe(202);
      await new Promise((done) => setTimeout(done, delayMs));
      await kill(server);
      server = await startServer(dataDir, 5);
      // Either it published before the kill, or it publishes on restart from the five on disk.
      let state = await health(server.url);
      for (let i = 0; i < 100 && state.roundId === 1; i++) {
        await new Promise((done) => setTimeout(done, 50));
        state = await health(server.url);
      }
      expect(state).toMatchObject({ roundId: 2, modelVersion: '2', updates: 0 });
      for (const { body } of bodies) expect(await upload(server.url, 1, body)).toBe(409);
      const weights = new Float32Array(await (await fetch(`${server.url}/v1/model/weights.bin`)).arrayBuffer());
      expect(weights.length).toBe(LAYOUT.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0));
      // The published model is the initial one plus the mean of the five updates, applied once.
      const initial = tinyModel().tensors.flatMap((t) => Array.from(t.values));
      const mean = initial.map((_, j) => bodies.reduce((s, b) => s + (b.tensors.flatMap((t) => Array.from(t.values))[j] as number), 0) / 5);
      initial.forEach((w, j) => expect(Math.abs((weights[j] as number) - w - (mean[j] as number))).toBeLessThan(1e-4));
      await kill(server);
    }
  });
});
