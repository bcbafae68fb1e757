/** `b2betl state reset`: forgets a job's cursor, files and mapping; the next run starts over. */
import { ExitCode } from '../core/errors.js';
import { commandLogger, printJson, resolveJob, withLedger, type CommonOptions } from './common.js';

export default async function stateReset(jobArg: string, flags: CommonOptions): Promise<number> {
  const { name, config } = await resolveJob(jobArg, flags);
  return withLedger(config, commandLogger(flags), async ({ ledger }) => {
    const before = ledger.dump(name);
    ledger.reset(name);
    const summary = { job: name, files_forgotten: before.files.length, cursor_cleared: before.cursors.length > 0, columns_forgotten: before.columns.length };
    if (flags.json) printJson(summary);
    else
      process.stdout.write(
        `reset ${name}: forgot ${summary.files_forgotten} processed file(s), ${summary.cursor_cleared ? 'the cursor' : 'no cursor'}, ${summary.columns_forgotten} column mapping(s)\n` +
          'the next run reloads everything: run it with --full-refresh for catalog-like replacement, or clear the destination table first to avoid duplicates\n',
      );
    return ExitCode.ok;
  });
}
