/**
 * The engine's size budget, against the built dist/: the worker stays under 250 KB gzipped (the
 * `.wasm` files apart), its on-demand chunks exist, and no page-side bundle contains tfjs.
 */
import { describe, expect, test } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { REPO_ROOT } from './harness.js';

const dist = (file: string): string => join(REPO_ROOT, 'dist', file);
const gz = (file: string): number => gzipSync(readFileSync(dist(file))).length;

describe('engine bundle budget', () => {
  test('dist/hearth.worker.js is under 250 KB gzipped and its on-demand chunks are next to it', () => {
    const size = gz('hearth.worker.js');
    console.log(`hearth.worker.js: ${(size / 1024).toFixed(1)} KB gz`);
    expect(size).toBeLessThan(250 * 1024);
    const source = readFileSync(dist('hearth.worker.js'), 'utf8');
    for (const chunk of source.match(/hearth\.worker\.[\w-]+\.js/g) ?? []) expect(existsSync(dist(chunk)), chunk).toBe(true);
    for (const wasm of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) expect(existsSync(dist(`wasm/${wasm}`))).toBe(true);
  });

  test('the page-side bundles never contain tfjs', () => {
    for (const file of ['hearth.js', 'hearth.iife.js', 'hearth.runtime.js']) {
      if (!existsSync(dist(file))) continue;
      const source = readFileSync(dist(file), 'utf8');
      expect(source, file).not.toMatch(/tfjs-core|@tensorflow|registerKernel|setWasmPaths/);
    }
  });
});
