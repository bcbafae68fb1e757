/** `b2betl history`: recent runs from the ledger, filtered by job, status and start time. */
import { ConfigError, ExitCode } from '../core/errors.js';
import type { RunStatus } from '../ledger/ledger.js';
import { commandLogger, discoverConfig, formatDuration, printJson, renderTable, resolveJob, shortPath, withLedger, type CommonOptions } from './common.js';

export const RUN_STATUSES: readonly RunStatus[] = ['running', 'committing', 'succeeded', 'partial', 'failed', 'skipped', 'interrupted'];

export interface HistoryFlags extends CommonOptions {
  readonly job?: string;
  readonly status?: string;
  readonly since?: string;
  readonly limit?: string;
}

/** `--status failed,partial` as statuses; a word that is none names the valid ones. */
export function parseStatuses(text: string | undefined): RunStatus[] | undefined {
  if (text === undefined) return undefined;
  const words = text.split(',').map((word) => word.trim().toLowerCase()).filter(Boolean);
  const wrong = words.filter((word) => !RUN_STATUSES.includes(word as RunStatus));
  if (wrong.length || !words.length) throw ConfigError.of(`--status ${text}: ${wrong.length ? `${wrong.join(', ')} is no run status` : 'no status given'}`, `use one or more of ${RUN_STATUSES.join(', ')}, separated by commas`);
  return words as RunStatus[];
}

/**
 * `--since` as an ISO 8601 instant: a date (`2026-03-01`, midnight UTC), a date and time
 * (`2026-03-01T08:00`, UTC unless it has an offset), or an age (`90m`, `12h`, `7d`, `2w`) before `now`.
 */
export function parseSince(text: string | undefined, now = Date.now()): string | undefined {
  if (text === undefined) return undefined;
  const age = /^(\d+)\s*(m|min|h|d|w)$/i.exec(text.trim());
  if (age) {
    const unit = { m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[age[2].toLowerCase() as 'm' | 'min' | 'h' | 'd' | 'w'];
    return new Date(now - Number(age[1]) * unit).toISOString();
  }
  const iso = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(text.trim());
  const parsed = iso ? Date.parse(iso[1] && !iso[4] ? `${text.trim().replace(' ', 'T')}Z` : iso[1] ? text.trim().replace(' ', 'T') : `${text.trim()}T00:00:00Z`) : NaN;
  if (Number.isNaN(parsed)) throw ConfigError.of(`--since ${text} is neither a date nor an age`, 'give a date (2026-03-01), a UTC date and time (2026-03-01T08:00), or an age such as 90m, 12h, 7d or 2w');
  return new Date(parsed).toISOString();
}

/** `--limit` as a positive whole number. */
export function parseLimit(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1) throw ConfigError.of(`--limit ${text} is not a positive whole number`, 'give how many runs to list, e.g. --limit 50');
  return limit;
}

export default async function history(jobArg: string | undefined, flags: HistoryFlags): Promise<number> {
  if (jobArg !== undefined && flags.job !== undefined && jobArg !== flags.job) throw ConfigError.of(`two jobs given: ${jobArg} and --job ${flags.job}`, 'name the job once');
  const jobName = jobArg ?? flags.job;
  const statuses = parseStatuses(flags.status);
  const since = parseSince(flags.since);
  const limit = parseLimit(flags.limit, 20);
  const { name, config } = jobName ? await resolveJob(jobName, flags) : { name: undefined, config: await discoverConfig(flags) };
  return withLedger(
    config,
    commandLogger(flags),
    async ({ ledger }) => {
      const runs = ledger.runs({ job: name, statuses, since, limit });
      if (flags.json) {
        printJson(runs);
        return ExitCode.ok;
      }
      if (!runs.length) {
        const filters = [name && `job ${name}`, statuses && `status ${statuses.join(' or ')}`, since && `since ${since}`].filter(Boolean).join(', ');
        process.stdout.write(`no runs recorded${filters ? ` for ${filters}` : ''} in ${shortPath(config.ledger)}${config.file ? ` (the ledger of ${shortPath(config.file)})` : ''}\n`);
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
