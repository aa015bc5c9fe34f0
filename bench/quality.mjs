#!/usr/bin/env node
// `npm run bench:quality [-- --minutes 9 --rr-minutes 4 --users N …]`: the models' quality benchmark.
// The logic is TypeScript (bench/quality-run.ts) and runs from source through bench/run-ts.mjs, so
// it works right after `npm ci` (no build needed) and measures exactly the code in src/model.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const result = spawnSync(process.execPath, [join(here, 'run-ts.mjs'), join(here, 'quality-run.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
