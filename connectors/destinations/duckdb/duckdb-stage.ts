/**
 * A run's rows on their way into DuckDB: written as CSV load files (flat memory in this process
 * and in DuckDB), then moved into the target by one transaction that reads them with DuckDB's
 * parallel CSV reader and writes the `_b2betl_loads` marker.
 *
 * A unit that comes as a CSV file DuckDB converts itself (a local file, or rows a database
 * wrote) skips the trip through this process: that transaction opens early and the file goes
 * straight into the target, while other units are still being read. Anything that would make
 * those rows wrong (a value DuckDB does not take, a discarded unit, columns that change, a unit
 * left out of the commit) rolls them back; the commit then inserts the files again.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Column, LoadMarker, NativeFile, RejectedRow, Stage, StageRequest, Value } from '../../../src/core/connector.js';
import { EtlError, fileError, megabytes, messageOf } from '../../../src/core/errors.js';
import { faultPoint } from '../../../src/core/faults.js';
import type { ColumnType } from '../../../src/core/types.js';
import { bufferOptions, nativeFileQuery, readBufferFor } from './duckdb-native.js';
import { DUCKDB_TYPES, literal, numericFromText, quote } from './duckdb-types.js';

/** What the stage needs of its destination. */
export interface StageTarget {
  describeColumns(table: string): Promise<readonly Column[] | undefined>;
  qualified(table: string): string;
  markers(): string;
  tables(): string;
}

const ROW_COLUMN = '_b2betl_row';
const SLOT_COLUMN = '_b2betl_slot';
const NULL = '\\N';
/** Memory DuckDB keeps beside its read buffers when the limit is raised for long rows. */
const MEMORY_HEADROOM = 64 << 20;
const FLUSH_BYTES = 1 << 20;
/** DuckDB's CSV read buffer per thread for load files whose rows are all short. */
const READ_BUFFER = 8 << 20;
/** Distinct doubles per column whose text a load file's writer keeps. */
const FLOAT_TEXTS = 4096;
/** Text longer than this is written to the load file by itself rather than joined into its line. */
const LONG_TEXT = 1 << 20;

type Encode = (value: Value) => string;

/**
 * The quote character of load files: a control character, so that text full of double quotes
 * (JSON above all) is wrapped as it is instead of having every quote doubled.
 */
const QUOTE = '\x02';
const SPECIAL = /[,\n\r\x02]/;

/** A text field: quoted only when it holds a delimiter, quote or line break, is empty, or reads as NULL. */
function quoted(text: string): string {
  if (text !== '' && text !== NULL && !SPECIAL.test(text)) return text;
  return QUOTE + (text.includes(QUOTE) ? text.replaceAll(QUOTE, QUOTE + QUOTE) : text) + QUOTE;
}

/** Writes text to a file, returning its bytes. */
function writeText(fd: number, text: string): number {
  const bytes = Buffer.from(text);
  writeSync(fd, bytes);
  return bytes.length;
}

function asText(value: Value): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return String(value);
}

/** How a value of each type is written into a load file (TIMESTAMP as microseconds, BYTES as base64). */
function encoderFor(type: ColumnType): Encode {
  switch (type) {
    case 'INT64':
    case 'TIMESTAMP':
      return (value) => (typeof value === 'number' || typeof value === 'bigint' ? String(value) : quoted(asText(value)));
    case 'FLOAT64': {
      // Writing a double as text costs far more than looking it up, and columns of measurements
      // repeat their values (times of day, prices): the texts of a column's first values are kept.
      const texts = new Map<number, string>();
      return (value) => {
        if (typeof value !== 'number') return quoted(asText(value));
        // String(-0) is "0", and the map keys -0 as 0: keep the sign of a negative zero.
        if (Object.is(value, -0)) return '-0';
        let text = texts.get(value);
        if (text === undefined) {
          text = String(value);
          if (texts.size < FLOAT_TEXTS) texts.set(value, text);
        }
        return text;
      };
    }
    case 'BOOL':
      return (value) => (value ? 'true' : 'false');
    case 'BYTES':
      return (value) => quoted(asText(value));
    default:
      return (value) => quoted(typeof value === 'string' ? value : asText(value));
  }
}

/** How DuckDB reads a column written as `type`: typed where its CSV reader parses our text directly. */
const READ_TYPES: Partial<Record<ColumnType, string>> = {
  INT64: 'BIGINT',
  FLOAT64: 'DOUBLE',
  BOOL: 'BOOLEAN',
  DATE: 'DATE',
  STRING: 'VARCHAR',
  TIMESTAMP: 'BIGINT',
};

/** The read type of a column written as `written` that the run now holds as `column.type`. */
function readType(written: Column, column: Column): string {
  return written.type === column.type ? (READ_TYPES[column.type] ?? 'VARCHAR') : 'VARCHAR';
}

/** The SQL that turns a load-file column, read as {@link readType}, into the column's type. */
function decodeSql(written: Column, column: Column): string {
  const name = quote(column.name);
  const typed = readType(written, column) !== 'VARCHAR';
  if (typed) return column.type === 'TIMESTAMP' ? `make_timestamptz(${name})` : name;
  switch (column.type) {
    case 'TIMESTAMP':
      return `make_timestamptz(CAST(${name} AS BIGINT))`;
    case 'BYTES':
      return `from_base64(${name})`;
    case 'NUMERIC':
      return numericFromText(name);
    default:
      return `CAST(${name} AS ${DUCKDB_TYPES[column.type]})`;
  }
}

/**
 * A load file: every unit's rows written while the run had one column list. Each row carries
 * the slot it was written under, so a discarded unit's rows are left out at commit rather than
 * cut out of the file, and thousands of small units need one open file, not thousands.
 */
interface Part {
  readonly file: string;
  readonly columns: readonly Column[];
  readonly fd: number;
  /** Bytes of the longest line written: DuckDB's read buffer must hold it. */
  longest: number;
}

/** A unit DuckDB reads from its file straight into the target. */
interface NativeUnit {
  readonly file: NativeFile;
  readonly targets: readonly (Column | undefined)[];
  readonly query: string;
  /** Rows inserted in the open transaction; undefined when not (yet, or rolled back). */
  inserted?: number;
}

export class DuckDBStage implements Stage {
  private columns: Column[];
  private encoders: Encode[];
  private readonly parts: Part[] = [];
  private part?: Part;
  /** The slot each unit currently writes under; a discarded unit gets a fresh one. */
  private readonly slots = new Map<number, number>();
  private nextSlot = 0;
  private rowNumber = 0;
  private readonly buffer = Buffer.allocUnsafe(FLUSH_BYTES);
  private bytes = 0;
  private readonly natives = new Map<number, NativeUnit>();
  /** Whether the commit's transaction is open, holding native units' rows. */
  private open = false;
  /** The memory limit to put back when the transaction ends, if it was raised for long rows. */
  private restoreMemory?: string;

  constructor(
    private readonly db: DuckDBConnection,
    private readonly target: StageTarget,
    private readonly request: StageRequest,
    private readonly dir: string,
  ) {
    this.columns = [...request.columns];
    this.encoders = this.columns.map((column) => encoderFor(column.type));
    mkdirSync(dir, { recursive: true });
  }

  async evolve(columns: readonly Column[]): Promise<void> {
    // Native rows went into the old columns: the commit inserts them again into the new ones.
    await this.rollBack();
    // Later rows go to a new part written with the new column list.
    this.closePart();
    this.columns = [...columns];
    this.encoders = this.columns.map((column) => encoderFor(column.type));
  }

  private openPart(): Part {
    if (!this.part) {
      const file = path.join(this.dir, `part-${this.parts.length}.csv`);
      let fd: number;
      try {
        fd = openSync(file, 'w');
      } catch (error) {
        throw fileError(error, file);
      }
      this.part = { file, columns: this.columns, fd, longest: 0 };
      this.parts.push(this.part);
    }
    return this.part;
  }

  private slotOf(unit: number): number {
    let slot = this.slots.get(unit);
    if (slot === undefined) this.slots.set(unit, (slot = this.nextSlot++));
    return slot;
  }

  async write(unit: number, rows: readonly Value[][]): Promise<void> {
    const part = this.openPart();
    try {
      this.writeRows(part, unit, rows);
    } catch (error) {
      throw fileError(error, part.file);
    }
  }

  private writeRows(part: Part, unit: number, rows: readonly Value[][]): void {
    const prefix = `${this.slotOf(unit)},`;
    const encoders = this.encoders;
    const width = encoders.length;
    for (const row of rows) {
      let line = prefix + String(++this.rowNumber);
      let long = false;
      for (let i = 0; i < width; i++) {
        const value = row[i];
        if (value === null || value === undefined) line += `,${NULL}`;
        else if (typeof value === 'string' && value.length > LONG_TEXT) long = true;
        else line += `,${encoders[i](value)}`;
      }
      if (long) {
        this.writeLong(row, prefix + String(this.rowNumber));
        continue;
      }
      line += '\n';
      // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
      if (this.bytes + line.length * 3 > this.buffer.length) this.flush();
      const written = this.buffer.write(line, this.bytes);
      this.bytes += written;
      if (written > part.longest) part.longest = written;
    }
  }

  /** Writes a row holding long text field by field, so no line is ever joined into one string. */
  private writeLong(row: readonly Value[], head: string): void {
    this.flush();
    const part = this.part!;
    let bytes = writeText(part.fd, head);
    for (let i = 0; i < this.encoders.length; i++) {
      const value = row[i];
      bytes += writeText(part.fd, value === null || value === undefined ? `,${NULL}` : `,${this.encoders[i](value)}`);
    }
    writeText(part.fd, '\n');
    part.longest = Math.max(part.longest, bytes);
  }

  private flush(): void {
    if (!this.bytes || !this.part) return;
    writeSync(this.part.fd, this.buffer, 0, this.bytes);
    this.bytes = 0;
  }

  private closePart(): void {
    try {
      this.flush();
    } catch (error) {
      throw fileError(error, this.part!.file);
    }
    if (this.part) closeSync(this.part.fd);
    this.part = undefined;
  }

  async loadFile(unit: number, file: NativeFile, targets: readonly (Column | undefined)[]): Promise<number | undefined> {
    // A merge keeps the last staged row per key, and a file read in parallel has no order.
    const query = this.request.strategy === 'merge' ? undefined : nativeFileQuery(file, targets);
    if (!query) return undefined;
    await this.discard(unit);
    const native: NativeUnit = { file, targets, query };
    try {
      const rows = await this.insertNative(native);
      this.natives.set(unit, native);
      this.request.log.debug(`${file.label}: ${rows} row(s) read by DuckDB`);
      return rows;
    } catch (error) {
      // A failed statement ends the transaction: what it held is inserted again at commit.
      await this.rollBack();
      this.request.log.debug(`${file.label}: streamed, as DuckDB did not take it: ${messageOf(error).split('\n')[0]}`);
      return undefined;
    }
  }

  /** Inserts a native unit's file into the target, opening the commit's transaction first. */
  private async insertNative(native: NativeUnit): Promise<number> {
    await this.begin();
    const names = native.targets.flatMap((column) => (column ? [quote(column.name)] : [])).join(', ');
    const longest = native.file.format.kind === 'csv' ? native.file.format.longestRecord : 0;
    await this.makeRoomFor(longest);
    const result = await this.db.run(`INSERT INTO ${this.target.qualified(this.request.table)} (${names}) ${native.query}`);
    native.inserted = Number(result.rowsChanged);
    return native.inserted;
  }

  /**
   * Raises DuckDB's memory limit until the commit's transaction ends, when reading with CSV
   * buffers of `buffer` bytes (and writing the values they hold) needs more than it allows: a
   * value is never too large for DuckDB, whatever the warehouse's `memory_limit`.
   */
  private async makeRoomFor(longest: number): Promise<void> {
    if (longest <= LONG_TEXT) return;
    const buffer = readBufferFor(longest);
    const needed = 3 * buffer + MEMORY_HEADROOM;
    const current = await this.memoryLimit();
    if (needed <= current.bytes) return;
    this.request.log.debug(`raising DuckDB's memory limit from ${current.text} to ${Math.ceil(needed / (1 << 20))} MiB for rows of ${megabytes(buffer)} MB`);
    this.restoreMemory ??= current.text;
    await this.db.run(`SET memory_limit = '${needed}B'`);
  }

  /** Puts the memory limit back once the transaction that needed more has ended. */
  private async restoreMemoryLimit(): Promise<void> {
    if (this.restoreMemory === undefined) return;
    const text = this.restoreMemory;
    this.restoreMemory = undefined;
    await this.db.run(`SET memory_limit = ${literal(text)}`);
  }

  private async memoryLimit(): Promise<{ text: string; bytes: number }> {
    const reader = await this.db.runAndReadAll("SELECT current_setting('memory_limit')");
    const text = String(reader.getRows()[0]![0]);
    const match = /^([\d.]+)\s*([KMGT]?i?B)$/i.exec(text);
    const units: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 1 << 10, MIB: 1 << 20, GIB: 1 << 30, TIB: 2 ** 40 };
    return { text, bytes: match ? Number(match[1]) * (units[match[2]!.toUpperCase()] ?? 1) : Number.POSITIVE_INFINITY };
  }

  /** Opens the commit's transaction: the target created or evolved, and emptied for a catalog load. */
  private async begin(): Promise<void> {
    if (this.open) return;
    await this.db.run('BEGIN TRANSACTION');
    this.open = true;
    const target = this.target.qualified(this.request.table);
    await this.evolveTarget(target);
    if (this.request.strategy === 'catalog') await this.db.run(`DELETE FROM ${target}`);
  }

  /** Rolls the open transaction back; native units are then inserted again at commit. */
  private async rollBack(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.db.run('ROLLBACK').catch(() => undefined);
    await this.restoreMemoryLimit();
    for (const native of this.natives.values()) native.inserted = undefined;
  }

  async discard(unit: number): Promise<void> {
    this.slots.delete(unit);
    const native = this.natives.get(unit);
    if (!native) return;
    this.natives.delete(unit);
    if (native.inserted !== undefined) await this.rollBack();
  }

  /**
   * A query over the committed units' rows in the load files, in the run's final columns and
   * types, and the bytes of the longest line, which DuckDB's buffers must hold.
   */
  private stagedRows(units: readonly number[]): { query: string; longest: number } | undefined {
    this.closePart();
    const slots = units.flatMap((unit) => (this.slots.has(unit) ? [this.slots.get(unit)!] : []));
    if (!slots.length || !this.parts.length) return undefined;
    const current = new Map(this.columns.map((column) => [column.name, column]));
    const selects = this.parts.map(({ columns, file, longest }) => {
      const written = new Map(columns.map((column) => [column.name, column]));
      const spec = [`'${SLOT_COLUMN}': 'INTEGER'`, `'${ROW_COLUMN}': 'BIGINT'`, ...columns.map((column) => `${literal(column.name)}: '${readType(column, current.get(column.name) ?? column)}'`)].join(', ');
      const values = this.columns.map((column) => {
        const as = written.get(column.name);
        return as ? `${decodeSql(as, column)} AS ${quote(column.name)}` : `NULL::${DUCKDB_TYPES[column.type]} AS ${quote(column.name)}`;
      });
      return `SELECT ${quote(ROW_COLUMN)}, ${values.join(', ')} FROM read_csv(${literal(file)}, header = false, delim = ',', quote = '${QUOTE}', escape = '${QUOTE}', nullstr = '\\N', allow_quoted_nulls = false, new_line = '\\n', ${bufferOptions(longest, READ_BUFFER)}, columns = {${spec}}) WHERE ${quote(SLOT_COLUMN)} IN (${slots.join(', ')})`;
    });
    return { query: selects.join('\nUNION ALL\n'), longest: Math.max(...this.parts.map((part) => part.longest)) };
  }

  async commit(units: readonly number[], marker: LoadMarker, rejects: readonly RejectedRow[]): Promise<number> {
    const target = this.target.qualified(this.request.table);
    const names = this.columns.map((column) => quote(column.name)).join(', ');
    const staged = this.stagedRows(units);
    const committing = new Set(units);
    // Rows inserted ahead for a unit that is not committing cannot stay.
    if ([...this.natives].some(([unit, native]) => native.inserted !== undefined && !committing.has(unit))) await this.rollBack();
    try {
      await this.begin();
      let read = 0;
      for (const unit of units) {
        const native = this.natives.get(unit);
        if (native) read += native.inserted ?? (await this.insertNative(native));
      }
      let rows = read;
      if (staged) {
        const merging = this.request.strategy === 'merge';
        const into = merging ? this.mergeBatch() : target;
        if (merging) await this.db.run(`CREATE OR REPLACE TEMP TABLE ${into} AS SELECT ${quote(ROW_COLUMN)}, ${names} FROM (${staged.query}) LIMIT 0`);
        const selected = merging ? `${quote(ROW_COLUMN)}, ${names}` : names;
        await this.makeRoomFor(staged.longest);
        const inserted = await this.db.run(`INSERT INTO ${into} (${selected}) SELECT ${selected} FROM (${staged.query})`);
        read += Number(inserted.rowsChanged);
        rows = merging ? await this.merge(target, names, into) : read;
      }
      // DuckDB must have read back every row staged: anything else is rows lost, never committed.
      if (read !== marker.rows) {
        throw new EtlError(
          `DuckDB read back ${read} row(s) of the ${marker.rows} staged for ${this.target.qualified(this.request.table)}; nothing was committed`,
          'run the job again; if it happens again, report it with the files of the run',
        );
      }
      await this.db.run(`INSERT INTO ${this.target.markers()} VALUES ($1, $2, $3, $4, $5, $6, now())`, [
        marker.runId,
        marker.job,
        marker.table,
        marker.strategy,
        JSON.stringify(marker.units),
        rows,
      ]);
      if (rejects.length) await this.writeRejects(rejects);
      faultPoint('during-commit');
      await this.db.run('COMMIT');
      this.open = false;
      await this.restoreMemoryLimit();
      await this.abort();
      return rows;
    } catch (error) {
      await this.rollBack();
      throw error;
    }
  }

  private mergeBatch(): string {
    return quote(`_b2betl_merge_${this.request.job.name}`);
  }

  /** Upsert: the last staged row per key (of those in `batch`) replaces the target's rows with that key. */
  private async merge(target: string, names: string, batch: string): Promise<number> {
    const keys = this.request.primaryKey.map((key) => quote(this.nameOf(key)));
    await this.db.run(
      `DELETE FROM ${batch} WHERE ${quote(ROW_COLUMN)} NOT IN (SELECT max(${quote(ROW_COLUMN)}) FROM ${batch} GROUP BY ${keys.join(', ')})`,
    );
    const matches = keys.map((key) => `${target}.${key} IS NOT DISTINCT FROM s.${key}`).join(' AND ');
    await this.db.run(`DELETE FROM ${target} USING ${batch} AS s WHERE ${matches}`);
    const inserted = await this.db.run(`INSERT INTO ${target} (${names}) SELECT ${names} FROM ${batch}`);
    await this.db.run(`DROP TABLE ${batch}`);
    return Number(inserted.rowsChanged);
  }

  /** The sanitized name of a primary-key column given by its source or sanitized name. */
  private nameOf(key: string): string {
    const column = this.columns.find((c) => c.source === key || c.name === key || c.name.toLowerCase() === key.toLowerCase());
    if (!column) throw new EtlError(`load.primary_key column ${key} is not among the loaded columns`, `columns are: ${this.columns.map((c) => c.source).join(', ')}`);
    return column.name;
  }

  /** Creates the target or brings its schema up to the run's columns, inside the commit transaction. */
  private async evolveTarget(target: string): Promise<void> {
    const existing = await this.target.describeColumns(this.request.table);
    if (!existing) {
      const defs = this.columns.map((column) => `${quote(column.name)} ${DUCKDB_TYPES[column.type]}`);
      await this.db.run(`CREATE TABLE ${target} (${defs.join(', ')})`);
    } else {
      const known = new Map(existing.map((column) => [column.name.toLowerCase(), column]));
      for (const column of this.columns) {
        const before = known.get(column.name.toLowerCase());
        if (!before) await this.db.run(`ALTER TABLE ${target} ADD COLUMN ${quote(column.name)} ${DUCKDB_TYPES[column.type]}`);
        else if (DUCKDB_TYPES[before.type] !== DUCKDB_TYPES[column.type]) {
          await this.db.run(`ALTER TABLE ${target} ALTER COLUMN ${quote(column.name)} TYPE ${DUCKDB_TYPES[column.type]}`);
        }
      }
    }
    await this.db.run(`INSERT OR IGNORE INTO ${this.target.tables()} VALUES ($1, $2, now())`, [this.request.table, this.request.strategy]);
  }

  private async writeRejects(rejects: readonly RejectedRow[]): Promise<void> {
    const table = this.target.qualified(`${this.request.table}__rejected`);
    await this.db.run(
      `CREATE TABLE IF NOT EXISTS ${table} (run_id VARCHAR, unit VARCHAR, position VARCHAR, column_name VARCHAR, reason VARCHAR, raw VARCHAR, rejected_at TIMESTAMPTZ)`,
    );
    const statement = await this.db.prepare(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6, now())`);
    for (const reject of rejects) {
      statement.bind([reject.runId, reject.unit, reject.position, reject.column ?? null, reject.reason, reject.raw]);
      await statement.run();
    }
  }

  async abort(): Promise<void> {
    try {
      await this.rollBack();
      for (const unit of [...this.natives.keys()]) await this.discard(unit);
    } finally {
      // Nothing of the load files is needed any more: unwritten bytes are dropped, not flushed.
      if (this.part) closeSync(this.part.fd);
      this.part = undefined;
      this.bytes = 0;
      this.parts.length = 0;
      this.slots.clear();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

