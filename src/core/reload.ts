/**
 * Reloads that never duplicate: `--full-refresh` replaces the destination table, `--since/--until`
 * the rows of the window the source reads, in the commit's transaction.
 */
import type { LoadedJob } from './config.js';
import type { Replacement, SourcePlan } from './connector.js';
import { ConfigError } from './errors.js';

/**
 * What the commit replaces in the destination, in its transaction: the whole table for
 * `--full-refresh` (a catalog load always does), the window's rows for `--since/--until`.
 */
export function replacementOf(job: LoadedJob, options: { fullRefresh?: boolean; window?: object }, plan: SourcePlan): Replacement | undefined {
  const strategy = job.spec.load.strategy;
  const window = options.window;
  if (window && options.fullRefresh) throw ConfigError.of('--full-refresh reloads everything and --since/--until a window: give one of them', 'drop one of the flags');
  if (window) {
    if (strategy === 'catalog') {
      throw ConfigError.of(`job ${job.spec.name}: --since/--until replace a window of a transactional or merge table; strategy catalog reloads the whole table every run`, 'run it without --since/--until');
    }
    if (!plan.window) {
      throw ConfigError.of(`job ${job.spec.name}: --since/--until need a source read by a cursor (load.cursor); this source has no window to reload`, 'run it without --since/--until, or use --full-refresh to reload everything');
    }
    return { kind: 'window', ...plan.window };
  }
  return options.fullRefresh && strategy !== 'catalog' ? { kind: 'table' } : undefined;
}

/** The --dry-run line for a replacement. */
export function describeReplacement(table: string, replace: Replacement): string {
  if (replace.kind === 'table') return `--full-refresh: reads everything from the start and replaces ${table} atomically, in one commit with its marker`;
  const from = replace.lower !== undefined ? `>= ${replace.lower}` : '';
  const to = replace.upper ? `${replace.upper.inclusive ? '<=' : '<'} ${replace.upper.value}` : '';
  return `backfill: the commit deletes the rows of ${table} whose ${replace.column} is ${[from, to].filter(Boolean).join(' and ') || 'set'} and inserts the window's rows, in one transaction; the stored cursor does not move`;
}
