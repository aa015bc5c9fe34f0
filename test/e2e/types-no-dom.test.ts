/**
 * The published types, as a TypeScript consumer without the DOM lib (and without Node's types)
 * sees them: test/fixtures/types-no-dom/consumer.ts compiles against dist/hearth.d.ts with
 * `lib: ["ES2022"]`, `types: []` and `skipLibCheck: false`, and `hasErrorCode` narrows `unknown`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { REPO_ROOT } from './harness.js';

test('the published types compile without the DOM lib, and hasErrorCode is a type guard', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { types: string; exports: { '.': { types: string } } };
  expect(pkg.exports['.'].types).toBe(pkg.types);
  expect(existsSync(join(REPO_ROOT, pkg.types)), `${pkg.types} is missing: run npm run build first`).toBe(true);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  let output = '';
  try {
    execFileSync(process.execPath, [tsc, '-p', join(REPO_ROOT, 'test/fixtures/types-no-dom/tsconfig.json')], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    output = String((error as { stdout?: string }).stdout ?? error);
  }
  expect(output).toBe('');
});
