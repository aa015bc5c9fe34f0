#!/usr/bin/env node
// Runs a TypeScript entry point without new dependencies: esbuild (already a devDependency)
// bundles the project's own sources into node_modules/.cache (so that packages still resolve from
// node_modules), then Node imports the result. Usage: node bench/run-ts.mjs <entry.ts> [args…]
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node bench/run-ts.mjs <entry.ts> [args…]');
  process.exit(2);
}
const outDir = resolve('node_modules/.cache/hearth-run');
mkdirSync(outDir, { recursive: true });
const outfile = resolve(outDir, `${basename(entry).replace(/\.ts$/, '')}-${process.pid}.mjs`);
await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile, logLevel: 'warning' });
process.argv = [process.argv[0], resolve(entry), ...args];
await import(pathToFileURL(outfile).href);
