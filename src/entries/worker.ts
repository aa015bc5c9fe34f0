/**
 * The engine worker: the only entry that pulls in tfjs. Gradients, CPU, WASM and WebGPU are
 * bundled; WebGL loads on demand in its own chunk (it is measured only on a hardware renderer).
 */
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import { expose } from 'comlink';
import { createWorkerHost } from '../worker/host.js';

expose(
  createWorkerHost({
    selfUrl: self.location.href,
    load: { webgl: () => import('@tensorflow/tfjs-backend-webgl') },
  }),
);
