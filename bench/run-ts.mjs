#!/usr/bin/env node
// Runs a TypeScript entry point without new dependencies: esbuild (already a devDependency)
// bundles the project's own sources into node_modules/.cache (so that packages still resolve from
// node_modules), then Node imports the result. The data-parallel training thread
// (src/train/train-worker.ts) is bundled next to it, where src/train/data-parallel.ts looks for it.
// Usage: node bench/run-ts.mjs <entry.ts> [args…]
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node bench/run-ts.mjs <entry.ts> [args…]');
  process.exit(2);
}
// One folder per process: two benchmarks running side by side never overwrite each other's bundle.
const outDir = resolve('node_modules/.cache/hearth-run', String(process.pid));
mkdirSync(outDir, { recursive: true });
const name = basename(entry).replace(/\.ts$/, '');
await build({
  entryPoints: [
    { in: entry, out: name },
    { in: 'src/train/train-worker.ts', out: 'train-worker' },
  ],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  outdir: outDir,
  outExtension: { '.js': '.js' },
  logLevel: 'warning',
});
process.argv = [process.argv[0], resolve(entry), ...args];
await import(pathToFileURL(resolve(outDir, `${name}.js`)).href);
