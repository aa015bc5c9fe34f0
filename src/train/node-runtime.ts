/**
 * Sets tfjs up in Node for the tests, the training CLI and the benchmark. Never imported by the
 * worker: `@tensorflow/tfjs` (gradients + cpu) is far over the worker's size budget.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export type NodeBackend = 'wasm' | 'cpu';

/**
 * Registers gradients and backends, turns on PROD mode and selects `backend` ('wasm' by default:
 * ~7× faster than cpu for a training step on this kind of machine; it loads its `.wasm` from its
 * own package in Node, no `setWasmPaths` needed).
 *
 * @example
 * ```ts
 * const backend = await setupNodeRuntime('wasm');
 * ```
 */
export async function setupNodeRuntime(backend: NodeBackend = 'wasm'): Promise<string> {
  // Silences "Hi there 👋. Looks like you are running TensorFlow.js in Node.js" and skips debug checks.
  tf.env().set('PROD', true);
  const ok = await tf.setBackend(backend);
  if (!ok) throw new Error(`the tfjs backend "${backend}" could not start`);
  await tf.ready();
  return tf.getBackend();
}
