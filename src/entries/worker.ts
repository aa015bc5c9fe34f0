/**
 * The engine worker: the only entry that pulls in tfjs. Gradients, CPU, WASM and WebGPU are
 * bundled; WebGL loads on demand in its own chunk (it is measured only on a hardware renderer).
 */
import { loadReport } from '../worker/load-report.js';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import { expose } from 'comlink';
import { createWorkerHost } from '../worker/host.js';

expose(
  createWorkerHost({
    // Literal `new URL(…, import.meta.url)`: webpack, Vite and Parcel emit the .wasm files with the
    // worker and rewrite these URLs; unbundled (the script tag, a CDN, a copy next to an esbuild
    // or Rollup bundle) they are `wasm/` next to this file. The paths are relative to dist/.
    wasmFiles: () => ({
      'tfjs-backend-wasm.wasm': new URL('./wasm/tfjs-backend-wasm.wasm', import.meta.url).href,
      'tfjs-backend-wasm-simd.wasm': new URL('./wasm/tfjs-backend-wasm-simd.wasm', import.meta.url).href,
      'tfjs-backend-wasm-threaded-simd.wasm': new URL('./wasm/tfjs-backend-wasm-threaded-simd.wasm', import.meta.url).href,
    }),
    load: { webgl: () => import('@tensorflow/tfjs-backend-webgl') },
  }),
);
loadReport.loaded();
