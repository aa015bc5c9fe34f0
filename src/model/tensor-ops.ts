/**
 * Small tfjs-core building blocks shared by the recommender and the intent model. Only
 * `@tensorflow/tfjs-core` is imported: tfjs-layers would blow the worker's size budget.
 */
import * as tf from '@tensorflow/tfjs-core';

type Lookup = (table: tf.Tensor, ids: tf.Tensor) => tf.Tensor2D;

let lookupImpl: Lookup | undefined;

/**
 * `tf.gather(table, ids)` with a `scatterND` gradient.
 *
 * Why: the stock gradient of `gather` goes through `UnsortedSegmentSum`, which takes ~28 s per
 * SASRec step on the cpu backend and is not registered at all on wasm. `scatterND` sums duplicate
 * indices, so the gradient is exact. The index tensor is an input and is `save()`d: a tensor only
 * captured by the closure is freed after the forward pass (WebGL then fails in `moveData`).
 *
 * @example
 * ```ts
 * const rows = embeddingLookup(table, tf.tensor1d([3, 1, 3], 'int32')); // [3, dims]
 * ```
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  // Created lazily so that importing this module does nothing.
  lookupImpl ??= tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [table, ids, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    save([ids]);
    const shape = table.shape;
    return {
      value: tf.gather(table, ids),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const savedIds = saved[0] as tf.Tensor1D;
        return [tf.scatterND(tf.expandDims(savedIds, 1), dy, shape), tf.zeros(savedIds.shape)];
      },
    };
  }) as Lookup;
  return lookupImpl(table, ids);
}

/** Layer normalisation over the last axis. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-6): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon))), gamma), beta);
}

/** `x · w + b` for a 2-D `x`. */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return tf.add(tf.matMul(x, w), b);
}

/** Dropout only while training (tfjs-core's `dropout` is always on). */
export function maybeDropout<T extends tf.Tensor>(x: T, rate: number, training: boolean): T {
  return training && rate > 0 ? (tf.dropout(x, rate) as T) : x;
}

/** Resolves after a macrotask, so that a worker answers messages between training batches. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
