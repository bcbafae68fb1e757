/** `b2betl history`: recent runs from the ledger. */
// @ts-nocheck

import { loadConfig } from '../core/config.js';
import { ExitCode } from '../core/errors.js';
import { commandLogger, formatDuration, printJson, renderTable, resolveJob, withLedger, type CommonOptions } from './common.js';

export default async function history(jobArg: string | undefined, flags: CommonOptions & { limit?: string }): Promise<number> {
  const { name, config } = jobArg ? await resolveJob(jobArg, flags) : { name: undefined, config: await loadConfig({ configFile: flags.config }) };
  const limit = Math.max(1, Number(flags.limit ?? 20) || 20);
  return withLedger(
    config,
    commandLogger(flags),
    async ({ ledger }) => {
      const runs = ledger.runs({ job: name, limit });
      if (flags.json) {
        printJson(runs);
        return ExitCode.ok;
      }
      if (!runs.length) {
        process.stdout.write(`no runs recorded${name ? ` for ${name}` : ''} in ${config.ledger}\n`);
        return ExitCode.ok;
      }
      const rows = runs.map((run) => [
        run.id,
        run.job,
        run.started_at.replace('T', ' ').slice(0, 19),
        run.ended_at ? formatDuration(Date.parse(run.ended_at) - Date.parse(run.started_at)) : '',
        run.status,
        run.rows_loaded,
        run.files_processed,
        run.error ?? '',
      ]);
      process.stdout.write(`${renderTable(['run', 'job', 'started (UTC)', 'took', 'status', 'rows', 'files', 'error'], rows)}\n`);
      return ExitCode.ok;
    },
    { readOnly: true },
  );
}
