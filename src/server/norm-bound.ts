/**
 * The norm check of an upload, with a tolerance the server derives from what it knows itself
 * (the clip bound, the on-device noise it asked for, the quantization width, the model's layout)
 * and from the decoded values — never from the quantization scale the client declares, which an
 * attacker could inflate to widen the tolerance at will.
 *
 * What an honest client sends: `v = clip(u) + n`, with ‖clip(u)‖ ≤ C and n ~ N(0, σ²) per
 * coordinate, then each tensor quantized with scale s_t = max|v_t| / qmax and stochastic rounding,
 * whose error is below s_t per coordinate. Hence, deterministically except for the noise:
 *
 * - ‖n‖ ≤ σ(√d + 6): the Gaussian norm concentrates (P[‖n‖ > σ(√d + t)] ≤ e^(−t²/2); t = 6 → 2e-8);
 * - ‖v‖ ≤ B := C(1 + 1e-3) + σ(√d + 6) (the 1e-3 absorbs float32 rounding of the clipping);
 * - max|v_t| ≤ ‖v_t‖ ≤ B, and an honest quantizer maps that maximum to exactly ±qmax, so the
 *   decoded maximum of each tensor *is* its scale times qmax: s_t = min(max|x_t|, B) / qmax;
 * - ‖x‖ ≤ ‖v‖ + ‖x − v‖ ≤ B + √(Σ_t n_t · s_t²).
 *
 * Whatever scale a client declares, the accepted norm is at most B(1 + √(max_t n_t) / qmax), a
 * bound that only the server's own settings and the model's layout set (and the server clips every
 * update to C again before summing it).
 */

export interface NormCheckInput {
  /** The L2 bound the server asks clients to clip to. */
  clip: number;
  /** σ of the on-device noise the server asks clients to add (0: none). */
  clientNoise: number;
  bits: 8 | 16;
  /** The decoded (dequantized) tensors of the update. */
  tensors: readonly { values: Float32Array }[];
}

export interface NormCheck {
  /** L2 norm of the decoded update. */
  norm: number;
  /** The largest norm an honest client can produce under these settings. */
  allowed: number;
}

/**
 * @example
 * ```ts
 * const { norm, allowed } = checkUpdateNorm({ clip: 1, clientNoise: 0, bits: 8, tensors: decoded.tensors });
 * if (norm > allowed) reject();
 * ```
 */
export function checkUpdateNorm(input: NormCheckInput): NormCheck {
  const qmax = input.bits === 8 ? 127 : 32767;
  let values = 0;
  for (const t of input.tensors) values += t.values.length;
  const bound = input.clip * (1 + 1e-3) + input.clientNoise * (Math.sqrt(values) + 6);
  let sum = 0;
  let quantization = 0;
  for (const t of input.tensors) {
    let maxAbs = 0;
    for (let i = 0; i < t.values.length; i++) {
      const v = t.values[i] as number;
      sum += v * v;
      const a = Math.abs(v);
      if (a > maxAbs) maxAbs = a;
    }
    // The float32 product q·scale may round the maximum up by one ulp: a hair of slack.
    const scale = (Math.min(maxAbs, bound) / qmax) * (1 + 1e-6);
    quantization += t.values.length * scale * scale;
  }
  return { norm: Math.sqrt(sum), allowed: bound + Math.sqrt(quantization) };
}
