/**
 * Composition root: config → logger → app; signals and fatal errors. No logic lives here.
 * Config: --config FILE, else $AUTHJWT_CONFIG, else config/dev.yaml (development defaults).
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { type Config, loadConfigFile } from './config/load.ts';
import { ConfigError } from './errors.ts';
import { startApp } from './app.ts';
import { createLogger } from './telemetry/logger.ts';
import { tracingShutdown } from './telemetry/tracing-state.ts';

const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } }, allowPositionals: false });
const configPath = values.config ?? process.env.AUTHJWT_CONFIG ?? fileURLToPath(new URL('../config/dev.yaml', import.meta.url));

let config: Config;
try {
  config = loadConfigFile(configPath);
} catch (error) {
  process.stderr.write(`authjwt: ${error instanceof ConfigError ? error.message : String(error)}\n`);
  process.exit(2);
}
const logger = createLogger({ level: config.logging.level });
if (config.keys.ephemeral) {
  process.stderr.write(
    '\n' +
      '  ********************************************************************************\n' +
      '  *  authjwt is signing with an EPHEMERAL key generated at start (keys.ephemeral). *\n' +
      '  *  DEVELOPMENT ONLY: tokens die with the process and replicas do not share keys. *\n' +
      `  *  config: ${configPath.slice(-66).padEnd(66)} *\n` +
      '  ********************************************************************************\n\n',
  );
}
const fatal = (kind: string) => (error: unknown) => {
  logger.fatal({ err: error }, `${kind}: exiting`);
  process.exit(1);
};
process.on('uncaughtException', fatal('uncaught exception'));
process.on('unhandledRejection', fatal('unhandled rejection'));

const app = await startApp(config, { logger });
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'signal received');
    const flushTraces = tracingShutdown();
    app
      .stop()
      .then(() => flushTraces?.().catch(() => undefined))
      .then(() => process.exit(0), fatal('shutdown failed'));
  });
}
