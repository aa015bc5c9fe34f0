/**
 * `hearth-server`'s executable: checks that the server's optional peer dependencies are installed,
 * then loads the CLI (cli.ts, built next to this file).
 */
import { installHint, missingPackages } from '../shared/optional-peers.js';

/** What the server imports at run time (package.json lists them as optional peers). */
const SERVER_PEERS = ['fastify', '@fastify/cors', '@fastify/rate-limit', 'prom-client', 'typebox', 'shamir-secret-sharing'];

const missing = missingPackages(SERVER_PEERS, (name) => import.meta.resolve(name));
if (missing.length > 0) {
  process.stderr.write(installHint('hearth-server', missing));
  process.exitCode = 1;
} else {
  // A computed URL: the bundler leaves the import to run time, after the check.
  await import(new URL('./cli.js', import.meta.url).href);
}
