/** `b2betl serve`: the Cloud Run entry point; runs until SIGTERM (or Ctrl-C). */
// @ts-nocheck

import { loadConfig } from '../core/config.js';
import { ConfigError, ExitCode } from '../core/errors.js';
import { sharedConfig } from '../schedule/desired.js';
import { cloudLogger } from '../serve/cloud-log.js';
import { startServer } from '../serve/server.js';
import { jobArgsOrDefault, loadJobArgs, type CommonOptions } from './common.js';

interface ServeFlags extends CommonOptions {
  readonly port?: string;
  readonly host?: string;
  readonly allowLocalLedger?: boolean;
}

export default async function serve(args: string[], flags: ServeFlags): Promise<number> {
  const portText = flags.port ?? process.env.PORT ?? '8080';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw ConfigError.of(`invalid port ${portText}`, 'give --port (or $PORT) a number from 1 to 65535');
  const jobs = await loadJobArgs(await jobArgsOrDefault(args, flags), flags);
  const config = sharedConfig(jobs, await loadConfig({ configFile: flags.config }));
  const server = await startServer({ jobs, config, port, host: flags.host ?? '0.0.0.0', log: cloudLogger({}, { verbose: flags.verbose }), allowLocalLedger: flags.allowLocalLedger });
  process.once('SIGTERM', () => void server.stop('SIGTERM'));
  process.once('SIGINT', () => void server.stop('SIGINT'));
  await server.stopped;
  return ExitCode.ok;
}
