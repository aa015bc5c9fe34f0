// One small factory mapped over a table of outputs. Each row is one artefact that ships in dist/.
import { existsSync, mkdirSync, copyFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import nodeResolve from '@rollup/plugin-node-resolve';
import commonjs from '@rollup/plugin-commonjs';
import terser from '@rollup/plugin-terser';
import esbuild from 'rollup-plugin-esbuild';

const require = createRequire(import.meta.url);
const pkg = require('./package.json');
const runtimeDependencies = Object.keys(pkg.dependencies ?? {});
const isExternalDependency = (id) => id.startsWith('node:') || runtimeDependencies.some((dep) => id === dep || id.startsWith(`${dep}/`));

/** The outputs. `bundle: 'all'` inlines every dependency (script tag, worker); 'none' leaves them to npm. */
const outputs = [
  // npm entry: ESM, dependencies left to the app's bundler, types emitted by tsc.
  { input: 'src/index.ts', file: 'dist/hearth.js', format: 'es', bundle: 'none', minify: false, target: 'browser' },
  // Script tag: one minified IIFE exposing the global `Hearth`; no tfjs (size-tested).
  { input: 'src/entries/script-tag.ts', file: 'dist/hearth.iife.js', format: 'iife', name: 'Hearth', bundle: 'all', minify: true, target: 'browser' },
  // The script tag's lazily imported half: the store and the engine client (no tfjs), ESM next to the tag.
  { input: 'src/entries/runtime.ts', file: 'dist/hearth.runtime.js', format: 'es', bundle: 'all', minify: true, target: 'browser' },
  // The engine worker: the only output that contains tfjs. `split`: optional backends (WebGL) load
  // with import() from their own chunk next to it, so the worker stays within its size budget.
  { input: 'src/entries/worker.ts', file: 'dist/hearth.worker.js', format: 'es', bundle: 'all', minify: true, target: 'browser', split: true },
  // The aggregation server and its CLIs (Node).
  { input: 'src/server/index.ts', file: 'dist/server/index.js', format: 'es', bundle: 'none', minify: false, target: 'node' },
  { input: 'src/server/cli.ts', file: 'dist/server/cli.js', format: 'es', bundle: 'none', minify: false, target: 'node', banner: '#!/usr/bin/env node' },
  // The training CLI and its data-parallel training thread, which it starts from the file next to it.
  { input: 'src/train/cli.ts', file: 'dist/cli/train.js', format: 'es', bundle: 'none', minify: false, target: 'node', banner: '#!/usr/bin/env node' },
  { input: 'src/train/train-worker.ts', file: 'dist/cli/train-worker.js', format: 'es', bundle: 'none', minify: false, target: 'node' },
];

/** Copies tfjs's WebAssembly binaries next to the worker, where it points `setWasmPaths`. */
function copyWasmBinaries() {
  return {
    name: 'copy-wasm-binaries',
    writeBundle() {
      const wasmDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
      const from = join(wasmDir, 'dist');
      const to = 'dist/wasm';
      mkdirSync(to, { recursive: true });
      for (const file of readdirSync(from)) if (file.endsWith('.wasm')) copyFileSync(join(from, file), join(to, file));
    },
  };
}

function config({ input, file, format, name, bundle, minify, target, banner, split }) {
  const browser = target === 'browser';
  return {
    input,
    external: bundle === 'all' ? [] : isExternalDependency,
    onwarn(warning, warn) {
      // tfjs is full of `this` at module scope and circular imports; both are harmless.
      if (warning.code === 'THIS_IS_UNDEFINED' || warning.code === 'CIRCULAR_DEPENDENCY') return;
      warn(warning);
    },
    plugins: [
      nodeResolve({ browser, preferBuiltins: !browser, extensions: ['.ts', '.mjs', '.js', '.json'] }),
      commonjs(),
      // `.js` loader off: esbuild resolving .js itself would skip the `browser` field and pull
      // Node built-ins into the wasm backend.
      // ES2022 for browsers: native class fields (Chrome 72, Firefox 69, Safari 14 — older than the
      // module workers and CompressionStream Hearth needs anyway), ~200 bytes less in the 8 KB tag.
      esbuild({ target: browser ? 'es2022' : 'node20', loaders: { '.js': false }, tsconfig: 'tsconfig.json' }),
      // typeofs off: tfjs starts its WASM threads from the threaded factory's own source text
      // (Function#toString into a blob), where a `typeof x !== 'undefined'` guard on a variable of
      // the enclosing module must survive; folded into `x === void 0` it throws in every thread.
      minify && terser({ format: { comments: false }, compress: { passes: 2, typeofs: false } }),
      file === 'dist/hearth.worker.js' && copyWasmBinaries(),
    ].filter(Boolean),
    output: split
      ? { dir: dirname(file), entryFileNames: basename(file), chunkFileNames: `${basename(file, '.js')}.[name]-[hash].js`, format, sourcemap: true, banner }
      : { file, format, name, sourcemap: true, banner, inlineDynamicImports: true },
  };
}

const present = outputs.filter((row) => {
  if (existsSync(row.input)) return true;
  console.warn(`rollup: skipping ${row.file}: ${row.input} does not exist yet`);
  return false;
});

export default present.map(config);
