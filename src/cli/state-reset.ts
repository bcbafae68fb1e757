/** `b2betl state reset`: forgets a job's cursor, files and mapping; the next run starts over. */
import { ExitCode } from '../core/errors.js';
import { newRunId } from '../ledger/ledger.js';
import { commandLogger, printJson, resolveJob, withLedger, type CommonOptions } from './common.js';

export default async function stateReset(jobArg: string, flags: CommonOptions): Promise<number> {
  const { name, config } = await resolveJob(jobArg, flags);
  return withLedger(config, commandLogger(flags), async (open) => {
    const { ledger } = open;
    // Resetting under the job's lock: a run in progress would record its state on top.
    const lockId = newRunId();
    const before = ledger.dump(name);
    await open.lock?.(name, lockId, 60_000);
    try {
      ledger.acquireLock(name, lockId, 60_000);
      ledger.reset(name);
      ledger.releaseLock(name, lockId);
    } finally {
      await open.unlock?.(name, lockId);
    }
    const summary = { job: name, files_forgotten: before.files.length, cursor_cleared: before.cursors.length > 0, columns_forgotten: before.columns.length };
    if (flags.json) printJson(summary);
    else
      process.stdout.write(
        `reset ${name}: forgot ${summary.files_forgotten} processed file(s), ${summary.cursor_cleared ? 'the cursor' : 'no cursor'}, ${summary.columns_forgotten} column mapping(s)\n` +
          'the next run reloads everything: run it with --full-refresh to replace the destination table in the same commit, or it is appended again\n',
      );
    return ExitCode.ok;
  });
}
