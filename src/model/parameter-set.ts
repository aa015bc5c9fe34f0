/**
 * The trainable tensors of a model, in a fixed order with stable names. `getWeights()` and
 * `setWeights()` rely on that order: federated averaging adds the i-th weight of every device.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedWeight } from './contract.js';
import { HearthError } from '../protocol/errors.js';

export class ParameterSet {
  private readonly entries: { name: string; variable: tf.Variable }[] = [];

  /** Registers a trainable tensor; the registration order is the weights' order. */
  add<R extends tf.Rank>(name: string, shape: number[], values: Float32Array): tf.Variable<R> {
    // Inside tidy: the variable shares the initial tensor's data, and the initial tensor itself must go.
    const variable = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true, `${name}_${nextId++}`)) as unknown as tf.Variable<R>;
    this.entries.push({ name, variable });
    return variable;
  }

  get variables(): tf.Variable[] {
    return this.entries.map((e) => e.variable);
  }

  count(): number {
    return this.entries.reduce((n, e) => n + e.variable.size, 0);
  }

  /** Copies every weight out of the backend. */
  get(): NamedWeight[] {
    return this.entries.map(({ name, variable }) => ({
      name,
      shape: [...variable.shape],
      // A copy: the cpu backend's dataSync() hands out its own storage, and callers (federated
      // averaging) may write into what they get.
      values: Float32Array.from(variable.dataSync() as Float32Array),
    }));
  }

  /**
   * Replaces every weight. All-or-nothing: the list is validated (names, order, shapes, finite
   * values) before any variable changes.
   */
  set(weights: readonly NamedWeight[], code: 'invalid_argument' | 'invalid_checkpoint' = 'invalid_argument'): void {
    if (!Array.isArray(weights) || weights.length !== this.entries.length) {
      throw new HearthError(code, `expected ${this.entries.length} weights, got ${Array.isArray(weights) ? weights.length : typeof weights}`);
    }
    this.entries.forEach(({ name, variable }, i) => {
      const w = weights[i];
      if (!w || w.name !== name) throw new HearthError(code, `weight ${i} should be "${name}", got "${String(w?.name)}"`);
      if (!Array.isArray(w.shape) || w.shape.length !== variable.shape.length || w.shape.some((d: number, k: number) => d !== variable.shape[k])) {
        throw new HearthError(code, `weight "${name}" has shape [${String(w.shape)}], expected [${variable.shape.join(',')}]`);
      }
      if (!(w.values instanceof Float32Array) || w.values.length !== variable.size) {
        throw new HearthError(code, `weight "${name}" needs ${variable.size} float32 values`);
      }
      for (let k = 0; k < w.values.length; k++) {
        if (!Number.isFinite(w.values[k])) throw new HearthError(code, `weight "${name}" has a non-finite value at ${k}`);
      }
    });
    this.entries.forEach(({ variable }, i) => {
      const w = weights[i] as NamedWeight;
      tf.tidy(() => variable.assign(tf.tensor(w.values, w.shape, 'float32')));
    });
  }

  dispose(): void {
    for (const e of this.entries) e.variable.dispose();
    this.entries.length = 0;
  }
}

// Variable names must be unique per tfjs engine; two models may live side by side.
let nextId = 0;
