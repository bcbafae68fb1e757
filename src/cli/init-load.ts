/**
 * Step 4 of `b2betl init`: how the job loads (strategy, cursor and where it starts, primary
 * key) and where to (a destination and a table, new or one whose columns fit).
 */
import { isStoreType, type LoadedConfig } from '../core/config.js';
import type { SourceConnector } from '../core/connector.js';
import { ConfigError } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { sanitizeName } from '../core/names.js';
import { openDestination } from '../core/open.js';
import { where } from '../core/probe.js';
import type { JobSpec } from '../core/spec.js';
import type { SourceColumn } from '../core/types.js';
import { Asker, Cancelled, ask, prompts, say, splitList } from './init-ask.js';
import { draftJob, draftSpec } from './init-files.js';
import { describeSource, type SourcePick } from './init-source.js';
import type { InitFlags } from './init.js';
import { renderReport, schemaReport } from './schema-report.js';

/** A destination table name: letters, digits and _, not starting with a digit. */
export const TABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DESTINATION_TYPES = new Set(['duckdb', 'bigquery']);
/** Column types a cursor can follow: timestamps, dates and growing numbers. */
const CURSOR_CANDIDATES = new Set(['TIMESTAMP', 'DATETIME', 'DATE', 'INT64', 'NUMERIC']);

/** The job's `load:` block: strategy, and the cursor, start and primary key it needs. */
export async function chooseLoad(source: SourceConnector, spec: JobSpec, type: string, columns: readonly SourceColumn[], flags: InitFlags, asker: Asker): Promise<JobSpec['load']> {
  const files = isStoreType(type);
  // The time of the extraction itself (Firestore's _extracted_at) is the run's, not the data's: never a cursor.
  const candidates = files ? [] : columns.filter((column) => CURSOR_CANDIDATES.has(column.type) && !column.repeated && column.sourceType !== 'extraction time');
  const strategies = [
    { value: 'transactional', short: 'transactional', name: files ? 'transactional: append new and changed files each run' : 'transactional: append rows whose cursor grew since the last run' },
    { value: 'catalog', short: 'catalog', name: 'catalog: replace the whole table with a snapshot each run' },
    { value: 'merge', short: 'merge', name: files ? 'merge: upsert by primary key, from new and changed files' : 'merge: upsert by primary key the rows whose cursor grew' },
  ].filter((choice) => files || choice.value === 'catalog' || candidates.length > 0);
  const timestamp = candidates.find((column) => column.type === 'TIMESTAMP' || column.type === 'DATETIME');
  const fallback = files || timestamp ? 'transactional' : 'catalog';
  const strategy = (await asker.answer('--strategy', flags.strategy, () => ask(() => prompts().then(({ select }) => select({ message: 'How should it load?', choices: strategies, default: fallback }))), {
    fallback,
    check: (value) =>
      !['transactional', 'catalog', 'merge'].includes(value)
        ? 'use transactional, catalog or merge'
        : !strategies.some((choice) => choice.value === value)
          ? `${value} follows a cursor, and no column of ${describeSource(spec.source)} is a timestamp, date or number`
          : undefined,
  })) as JobSpec['load']['strategy'];
  const load: Record<string, unknown> = { strategy };
  if (strategy !== 'catalog' && !files) {
    const ranges = new Map<string, string>();
    if (source.range) {
      await Promise.all(
        candidates.slice(0, 12).map(async (column) => {
          const range = await source.range!(spec, column.name).catch(() => undefined);
          ranges.set(column.name, range ? `${range.min} … ${range.max}` : 'no values yet');
        }),
      );
    }
    const preferred = timestamp?.name ?? candidates[0]?.name;
    const cursor = await asker.answer(
      '--cursor',
      flags.cursor,
      () =>
        ask(() =>
          prompts().then(({ select }) =>
            select({
              message: 'Cursor: the column that grows as rows are added or changed',
              default: preferred,
              choices: candidates.map((column) => ({ value: column.name, short: column.name, name: `${column.name}  ${column.type}  ${ranges.get(column.name) ?? ''}`.trimEnd() })),
            }),
          ),
        ),
      { fallback: preferred, check: (value) => (candidates.some((column) => column.name === value) ? undefined : `not a timestamp, date or number column; use one of: ${candidates.map((c) => c.name).join(', ')}`) },
    );
    load.cursor = cursor;
    const cursorType = candidates.find((column) => column.name === cursor)!.type;
    const start = await asker.answer(
      '--start',
      flags.start,
      () => ask(() => prompts().then(({ input }) => input({ message: `Load from (a ${cursorType === 'INT64' || cursorType === 'NUMERIC' ? 'number' : 'date such as 2024-01-01'}; empty: from the first row)`, validate: (value) => startProblem(value.trim(), cursorType) ?? true }))).then((v) => v.trim()),
      { fallback: '', check: (value) => startProblem(value, cursorType) },
    );
    if (start) load.start = start;
  }
  if (strategy === 'merge') {
    const declared = source.primaryKey ? await source.primaryKey(spec).catch(() => []) : [];
    const names = columns.map((column) => column.name);
    const key = await asker.answer(
      '--primary-key',
      flags.primaryKey === undefined ? undefined : splitList(flags.primaryKey),
      () =>
        ask(() =>
          prompts().then(({ checkbox }) =>
            checkbox({
              message: `Primary key${declared.length ? ` (the source declares ${declared.join(', ')})` : ''}`,
              required: true,
              choices: names.map((name) => ({ value: name, name, checked: declared.includes(name) })),
            }),
          ),
        ),
      {
        fallback: declared.length ? declared : undefined,
        check: (value) => (value.length === 0 ? 'name at least one column' : value.filter((name) => !names.includes(name)).length ? `not among the columns: ${names.join(', ')}` : undefined),
      },
    );
    load.primary_key = key;
  }
  return draftSpec({ name: 'init', source: spec.source, load }).load;
}

function startProblem(value: string, type: string): string | undefined {
  if (!value) return undefined;
  if (type === 'INT64' || type === 'NUMERIC') return /^-?\d+(\.\d+)?$/.test(value) ? undefined : `"${value}" is not a number`;
  return /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) && !Number.isNaN(Date.parse(value.replace(' ', 'T')))
    ? undefined
    : `"${value}" is not a date: write 2024-01-01 or 2024-01-01T00:00:00Z`;
}

/** The destination and table, checked against an existing table's columns. */
export async function chooseDestination(
  config: LoadedConfig,
  spec: JobSpec,
  columns: readonly SourceColumn[],
  source: SourcePick,
  flags: InitFlags,
  asker: Asker,
): Promise<{ connection: string; table: string }> {
  const destinations = Object.entries(config.connections).filter(([, connection]) => DESTINATION_TYPES.has(connection.type));
  const connection = await asker.answer(
    '--destination',
    flags.destination,
    () =>
      ask(() =>
        prompts().then(({ select }) =>
          select({
            message: 'Load into which destination?',
            default: config.defaultDestination,
            choices: destinations.map(([name, c]) => ({ value: name, short: name, name: `${name}  (${c.type}, ${where(c)})${name === config.defaultDestination ? ', the default' : ''}` })),
          }),
        ),
      ),
    { fallback: config.defaultDestination, check: (value) => (destinations.some(([name]) => name === value) ? undefined : `not a destination; use one of: ${destinations.map(([name]) => name).join(', ')}`) },
  );
  const suggested = await freeTable(config, spec, connection, defaultTable(source));
  for (;;) {
    const table = await asker.answer(
      '--dest-table',
      flags.destTable,
      () => ask(() => prompts().then(({ input }) => input({ message: 'Destination table (new or existing)', default: suggested, validate: (value) => (TABLE.test(value.trim()) ? true : 'letters, digits and _, not starting with a digit') }))).then((v) => v.trim()),
      { fallback: suggested, check: (value) => (TABLE.test(value) ? undefined : 'use letters, digits and _ only, not starting with a digit') },
    );
    const job = draftJob(config, { ...spec, name: 'init', destination: { connection, table } });
    const destination = await openDestination(job, silentLogger, { readOnly: true });
    let report;
    try {
      const existing = await destination.describe(table);
      report = schemaReport(columns, existing, new Map(), destination.locate(table), spec.load.strategy).report;
    } finally {
      await destination.close().catch(() => undefined);
    }
    if (!report) {
      say(`${connection}.${table} does not exist yet: the first run creates it`);
      return { connection, table };
    }
    say(renderReport(report).join('\n'));
    if (report.compatible) {
      const go = await asker.confirm(() => prompts().then(({ confirm }) => confirm({ message: `Load into the existing table ${table}?`, default: true })), true);
      if (go) return { connection, table };
      if (flags.destTable !== undefined) throw new Cancelled('cancelled');
      continue;
    }
    if (flags.destTable !== undefined || !asker.interactive) {
      throw ConfigError.of(`--dest-table ${table}: the existing table does not fit: ${report.reasons.join('; ')}`, 'load into a new table, or change the columns or the strategy');
    }
    say('pick another table, or go back with Ctrl-C');
  }
}

/** `base`, or `base_2`, `base_3`… when a table of that name exists: a default never lands in another job's table. */
async function freeTable(config: LoadedConfig, spec: JobSpec, connection: string, base: string): Promise<string> {
  const destination = await openDestination(draftJob(config, { ...spec, name: 'init', destination: { connection, table: base } }), silentLogger, { readOnly: true });
  try {
    for (let i = 1; i < 100; i++) {
      const name = i === 1 ? base : `${base}_${i}`;
      if (!(await destination.describe(name))) return name;
    }
    return base;
  } finally {
    await destination.close().catch(() => undefined);
  }
}

function defaultTable(source: SourcePick): string {
  const raw = source.table?.split('.').at(-1) ?? source.collection?.split('/').at(-1) ?? patternStem(source.pattern ?? 'files');
  const name = sanitizeName(raw).replace(/^(\d)/, '_$1');
  return TABLE.test(name) ? name : 'data';
}

function patternStem(pattern: string): string {
  const file = pattern.split('/').at(-1) ?? pattern;
  const stem = file.replace(/\.(csv|tsv|jsonl?|ndjson|parquet)(\.gz)?$/i, '').replace(/[*?[\]{}!]+/g, ' ').trim().replace(/[\s_-]+$/, '');
  return stem || pattern.split('/').filter((part) => part && !/[*?[\]{}!]/.test(part)).at(-1) || 'files';
}
