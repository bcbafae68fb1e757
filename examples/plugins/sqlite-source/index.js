// A b2betl source plugin: the tables and queries of a SQLite file, as a full snapshot or
// incrementally by a cursor column. It is the worked example of docs/plugins.md.
//
// Incremental jobs read `cursor > last AND cursor <= H`, H read when the run is planned: use a
// cursor that only grows (an INTEGER PRIMARY KEY, an insertion time), since a row written later
// with a cursor at or below H is not read again.
//
//   etl.config.yaml                          jobs/shop_orders.yaml
//   plugins: [./plugins/sqlite-source]       name: shop_orders
//   connections:                             source: { connection: shop, table: orders }
//     shop: { type: sqlite, path: ./shop.db }   load: { strategy: transactional, cursor: id }
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/** Rows per batch handed to b2betl. */
const BATCH_ROWS = 5000;

/**
 * b2betl's canonical type for a SQLite declared type, by SQLite's own affinity rules
 * (https://www.sqlite.org/datatype3.html, 3.1), with the names SQLite stores dates and booleans
 * under read as those types. A column of a query has no declared type: STRING.
 * @param {string | null} declared
 */
export function canonicalType(declared) {
  const type = (declared ?? '').toUpperCase();
  if (type.includes('INT')) return 'INT64';
  if (/CHAR|CLOB|TEXT/.test(type)) return 'STRING';
  if (type.includes('BLOB')) return 'BYTES';
  if (/REAL|FLOA|DOUB/.test(type)) return 'FLOAT64';
  if (type.startsWith('BOOL')) return 'BOOL';
  if (type.includes('TIMESTAMP') || type.includes('DATETIME')) return 'TIMESTAMP';
  if (type === 'DATE') return 'DATE';
  if (/DECIMAL|NUMERIC/.test(type)) return 'NUMERIC';
  return 'STRING';
}

/** Quotes an identifier (`main.orders` → `"main"."orders"`). @param {string} name */
function quoteName(name) {
  return name
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
}

class SqliteSource {
  /** @param {import('better-sqlite3').Database} db @param {string} label */
  constructor(db, label) {
    this.db = db;
    this.label = label;
  }

  /** The rows a job reads, before its cursor window. @param {any} job */
  relation(job) {
    return job.source.query ? `(${job.source.query})` : quoteName(job.source.table);
  }

  /** @param {any} job */
  async discover(job) {
    const statement = this.db.prepare(`SELECT * FROM ${this.relation(job)} AS t LIMIT 0`);
    const wanted = job.source.columns;
    return statement
      .columns()
      .filter((column) => !wanted || wanted.includes(column.name))
      .map((column) => ({ name: column.name, type: canonicalType(column.type), nullable: true, sourceType: column.type ?? undefined }));
  }

  /** @param {any} context */
  async plan(context) {
    const { job, state, fullRefresh } = context;
    const relation = this.relation(job);
    const cursor = job.load.strategy === 'catalog' ? undefined : job.load.cursor;
    const count = (where, params) => Number(this.db.prepare(`SELECT count(*) FROM ${relation} AS t ${where}`).pluck().get(...params));
    if (!cursor) {
      const rows = count('', []);
      return { units: [{ id: 'snapshot', label: `${this.label} ${relation}`, estimatedRows: rows, params: { where: '', values: [] } }], skipped: [], ordered: true, estimatedRows: rows };
    }
    const column = quoteName(cursor);
    // The high-water mark is read when the run is planned: rows written during the run wait for the next one.
    const high = this.db.prepare(`SELECT max(${column}) FROM ${relation} AS t`).pluck().safeIntegers(true).get();
    const last = fullRefresh ? undefined : state.cursor?.value;
    const from = last === undefined ? undefined : typeof last === 'string' && /^-?\d+$/.test(last) ? BigInt(last) : last;
    if (high === null || (from !== undefined && high <= from)) {
      return { units: [], skipped: [], ordered: true, notes: [`no rows with ${cursor} above ${from ?? '(nothing yet)'} in ${this.label} ${relation}`] };
    }
    const where = from === undefined ? `WHERE ${column} <= ?` : `WHERE ${column} > ? AND ${column} <= ?`;
    const values = from === undefined ? [high] : [from, high];
    const rows = count(where, values);
    const text = (value) => (typeof value === 'bigint' ? value.toString() : value);
    return {
      units: [{ id: `${cursor} ${text(from) ?? '-∞'}..${text(high)}`, label: `${this.label} ${relation} (${cursor} up to ${text(high)})`, estimatedRows: rows, cursorAfter: { value: text(high) }, params: { where, values } }],
      skipped: [],
      ordered: true,
      estimatedRows: rows,
      notes: [`${cursor} > ${text(from) ?? '(start)'} and <= ${text(high)}`],
    };
  }

  /** @param {any} unit @param {any} context */
  async *read(unit, context) {
    const columns = await this.discover(context.job);
    const names = columns.map((column) => quoteName(column.name)).join(', ');
    const order = context.job.load.cursor && context.job.load.strategy !== 'catalog' ? ` ORDER BY ${quoteName(context.job.load.cursor)}` : '';
    const statement = this.db.prepare(`SELECT ${names} FROM ${this.relation(context.job)} AS t ${unit.params.where}${order}`).raw(true).safeIntegers(true);
    let rows = [];
    for (const row of statement.iterate(...unit.params.values)) {
      if (context.signal.aborted) return;
      rows.push(row);
      if (rows.length === BATCH_ROWS) {
        yield { columns, rows };
        rows = [];
      }
    }
    if (rows.length) yield { columns, rows };
  }

  /** For `inspect-schema --connection` without `--table`: SQLite keeps no row statistics, so tables are counted. */
  async listTables() {
    const entries = this.db.prepare("SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all();
    return entries.map(({ name, type }) => ({
      name,
      kind: type,
      ...(type === 'table' ? { estimatedRows: Number(this.db.prepare(`SELECT count(*) FROM ${quoteName(name)}`).pluck().get()) } : {}),
    }));
  }

  async close() {
    this.db.close();
  }
}

/**
 * What b2betl calls when the config names this plugin.
 * @param {{ version: number, connectionType(type: string, definition: object): void }} b2betl
 */
export function register(b2betl) {
  if (b2betl.version !== 1) throw new Error(`this plugin speaks b2betl's plugin API 1, not ${b2betl.version}`);
  b2betl.connectionType('sqlite', {
    keys: { path: { type: 'string', required: true, description: 'the SQLite file, relative to the config file' } },
    source: {
      keys: ['table', 'query', 'columns'],
      requires: ['table', 'query'],
      async open(context) {
        const file = path.resolve(context.baseDir, context.config.path);
        if (!existsSync(file)) throw new Error(`connection ${context.name}: there is no SQLite file at ${file}`);
        // fileMustExist: a missing file is an error, never a new empty database.
        const db = new Database(file, { readonly: true, fileMustExist: true });
        return new SqliteSource(db, `${context.name} (${file})`);
      },
    },
  });
}
