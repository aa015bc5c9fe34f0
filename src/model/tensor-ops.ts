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
  // No gradient is being recorded (serving): the plain op, without the custom-gradient scope (~60 µs a call on wasm).
  if (!tf.engine().isTapeOn()) return tf.gather(table, ids);
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

type MatMul = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
let matMulImpl: MatMul | undefined;

function transposeLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  perm[perm.length - 1] = perm.length - 2;
  perm[perm.length - 2] = perm.length - 1;
  return tf.transpose(x, perm);
}

/**
 * `a · b` (2-D, or batched with equal batch dims) whose gradient transposes explicitly.
 *
 * Why: on the wasm backend a `matMul` with `transposeA`/`transposeB` set is ~10× slower than an
 * explicit `transpose` followed by a plain `matMul` (measured: 4096×64 by 64×256, 159 ms vs 16 ms),
 * and the stock matMul gradient uses both flags. Never pass transpose flags in model code.
 *
 * @example
 * ```ts
 * const logits = fastMatMul(hidden, tf.transpose(itemVectors)); // [positions, items]
 * ```
 */
export function fastMatMul<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  if (!tf.engine().isTapeOn()) return tf.matMul(a, b) as T;
  matMulImpl ??= tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([a, b]);
    return {
      value: tf.matMul(a, b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
        return [tf.matMul(dy, transposeLast(sb)), tf.matMul(transposeLast(sa), dy)];
      },
    };
  }) as MatMul;
  return matMulImpl(a, b) as T;
}

type TargetCrossEntropy = (logits: tf.Tensor, targets: tf.Tensor) => tf.Tensor1D;
let targetCrossEntropyImpl: TargetCrossEntropy | undefined;

/**
 * Per-row softmax cross-entropy of `[rows, classes]` logits against one target class per row
 * (`targets`, int32 `[rows]`), with the closed-form gradient `softmax(logits) − onehot(target)`.
 *
 * Why custom: the stock gradient of `logSumExp` goes through `Max`, whose gradient is a
 * broadcasting `Equal` that took ~220 ms per SASRec step on wasm. The one-hot is made on the
 * backend: built in JavaScript it was 2 MB to upload every step (512 positions × 1,025 classes).
 *
 * @example
 * ```ts
 * const losses = targetCrossEntropy(logits, tf.zeros([rows], 'int32')); // target: column 0
 * ```
 */
export function targetCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  targetCrossEntropyImpl ??= tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [logits, targets, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    const logProbabilities = tf.logSoftmax(logits);
    save([logProbabilities, targets]);
    const classes = logits.shape[1];
    // An int32 one-hot cast to float: tfjs-backend-wasm 4.22 writes oneHot(..., 'float32') as
    // integer bits (1 reads as 1.4e-45).
    const oneHot = (t: tf.Tensor1D): tf.Tensor2D => tf.cast(tf.oneHot(t, classes), 'float32') as tf.Tensor2D;
    return {
      value: tf.neg(tf.sum(tf.mul(oneHot(targets), logProbabilities), 1)) as tf.Tensor1D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [logP, t] = saved as [tf.Tensor2D, tf.Tensor1D];
        return [tf.mul(tf.expandDims(dy, 1), tf.sub(tf.exp(logP), oneHot(t))), tf.zerosLike(t)];
      },
    };
  }) as TargetCrossEntropy;
  return targetCrossEntropyImpl(logits, targets);
}

/** Layer normalisation over the last axis. */
export function layerNorm(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-6): tf.Tensor2D {
  // The centred input once (tf.moments computes it internally and would make it again here).
  const centred = tf.sub(x, tf.mean(x, -1, true));
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, epsilon))), gamma), beta);
}

/** `x · w + b` for a 2-D `x`. */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return tf.add(fastMatMul(x, w), b);
}

/** Dropout only while training (tfjs-core's `dropout` is always on). */
export function maybeDropout<T extends tf.Tensor>(x: T, rate: number, training: boolean): T {
  return training && rate > 0 ? (tf.dropout(x, rate) as T) : x;
}

/** Resolves after a macrotask, so that a worker answers messages between training batches. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The parts of tfjs-backend-wasm 4.x that {@link readInto} reads directly. */
interface WasmBackendInternals {
  wasm?: { HEAPU8?: Uint8Array };
  dataIdMap?: { get(dataId: object): { memoryOffset?: number } | undefined };
}

/**
 * Copies a float32 tensor's values into `into` at `offset` without allocating.
 *
 * Why: `dataSync()` allocates a fresh copy each call; reading a 1.2 M-value gradient that way
 * every training step costs 1–12 ms (garbage collection of the copies), against 0.2 ms for a
 * copy straight out of the WASM heap. Other backends (and other tfjs versions) take the
 * `dataSync()` path.
 */
export function readInto(tensor: tf.Tensor, into: Float32Array, offset = 0): void {
  const backend = tf.backend() as unknown as WasmBackendInternals;
  const heap = backend.wasm?.HEAPU8;
  const memoryOffset = backend.dataIdMap?.get(tensor.dataId)?.memoryOffset;
  if (tensor.dtype === 'float32' && heap && typeof memoryOffset === 'number') {
    into.set(new Float32Array(heap.buffer, heap.byteOffset + memoryOffset, tensor.size), offset);
    return;
  }
  into.set(tensor.dataSync() as Float32Array, offset);
}
