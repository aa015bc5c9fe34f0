/**
 * `hearth-train`'s executable: checks that the trainer's optional peer dependencies are installed,
 * then loads the CLI (cli.ts, built next to this file as train.js).
 */
import { installHint, missingPackages } from '../shared/optional-peers.js';

/** What training imports at run time (package.json lists them as optional peers). */
const TRAIN_PEERS = ['@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', 'csv-parse'];

const missing = missingPackages(TRAIN_PEERS, (name) => import.meta.resolve(name));
if (missing.length > 0) {
  process.stderr.write(installHint('hearth-train', missing));
  process.exitCode = 1;
} else {
  // A computed URL: the bundler leaves the import to run time, after the check.
  await import(new URL('./train.js', import.meta.url).href);
}
