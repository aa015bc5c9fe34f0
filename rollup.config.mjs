// One small factory mapped over a table of outputs. Each row is one artefact that ships in dist/.
import { existsSync, mkdirSync, copyFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import nodeResolve from '@rollup/plugin-node-resolve';
import commonjs from '@rollup/plugin-commonjs';
import terser from '@rollup/plugin-terser';
import esbuild from 'rollup-plugin-esbuild';
import MagicString from 'magic-string';

const require = createRequire(import.meta.url);
const pkg = require('./package.json');
// Left to npm in the 'none' outputs: dependencies, and the optional peers of the server and CLIs.
const runtimeDependencies = Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies });
const isExternalDependency = (id) => id.startsWith('node:') || runtimeDependencies.some((dep) => id === dep || id.startsWith(`${dep}/`));

/** The outputs. `bundle: 'all'` inlines every dependency (script tag, worker); 'none' leaves them to npm. */
const outputs = [
  // npm entry: ESM, dependencies left to the app's bundler, types emitted by tsc.
  { input: 'src/index.ts', file: 'dist/hearth.js', format: 'es', bundle: 'none', minify: false, target: 'browser' },
  // React bindings (`hearth/react`): react left to the app, Hearth itself imported from hearth.js
  // next to it (`siblings`), so an app has one Hearth, not a second copy inside the bindings.
  { input: 'src/react/index.ts', file: 'dist/react.js', format: 'es', bundle: 'none', minify: false, target: 'browser', siblings: { 'src/index.ts': './hearth.js' } },
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
  // The executables: they check the CLIs' optional peers, then import the CLI next to them.
  { input: 'src/server/bin.ts', file: 'dist/server/bin.js', format: 'es', bundle: 'none', minify: false, target: 'node', banner: '#!/usr/bin/env node' },
  { input: 'src/train/bin.ts', file: 'dist/cli/bin.js', format: 'es', bundle: 'none', minify: false, target: 'node', banner: '#!/usr/bin/env node' },
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

/**
 * No Node globals or modules in browser bundles. tfjs's Node-only code paths (emscripten's glue in
 * tfjs-backend-wasm, tfjs-core's Node platform) name `__filename`, `__dirname` and `require("fs")`,
 * `require("node-fetch")`… behind run-time checks that are false in a browser. Bundlers that
 * re-bundle the worker act on the names anyway: webpack 5 evaluates the `typeof __filename` checks
 * at build time as if in Node and leaves the names undefined (the worker died with "__filename is not
 * defined"), and Vite fails to resolve "node-fetch" in an app that does not have it. In a browser
 * all of them are undefined, so that is what they become.
 */
const NODE_ONLY = /\b__(?:filename|dirname)\b|\brequire\((["'])[^"'\n]+\1\)/g;

function noNodeGlobals() {
  return {
    name: 'no-node-globals',
    transform(code, id) {
      if (code.search(NODE_ONLY) < 0) return null;
      const out = new MagicString(code);
      for (const match of code.matchAll(NODE_ONLY)) out.overwrite(match.index, match.index + match[0].length, '(void 0)');
      return { code: out.toString(), map: out.generateMap({ hires: true, source: id }) };
    },
  };
}

function config({ input, file, format, name, bundle, minify, target, banner, split, siblings }) {
  const browser = target === 'browser';
  const sibling = (id) => Object.entries(siblings ?? {}).find(([source]) => id === resolve(source))?.[1];
  return {
    input,
    external: bundle === 'all' ? [] : (id) => isExternalDependency(id) || sibling(id) !== undefined,
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
      browser && noNodeGlobals(),
      // typeofs off: tfjs starts its WASM threads from the threaded factory's own source text
      // (Function#toString into a blob), where a `typeof x !== 'undefined'` guard on a variable of
      // the enclosing module must survive; folded into `x === void 0` it throws in every thread.
      minify && terser({ format: { comments: false }, compress: { passes: 2, typeofs: false } }),
      file === 'dist/hearth.worker.js' && copyWasmBinaries(),
    ].filter(Boolean),
    output: split
      ? { dir: dirname(file), entryFileNames: basename(file), chunkFileNames: `${basename(file, '.js')}.[name]-[hash].js`, format, sourcemap: true, banner }
      : { file, format, name, sourcemap: true, banner, inlineDynamicImports: true, paths: (id) => sibling(id) ?? id },
  };
}

const present = outputs.filter((row) => {
  if (existsSync(row.input)) return true;
  console.warn(`rollup: skipping ${row.file}: ${row.input} does not exist yet`);
  return false;
});

export default present.map(config);
