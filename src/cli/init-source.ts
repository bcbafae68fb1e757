/**
 * Steps 2 and 3 of `b2betl init`: what to load (files by a glob, checked against the store, or
 * a table or collection from the source's catalog), a preview of its first rows and columns,
 * and the columns to keep.
 */
import path from 'node:path';
import { isStoreType } from '../core/config.js';
import type { CatalogEntry, SourceConnector } from '../core/connector.js';
import type { OpenedSource } from '../core/open.js';
import { sizeText } from '../core/probe.js';
import type { JobSpec } from '../core/spec.js';
import { daysToDate, formatDate, formatDatetime, formatTimestamp } from '../core/time.js';
import type { SourceColumn } from '../core/types.js';
import { renderTable } from './common.js';
import { Asker, ask, prompts, say, splitList } from './init-ask.js';
import type { InitFlags } from './init.js';
import { renderColumns, schemaReport } from './schema-report.js';

const PREVIEW_ROWS = 5;

/** The job's `source:` block as the wizard picked it. */
export type SourcePick = JobSpec['source'];

/** What to load from the connection: a glob that matches files, or a table or collection. */
export async function chooseSource(connection: string, type: string, opened: OpenedSource, flags: InitFlags, asker: Asker): Promise<SourcePick> {
  if (isStoreType(type)) {
    const files = opened.source as SourceConnector & { matching(pattern: string): AsyncIterable<{ path: string; size: number }> };
    const count = async (pattern: string) => {
      let objects = 0;
      let bytes = 0;
      const examples: string[] = [];
      for await (const object of files.matching(pattern.replace(/^\.?\//, ''))) {
        objects++;
        bytes += object.size;
        if (examples.length < 3) examples.push(object.path);
      }
      return { objects, bytes, examples };
    };
    const everything = await count('**/*');
    say(`${everything.objects} object(s), ${sizeText(everything.bytes)} in ${opened.store?.url('') ?? connection}${everything.examples.length ? `, e.g. ${everything.examples.join(', ')}` : ''}`);
    const problem = async (pattern: string) => {
      if (!pattern) return 'give a pattern such as *.csv or exports/**/*.parquet';
      const found = await count(pattern);
      return found.objects ? undefined : `no object matches ${pattern}${everything.examples.length ? ` (there are e.g. ${everything.examples.join(', ')})` : ''}`;
    };
    const pattern = await asker.answer(
      '--pattern',
      flags.pattern,
      async () => {
        const { input } = await prompts();
        return (await ask(() => input({ message: 'Files to load (a glob such as *.csv or exports/**/*.parquet)', default: defaultPattern(everything.examples), validate: async (value) => (await problem(value.trim())) ?? true }))).trim();
      },
      { check: problem },
    );
    const found = await count(pattern);
    say(`${pattern} matches ${found.objects} object(s), ${sizeText(found.bytes)}`);
    return { connection, pattern };
  }
  const catalog: CatalogEntry[] = opened.source.catalog ? await opened.source.catalog() : [];
  const key = type === 'firestore' ? 'collection' : 'table';
  const flag = type === 'firestore' ? '--collection' : '--table';
  const given = type === 'firestore' ? flags.collection : flags.table;
  const value = await asker.answer(flag, given, async () => {
    const { input, select } = await prompts();
    if (!catalog.length) {
      say(`no ${type === 'firestore' ? 'collections' : 'tables or views'} are listed for this connection`);
      return (await ask(() => input({ message: type === 'firestore' ? 'Collection path' : 'Table (schema.table)', validate: (v) => (v.trim() ? true : 'give a name') }))).trim();
    }
    return ask(() =>
      select({
        message: type === 'firestore' ? 'Which collection?' : 'Which table or view?',
        pageSize: 12,
        choices: catalog.map((entry) => ({ value: entry.name, short: entry.name, name: `${entry.name}  ${entry.kind}${entry.rows !== undefined ? `, ~${entry.rows.toLocaleString('en-US')} rows` : ''}` })),
      }),
    );
  });
  return { connection, [key]: value };
}

function defaultPattern(examples: readonly string[]): string | undefined {
  const first = examples[0];
  if (!first) return undefined;
  const dir = path.posix.dirname(first);
  const ext = path.posix.extname(first.replace(/\.gz$/i, ''));
  return `${dir === '.' ? '' : `${dir}/`}*${ext}${/\.gz$/i.test(first) ? '.gz' : ''}`;
}

/** The picked table, collection or pattern, for messages. */
export function describeSource(source: SourcePick): string {
  return source.table ?? source.collection ?? source.pattern ?? source.connection;
}

/** Shows the source's first rows (when it can preview) and its columns with their types. */
export async function showPreview(source: SourceConnector, spec: JobSpec, columns: readonly SourceColumn[]): Promise<void> {
  const { rows } = schemaReport(columns, undefined, new Map(), '');
  if (source.preview) {
    const sample = await source.preview(spec, PREVIEW_ROWS);
    if (sample.rows.length) {
      say(`first ${sample.rows.length} row(s):`);
      const types = new Map(columns.map((column) => [column.name, column.type]));
      say(renderTable(sample.fields, sample.rows.map((row) => row.map((value, i) => cellText(value, types.get(sample.fields[i]))))));
      say();
    } else say('no rows to preview yet');
  }
  say(renderColumns(rows));
}

/** A value as the preview shows it: timestamps as text, long values cut. */
function cellText(value: unknown, type?: string): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'bigint' && type === 'TIMESTAMP'
    ? formatTimestamp(value).replace(/\.000000Z$/, 'Z')
    : typeof value === 'bigint' && type === 'DATETIME'
      ? formatDatetime(value).replace(/\.000000$/, '')
      : typeof value === 'bigint' && type === 'DATE'
        ? formatDate(value)
        : typeof value === 'number' && type === 'DATE'
          ? daysToDate(value)
          : value instanceof Date ? value.toISOString() : value instanceof Uint8Array ? `<${value.length} bytes>` : typeof value === 'object' ? JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) : String(value);
  return text.length > 24 ? `${text.slice(0, 23)}…` : text;
}

/** The columns to keep, or undefined for all of them. */
export async function chooseColumns(columns: readonly SourceColumn[], flags: InitFlags, asker: Asker): Promise<string[] | undefined> {
  const names = columns.map((column) => column.name);
  const check = (list: string[]) => {
    const unknown = list.filter((name) => !names.includes(name));
    return unknown.length ? `${unknown.join(', ')} not among the columns: ${names.join(', ')}` : list.length ? undefined : 'name at least one column';
  };
  const picked = await asker.answer(
    '--columns',
    flags.columns === undefined ? undefined : splitList(flags.columns),
    async () => {
      const { checkbox } = await prompts();
      return ask(() =>
        checkbox({
          message: 'Columns to load (space toggles, enter confirms)',
          pageSize: 15,
          required: true,
          choices: columns.map((column) => ({ value: column.name, name: `${column.name}  ${column.type}`, short: column.name, checked: true })),
        }),
      );
    },
    { fallback: names, check },
  );
  return picked.length === names.length ? undefined : names.filter((name) => picked.includes(name));
}
