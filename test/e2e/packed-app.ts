/**
 * An app as a user makes one: a fresh folder into which the packed package (`npm pack` of this
 * repository's dist/) is installed with npm, plus whatever else the app needs. Installs prefer
 * npm's cache (filled by `npm ci`), so no test needs more than the registry CI already reached.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, lstatSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './harness.js';

export interface PackedApp {
  dir: string;
  /** Bytes under the app's node_modules after the install. */
  installBytes: number;
  /** The top-level packages the install brought (scoped ones as `@scope/name`). */
  installed: string[];
  remove(): Promise<void>;
}

function bytesUnder(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path)) {
    const full = join(path, entry);
    const info = lstatSync(full);
    total += info.isDirectory() ? bytesUnder(full) : info.size;
  }
  return total;
}

function packagesIn(modules: string): string[] {
  return readdirSync(modules)
    .filter((name) => !name.startsWith('.'))
    .flatMap((name) => (name.startsWith('@') ? readdirSync(join(modules, name)).map((inner) => `${name}/${inner}`) : [name]));
}

const npm = (args: string[], cwd: string): string => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * Packs the repository, installs the tarball into a new app folder, measures the install, then
 * installs `extra` (e.g. react) so that the measurement is of Hearth alone.
 */
export async function createPackedApp(extra: string[] = []): Promise<PackedApp> {
  if (!existsSync(join(REPO_ROOT, 'dist/hearth.js'))) throw new Error('dist/ is missing: run npm run build first');
  const dir = await mkdtemp(join(tmpdir(), 'hearth-app-'));
  const tarball = npm(['pack', '--silent', '--pack-destination', dir], REPO_ROOT).trim().split('\n').pop()!;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  const flags = ['--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'];
  npm(['install', ...flags, join(dir, tarball)], dir);
  const modules = join(dir, 'node_modules');
  const installBytes = bytesUnder(modules);
  const installed = packagesIn(modules);
  if (extra.length > 0) npm(['install', ...flags, ...extra], dir);
  return { dir, installBytes, installed, remove: () => rm(dir, { recursive: true, force: true }) };
}
