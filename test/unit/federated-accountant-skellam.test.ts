import { describe, expect, it } from 'vitest';
import { computeRdp, computeRdpSkellam, epsilonFromRdp, RdpAccountant, skellamRdp, subsampledRdp } from '../../src/federated/accountant.js';

/** The orders of the reference implementation (google-research/federated, distributed_dp). */
const REFERENCE_ORDERS = [...Array.from({ length: 127 }, (_, i) => i + 2), 256];

describe('RDP accountant of the distributed Skellam mechanism', () => {
  // Reference values: the Skellam RDP of Agarwal, Kairouz & Liu (NeurIPS 2021) as their published
  // implementation computes it (google-research/federated, distributed_dp/accounting_utils.py,
  // `_skellam_rdp`, `_compute_rdp_subsampled` with the general bound, `skellam_epsilon` with
  // rounding=False) and TensorFlow Privacy's RDP → (ε, δ) conversion, evaluated at these inputs.
  it('matches the reference RDP of one Skellam mechanism at integer orders', () => {
    const p = { l1: 1000, l2: 100, variance: 120 ** 2 };
    expect(skellamRdp(2, p)).toBeCloseTo(0.6944878472222222, 12);
    expect(skellamRdp(10, p)).toBeCloseTo(3.472458526234568, 12);
  });

  it('matches the reference epsilon without sampling: 3.8454 (l2 100, l1 1000, sigma 120, delta 1e-5)', () => {
    const rdp = computeRdpSkellam(1, { l1: 1000, l2: 100, variance: 120 ** 2 }, 1, REFERENCE_ORDERS);
    const { epsilon, order } = epsilonFromRdp(REFERENCE_ORDERS, rdp, 1e-5);
    expect(epsilon).toBeCloseTo(3.8453848290828754, 9);
    expect(order).toBe(6);
  });

  it('matches the reference epsilon where the Skellam correction term matters: 14.206 (l2 3, l1 9, sigma 4, 10 steps)', () => {
    const rdp = computeRdpSkellam(1, { l1: 9, l2: 3, variance: 16 }, 10, REFERENCE_ORDERS);
    expect(epsilonFromRdp(REFERENCE_ORDERS, rdp, 1e-5).epsilon).toBeCloseTo(14.205988355042894, 9);
  });

  it('matches the reference subsampled epsilon: 2.0151 (q 0.01, 1000 steps, l2 1000, l1 50000, sigma 1100)', () => {
    const p = { l1: 50_000, l2: 1000, variance: 1100 ** 2 };
    expect(subsampledRdp(0.01, 8, (a) => skellamRdp(a, p))).toBeCloseTo(0.0008009791928239109, 14);
    const rdp = computeRdpSkellam(0.01, p, 1000, REFERENCE_ORDERS);
    expect(epsilonFromRdp(REFERENCE_ORDERS, rdp, 1e-5).epsilon).toBeCloseTo(2.015088360669444, 8);
  });

  // Zhu & Wang's bound with coefficients 1 is exact for the Gaussian: it must give TensorFlow
  // Privacy's value for q = 0.1, sigma = 2, 10 steps at order 5 (rdp_accountant_test.py).
  it('reproduces TensorFlow Privacy for the sampled Gaussian with the tight subsampling coefficients', () => {
    expect(10 * subsampledRdp(0.1, 5, (a) => a / (2 * 4), true)).toBeCloseTo(0.07737, 5);
    expect(10 * subsampledRdp(0.1, 5, (a) => a / (2 * 4))).toBeGreaterThan(computeRdp(0.1, 2, 10, [5])[0] as number);
  });

  it('approaches the Gaussian mechanism when the noise is large against the sensitivity', () => {
    const l2 = 1e4;
    const skellam = computeRdpSkellam(1, { l1: l2 * 100, l2, variance: (2 * l2) ** 2 }, 1, [2, 8, 32]);
    const gauss = computeRdp(1, 2, 1, [2, 8, 32]);
    skellam.forEach((r, i) => expect(r / (gauss[i] as number)).toBeCloseTo(1, 3));
  });

  it('composes with Gaussian rounds, survives a JSON round trip and costs more with less noise (dropouts)', () => {
    const a = new RdpAccountant();
    a.step(0.05, 1.0, 3);
    a.stepSkellam(0.001, { l1: 1e6, l2: 1e3, variance: 1e6 }, 5);
    const restored = new RdpAccountant(JSON.parse(JSON.stringify(a.history)));
    expect(restored.epsilon(1e-5)).toBeCloseTo(a.epsilon(1e-5), 12);
    expect(a.rounds).toBe(8);
    const planned = new RdpAccountant();
    planned.stepSkellam(0.001, { l1: 1e6, l2: 1e3, variance: 1e6 }, 100);
    const dropped = new RdpAccountant();
    dropped.stepSkellam(0.001, { l1: 1e6, l2: 1e3, variance: 1e6 * (34 / 50) }, 100);
    expect(dropped.epsilon(1e-5)).toBeGreaterThan(planned.epsilon(1e-5));
  });
});
