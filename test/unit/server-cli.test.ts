import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/server/cli-args.js';

describe('hearth-server flags', () => {
  it('parses every flag into server options', () => {
    const config = parseArgs([
      '--port',
      '9000',
      '--host',
      '0.0.0.0',
      '--data-dir',
      '/d',
      '--model-dir',
      '/m',
      '--min-clients',
      '20',
      '--aggregator',
      'fedadam',
      '--server-lr',
      '0.02',
      '--clip',
      '0.5',
      '--noise-multiplier',
      '1.1',
      '--client-noise',
      '0.001',
      '--population',
      '10000',
      '--epsilon-budget',
      '8',
      '--delta',
      '1e-6',
      '--robust',
      'none',
      '--trim',
      '0.2',
      '--epochs',
      '2',
      '--bits',
      '16',
      '--site-keys',
      'key-one-111,key-two-222',
      '--origins',
      'https://a.example,https://b.example',
      '--rate-limit',
      '30',
      '--body-limit',
      '1000000',
    ]);
    expect(config).toMatchObject({ port: 9000, host: '0.0.0.0', help: false });
    expect(config.server).toEqual({
      dataDir: '/d',
      modelDir: '/m',
      minClients: 20,
      aggregator: 'fedadam',
      serverLr: 0.02,
      clip: 0.5,
      noiseMultiplier: 1.1,
      clientNoise: 0.001,
      population: 10000,
      epsilonBudget: 8,
      delta: 1e-6,
      robust: 'none',
      trim: 0.2,
      epochs: 2,
      bits: 16,
      siteKeys: ['key-one-111', 'key-two-222'],
      origins: ['https://a.example', 'https://b.example'],
      rateLimit: 30,
      bodyLimit: 1000000,
    });
  });

  it('falls back to the environment and to loopback', () => {
    const config = parseArgs([], { HEARTH_DATA_DIR: '/data', HEARTH_SITE_KEYS: 'abcdefgh1', PORT: '8080' });
    expect(config).toMatchObject({ port: 8080, host: '127.0.0.1', server: { dataDir: '/data', siteKeys: ['abcdefgh1'] } });
  });

  it('names the bad flag', () => {
    expect(() => parseArgs(['--data-dir', '/d', '--clip', 'wide'])).toThrow(/--clip must be a number/);
    expect(() => parseArgs(['--data-dir', '/d', '--bits', '4'])).toThrow(/--bits must be 8 or 16/);
    expect(() => parseArgs(['--clip', '1'])).toThrow(/--data-dir is required/);
    expect(() => parseArgs(['--data-dir', '/d', '--frobnicate'])).toThrow(/frobnicate/);
  });
});
