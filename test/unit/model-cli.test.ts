import { describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeModel } from '../../src/protocol/model-file.js';

/** Runs the training CLI from source, as `npm run train -- …` does. */
function train(args: string[]): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, ['bench/run-ts.mjs', 'src/train/cli.ts', ...args], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('hearth-train CLI', () => {
  test('trains from "user item" lines and a catalog and writes a loadable model.json + weights.bin', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hearth-train-'));
    const lines = Array.from({ length: 30 }, (_, u) => Array.from({ length: 5 }, (_, t) => `${u} ${(u + t) % 8}`).join('\n')).join('\n');
    writeFileSync(join(dir, 'log.txt'), lines);
    writeFileSync(
      join(dir, 'catalog.json'),
      JSON.stringify([
        { id: '0', title: 'Zero', category: 'a', brand: 'b', price: 3, inStock: true },
        { id: 'extra', title: 'Extra', inStock: false },
      ]),
    );
    const run = train([
      '--input',
      join(dir, 'log.txt'),
      '--catalog',
      join(dir, 'catalog.json'),
      '--out',
      join(dir, 'out'),
      '--epochs',
      '2',
      '--dims',
      '8',
      '--blocks',
      '1',
      '--heads',
      '1',
      '--threads',
      '2',
      '--final-epochs',
      '1',
    ]);
    expect(run.output).toContain('wrote');
    // After the two validated epochs, one more over the whole log (held-out items included).
    expect(run.output).toMatch(/epoch 3 over the whole log: \d+ s, loss \d/);
    expect(run.output).toMatch(/then 1 over the whole log/);
    expect(run.status).toBe(0);
    // Validation on each user's last item: the curve and the chosen blend are printed.
    expect(run.output).toMatch(/validation curve \(time → NDCG@10\): \d+ s → \d\.\d{4}/);
    expect(run.output).toMatch(/neighbour weight [\d.]+ on validation/);
    const checkpoint = decodeModel(
      JSON.parse(readFileSync(join(dir, 'out', 'model.json'), 'utf8')),
      new Uint8Array(readFileSync(join(dir, 'out', 'weights.bin'))),
      new Uint8Array(readFileSync(join(dir, 'out', 'neighbours.bin'))),
    );
    expect(checkpoint.tables?.map((t) => t.name)).toEqual(['recommender/neighbours/offsets', 'recommender/neighbours/ids', 'recommender/neighbours/counts']);
    // A 9-item catalogue trains with the exact full softmax, and the model file says so.
    expect((checkpoint.config as { config: { loss: string } }).config.loss).toBe('softmax');
    const stored = checkpoint.config as { items: { id: string; popularity?: number }[] };
    expect(stored.items.slice(0, 2).map((i) => i.id)).toEqual(['0', 'extra']);
    expect(stored.items).toHaveLength(9);
    // Each item's share of the log travels with the model (for trending()); the catalog-only item has none.
    expect(stored.items[1]?.popularity).toBeUndefined();
    const shares = stored.items.map((i) => i.popularity ?? 0);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 3);
    expect(Math.min(...shares.filter((x) => x > 0))).toBeGreaterThan(0.1);
  }, 60_000);

  test('reports a malformed line by number and a missing file clearly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hearth-train-'));
    writeFileSync(join(dir, 'bad.txt'), '1 2\n1 3\nnot-a-pair-line with three words\n');
    const bad = train(['--input', join(dir, 'bad.txt'), '--out', join(dir, 'out')]);
    expect(bad.status).toBe(1);
    expect(bad.output).toMatch(/line 3/);
    const missing = train(['--input', join(dir, 'nope.txt'), '--out', join(dir, 'out')]);
    expect(missing.status).toBe(2);
    expect(missing.output).toMatch(/does not exist/);
  }, 60_000);
});
