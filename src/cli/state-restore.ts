/**
 * `b2betl state restore`: rebuilds a job's cursor, processed files and column mapping in the
 * ledger from the `_b2betl_loads` markers in its destination table.
 */
import { EtlError, ExitCode } from '../core/errors.js';
import { openDestination } from '../core/open.js';
import { describeRebuilt, rebuildState } from '../core/restore.js';
import { newRunId } from '../ledger/ledger.js';
import { commandLogger, printJson, resolveLoadedJob, withLedger, type CommonOptions } from './common.js';

export default async function stateRestore(jobArg: string, flags: CommonOptions): Promise<number> {
  const job = await resolveLoadedJob(jobArg, flags);
  const name = job.spec.name;
  const log = commandLogger(flags);
  return withLedger(job.config, log, async (open) => {
    const { ledger } = open;
    const destination = await openDestination(job, log, { readOnly: true });
    try {
      const rebuilt = await rebuildState(job, destination);
      if (!rebuilt) {
        throw new EtlError(`${destination.locate(job.table)} holds no load of job ${name}: there is no state to restore`, 'the next run loads everything from the start');
      }
      // Under the job's lock: a run in progress would record its state on top.
      const lockId = newRunId();
      await open.lock?.(name, lockId, 60_000);
      try {
        ledger.acquireLock(name, lockId, 60_000);
        try {
          ledger.restoreState(name, rebuilt.state);
        } finally {
          ledger.releaseLock(name, lockId);
        }
      } finally {
        await open.unlock?.(name, lockId);
      }
      const { state } = rebuilt;
      if (flags.json) {
        printJson({ job: name, ledger: job.config.ledger, markers: rebuilt.markers, cursor: state.cursor?.state ?? null, files: state.files.length, columns: state.columns.length });
      } else {
        process.stdout.write(`${describeRebuilt(name, rebuilt)}\nthe next run loads only what is new\n`);
      }
      return ExitCode.ok;
    } finally {
      await destination.close();
    }
  });
}
