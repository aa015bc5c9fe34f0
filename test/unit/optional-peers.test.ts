import { describe, expect, test } from 'vitest';
import { installHint, missingPackages } from '../../src/shared/optional-peers.js';

describe('the CLIs’ check of their optional peers', () => {
  test('a package whose resolution fails with ERR_MODULE_NOT_FOUND is missing; other failures are left to loading', () => {
    const resolve = (name: string): string => {
      if (name === 'gone') throw Object.assign(new Error(`Cannot find package '${name}'`), { code: 'ERR_MODULE_NOT_FOUND' });
      if (name === 'odd') throw Object.assign(new Error('no "." export'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
      return `file:///node_modules/${name}/index.js`;
    };
    expect(missingPackages(['here', 'gone', 'odd'], resolve)).toEqual(['gone']);
    expect(missingPackages(['fastify'], (name) => import.meta.resolve(name))).toEqual([]);
    expect(missingPackages(['surely-not-installed-hearth-peer'], (name) => import.meta.resolve(name))).toEqual(['surely-not-installed-hearth-peer']);
  });

  test('the hint names the command, every missing package and the npm command that installs them', () => {
    expect(installHint('hearth-train', ['@tensorflow/tfjs', 'csv-parse'])).toBe(
      'hearth-train needs packages that a browser app does not install (optional peer dependencies of hearth): @tensorflow/tfjs, csv-parse.\nInstall them next to hearth:\n  npm install @tensorflow/tfjs csv-parse\n',
    );
    expect(installHint('hearth-server', ['fastify'])).toContain('needs a package');
  });
});
