/**
 * `hearth-server`: starts the aggregation server from flags and environment variables.
 * Run `hearth-server --help` for the flags. Stops cleanly on SIGINT/SIGTERM.
 */
import { createAggregationServer } from './app.js';
import { CLI_HELP, parseArgs } from './cli-args.js';
import { reportCommand } from './experiments/report-command.js';

async function main(): Promise<void> {
  if (process.argv[2] === 'report') {
    process.exitCode = await reportCommand(
      process.argv.slice(3),
      process.env,
      (text) => process.stdout.write(text),
      (text) => process.stderr.write(text),
    );
    return;
  }
  let config;
  try {
    config = parseArgs(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${CLI_HELP}`);
    process.exitCode = 2;
    return;
  }
  if (config.help) {
    process.stdout.write(CLI_HELP);
    return;
  }
  const server = await createAggregationServer(config.server);
  const url = await server.listen({ port: config.port, host: config.host });
  const status = server.coordinator.status();
  // One machine-readable line, so scripts and tests can find the port.
  process.stdout.write(`${JSON.stringify({ listening: url, roundId: status.roundId, modelVersion: status.modelVersion, updates: status.updates })}\n`);
  const stop = (): void => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`hearth-server: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
