/** `b2betl state show`: a job's cursor, processed files, column mapping and lock. */
import { ExitCode } from '../core/errors.js';
import { commandLogger, printJson, renderTable, resolveJob, shortPath, withLedger, type CommonOptions } from './common.js';

export default async function stateShow(jobArg: string, flags: CommonOptions): Promise<number> {
  const { name, config } = await resolveJob(jobArg, flags);
  return withLedger(
    config,
    commandLogger(flags),
    async ({ ledger }) => {
      const dump = ledger.dump(name);
      const cursor = ledger.cursor(name);
      const columns = ledger.columns(name);
      const lock = ledger.lockOf(name) ?? null;
      const files = dump.files as { connection: string; path: string; size: number; modified: string; version: string | null; run_id: string }[];
      if (flags.json) {
        printJson({ job: name, ledger: config.ledger, cursor: cursor ?? null, files, columns, lock });
        return ExitCode.ok;
      }
      if (!dump.runs.length && !files.length && cursor === undefined && !columns.length) {
        const known = [...new Set(ledger.runs({ limit: 1000 }).map((run) => run.job))].sort();
        process.stdout.write(
          `no state recorded for job ${name} in ${shortPath(config.ledger)}${config.file ? ` (the ledger of ${shortPath(config.file)})` : ''}\n` +
            (known.length ? `jobs it has runs of: ${known.join(', ')}\n` : ''),
        );
        return ExitCode.ok;
      }
      const out = [`job: ${name}`, `ledger: ${config.ledger}`, `cursor: ${cursor === undefined ? '(none)' : JSON.stringify(cursor, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`];
      out.push(`lock: ${lock ? `run ${lock.run_id}, pid ${lock.pid} on ${lock.host}, until ${lock.expires_at}` : '(none)'}`);
      out.push('', `columns (${columns.length}):`);
      if (columns.length) out.push(renderTable(['source name', 'destination name', 'type'], columns.map((c) => [c.original, c.sanitized, c.type])));
      out.push('', `processed files (${files.length}):`);
      if (files.length) out.push(renderTable(['connection', 'path', 'size', 'modified', 'version', 'run'], files.map((f) => [f.connection, f.path, f.size, f.modified, f.version, f.run_id])));
      process.stdout.write(`${out.join('\n')}\n`);
      return ExitCode.ok;
    },
    { readOnly: true },
  );
}
