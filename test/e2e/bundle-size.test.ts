/**
 * Size budgets of the script-tag outputs, checked on the built dist/ (npm test builds first).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './harness.js';

const BUDGETS = [
  // The tag every storefront page loads: tracker, consent, validation, pre-init queue, page-exit
  // stash. 8.5 KB: the shared event-type table (one row per type for validation, models, ranking)
  // replaced the tag's own lists and costs ~190 bytes more; it was 8,149 bytes before. Issue 14 moved
  // the inline-catalog and consent-platform checks to the runtime (−0.6 KB) and added the queue's
  // ready/recommend commands, the deep merge of a queued init and the report of a runtime that did
  // not load (+0.4 KB): 8,238 bytes measured; 8,214 once its global held only the documented API; 8,461 with experiments' queue commands.
  { file: 'dist/hearth.iife.js', gzipBytes: 8.5 * 1024 },
  // Imported by the tag after load: the IndexedDB store, autocapture, the dataLayer bridge, the engine
  // client. 19.4 KB before issues 14 and 16; issue 14 added the consent-platform bridges (GA4 Consent
  // Mode, TCF: +0.9 KB), the worker's load diagnostics and CDN shim (+0.8 KB); experiments in the page
  // (assignment, Thompson sampling, attribution for experiments.list(), markup) ~3.7 KB: 25,189 bytes
  // (24.6 KB) measured with both, over the 24 KB each branch budgeted alone; 25.5 KB keeps the same
  // headroom. It loads after the page, never blocks it.
  { file: 'dist/hearth.runtime.js', gzipBytes: 25.5 * 1024 },
];

function read(file: string): string {
  const path = join(REPO_ROOT, file);
  if (!existsSync(path)) throw new Error(`${file} is missing: run npm run build first`);
  return readFileSync(path, 'utf8');
}

describe('bundle size', () => {
  for (const { file, gzipBytes } of BUDGETS) {
    it(`${file} is at most ${gzipBytes / 1024} KB gzipped and contains no tfjs`, () => {
      const code = read(file);
      const size = gzipSync(code, { level: 9 }).length;
      console.log(`${file}: ${code.length} bytes, ${size} bytes gzipped (budget ${gzipBytes})`);
      expect(size).toBeLessThanOrEqual(gzipBytes);
      expect(code).not.toMatch(/tensorflow|tfjs|@license/i);
    });
  }

  it('the script tag imports its runtime lazily rather than bundling the store', () => {
    const tag = read('dist/hearth.iife.js');
    expect(tag).toContain('hearth.runtime.js');
    expect(tag).not.toContain('IDBKeyRange');
  });
});
