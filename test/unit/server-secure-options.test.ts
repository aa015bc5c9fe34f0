import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/server/cli-args.js';
import { resolveServerOptions } from '../../src/server/options.js';

describe('secure aggregation settings of hearth-server', () => {
  it('parses --secure-aggregation, --cohort-size and --phase-timeout', () => {
    const config = parseArgs(['--data-dir', '/d', '--site-keys', 'key-one-111', '--min-clients', '20', '--secure-aggregation', '--cohort-size', '30', '--phase-timeout', '60000']);
    expect(config.server).toMatchObject({ secureAggregation: true, cohortSize: 30, phaseTimeoutMs: 60000, minClients: 20 });
    expect(resolveServerOptions(config.server).secure).toEqual({ cohortSize: 30, phaseTimeoutMs: 60000, pollMs: 1000 });
  });

  it('defaults the cohort to one and a half times minClients, so a third may drop out', () => {
    expect(resolveServerOptions({ siteKeys: ['key-one-111'], minClients: 10, secureAggregation: true }).secure?.cohortSize).toBe(15);
    expect(resolveServerOptions({ siteKeys: ['key-one-111'], minClients: 10 }).secure).toBeUndefined();
  });

  it('refuses settings that secure aggregation cannot honour, naming them', () => {
    const base = { siteKeys: ['key-one-111'], secureAggregation: true } as const;
    expect(() => resolveServerOptions({ ...base, robust: 'median' })).toThrow(/robust aggregation/);
    expect(() => resolveServerOptions({ ...base, clientNoise: 0.01 })).toThrow(/clientNoise must be 0/);
    expect(() => resolveServerOptions({ ...base, minClients: 1 })).toThrow(/minClients >= 2/);
    expect(() => resolveServerOptions({ ...base, minClients: 10, cohortSize: 300 })).toThrow(/cohortSize must be an integer in 10–255/);
    expect(() => resolveServerOptions({ siteKeys: ['key-one-111'], cohortSize: 20 })).toThrow(/only with secureAggregation/);
  });
});
