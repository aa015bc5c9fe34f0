// Lint: typescript-eslint (no floating promises, no unused code) and the architecture as import
// boundaries. `npm test` runs it; a broken boundary fails CI.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import boundaries from 'eslint-plugin-boundaries';

/** The parts of the design, by folder (patterns match whole paths from the repository root). */
const ELEMENTS = [
  { type: 'protocol', pattern: 'src/protocol/**', partialMatch: false },
  { type: 'entries', pattern: 'src/entries/**', partialMatch: false },
  { type: 'tracker', pattern: 'src/tracker/**', partialMatch: false },
  { type: 'consent', pattern: 'src/consent/**', partialMatch: false },
  { type: 'hearth', pattern: 'src/hearth/**', partialMatch: false },
  { type: 'client', pattern: 'src/client/**', partialMatch: false },
  { type: 'store', pattern: 'src/store/**', partialMatch: false },
  { type: 'worker', pattern: 'src/worker/**', partialMatch: false },
  { type: 'model', pattern: 'src/model/**', partialMatch: false },
  { type: 'federated', pattern: 'src/federated/**', partialMatch: false },
  { type: 'train', pattern: 'src/train/**', partialMatch: false },
  { type: 'server', pattern: 'src/server/**', partialMatch: false },
  { type: 'shared', pattern: 'src/shared/**', partialMatch: false },
  { type: 'experiments', pattern: 'src/experiments/**', partialMatch: false },
];

const PAGE = ['tracker', 'consent', 'hearth', 'client', 'store', 'shared', 'protocol', 'experiments'];

/** A policy: elements of the `from` types may import elements of the `to` types. */
function allow(from, to) {
  const types = (t) => ({ types: { anyOf: [t].flat() } });
  return { from: { element: types(from) }, allow: { to: { element: types(to) } } };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'demo/**', 'test-results/**', 'scratch/**', 'bench/**', 'scripts/**', '**/*.mjs', 'test/fixtures/**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-unused-expressions': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'boundaries/elements': ELEMENTS,
      'boundaries/include': ['src/**/*.ts'],
      // The public API: it re-exports from every page-side part.
      'boundaries/ignore': ['src/index.ts'],
      'import/resolver': { typescript: { project: './tsconfig.json' } },
    },
    rules: {
      'boundaries/no-unknown-files': 'error',
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          message: '{{from.type}} must not import {{to.type}} (the architecture: README, Development)',
          policies: [
            // Imports nothing of Hearth's: what both processes (and the server) agree on.
            allow('protocol', ['protocol']),
            // The page: never the worker, the models, tfjs or Node.
            allow(['tracker', 'consent', 'shared'], PAGE),
            // Experiments' pure logic (assignment, attribution, layouts, randomized response,
            // statistics, Thompson sampling): the page, the worker and the server share it.
            allow('experiments', ['experiments', 'protocol', 'shared']),
            allow('store', ['store', 'protocol', 'shared']),
            allow(['hearth', 'client'], PAGE),
            // One file per bundle; which side each bundle may reach is checked in test/e2e/bundle-size.test.ts
            // and engine-bundle.test.ts (no tfjs outside the worker bundle).
            allow('entries', [...PAGE, 'entries', 'worker']),
            // The worker: the models, federated learning, the store; never the page's code.
            allow('worker', ['worker', 'model', 'federated', 'store', 'protocol', 'shared', 'experiments']),
            // The models are pure tfjs: data in, tensors out; no storage, no engine.
            allow('model', ['model', 'protocol', 'shared']),
            allow('federated', ['federated', 'model', 'store', 'protocol', 'shared', 'experiments']),
            // Node only.
            allow('train', ['train', 'model', 'protocol', 'shared']),
            allow('server', ['server', 'federated', 'protocol', 'shared', 'experiments']),
          ],
        },
      ],
      'no-restricted-imports': ['error', { patterns: [{ group: ['@tensorflow/*'], message: 'tfjs lives in the worker bundle, src/model and src/train only.' }] }],
    },
  },
  {
    // Tests reach into pages and workers (window globals, comlink proxies) where a precise type buys nothing.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Where tfjs may be imported.
    files: ['src/model/**/*.ts', 'src/worker/**/*.ts', 'src/train/**/*.ts', 'src/entries/worker.ts', 'test/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
);
