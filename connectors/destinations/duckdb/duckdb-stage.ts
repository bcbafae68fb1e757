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
import { mkdirSync, rmSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Column, LoadMarker, NativeFile, RejectedRow, Stage, StageRequest, Value } from '../../../src/core/connector.js';
import { EtlError, megabytes, messageOf, ObjectChanged } from '../../../src/core/errors.js';
import { faultPoint } from '../../../src/core/faults.js';
import { markerStateText } from '../../../src/core/marker-state.js';
import { decodeSql, QUOTE, readType } from './duckdb-load-file.js';
import { LoadFileWriter, LONG_TEXT } from './duckdb-load-writer.js';
import { bufferOptions, nativeFileQuery, readBufferFor } from './duckdb-native.js';
import { DUCKDB_TYPES, literal, quote } from './duckdb-types.js';

/** What the stage needs of its destination. */
export interface StageTarget {
  describeColumns(table: string): Promise<readonly Column[] | undefined>;
  qualified(table: string): string;
  markersTable(): string;
  tables(): string;
}

const ROW_COLUMN = '_b2betl_row';
const SLOT_COLUMN = '_b2betl_slot';
/** Memory DuckDB keeps beside its read buffers when the limit is raised for long rows. */
const MEMORY_HEADROOM = 64 << 20;
/** DuckDB's CSV read buffer per thread for load files whose rows are all short. */
const READ_BUFFER = 8 << 20;
/** Attempts at a commit that conflicts with another transaction in this process. */
const COMMIT_ATTEMPTS = 5;
/** A unit DuckDB reads from its file straight into the target. */
interface NativeUnit {
  readonly file: NativeFile;
  targets: readonly (Column | undefined)[];
  query: string;
  /** Rows inserted in the open transaction; undefined when not (yet, or rolled back). */
  inserted?: number;
}

export class DuckDBStage implements Stage {
  private readonly files: LoadFileWriter;
  /** The slot each unit currently writes under; a discarded unit gets a fresh one. */
  private readonly slots = new Map<number, number>();
  private nextSlot = 0;
  /** Rows carry their number only for a merge, where the last row per key wins. */
  private readonly numbered: boolean;
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
    this.numbered = request.strategy === 'merge';
    this.files = new LoadFileWriter(dir, request.columns, this.numbered);
    mkdirSync(dir, { recursive: true });
  }

  /** The run's columns as they are now. */
  private get columns(): readonly Column[] {
    return this.files.columns;
  }

  async evolve(columns: readonly Column[]): Promise<void> {
    await this.files.settle();
    // Native rows went into the old columns: the commit inserts them again into the new ones,
    // read anew into each column's new type (a column become text takes the file's own spelling).
    await this.rollBack();
    const byName = new Map(columns.map((column) => [column.name, column]));
    for (const native of this.natives.values()) {
      const targets = native.targets.map((column) => column && (byName.get(column.name) ?? column));
      const query = nativeFileQuery(native.file, targets);
      if (query) Object.assign(native, { targets, query });
    }
    // Later rows go to a new part written with the new column list.
    this.files.setColumns(columns);
  }

  private slotOf(unit: number): number {
    let slot = this.slots.get(unit);
    if (slot === undefined) this.slots.set(unit, (slot = this.nextSlot++));
    return slot;
  }

  async write(unit: number, rows: readonly Value[][]): Promise<void> {
    await this.files.write(this.slotOf(unit), rows);
  }

  /** Appends rows given column by column (see {@link LoadFileWriter.writeColumns}). */
  async writeColumns(unit: number, columns: readonly (ArrayLike<Value> | null)[], length: number, skip?: Uint8Array): Promise<void> {
    await this.files.writeColumns(this.slotOf(unit), columns, length, skip);
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
    const replace = this.request.replace;
    if (this.request.strategy === 'catalog' || replace?.kind === 'table') await this.db.run(`DELETE FROM ${target}`);
    else if (replace?.kind === 'window') {
      const column = this.columns.find((c) => c.source === replace.column || c.name === replace.column);
      if (!column) throw new EtlError(`the backfill's cursor column ${replace.column} is not among the loaded columns`, 'keep load.cursor among source.columns');
      const type = DUCKDB_TYPES[column.type];
      const where: string[] = [];
      if (replace.lower !== undefined) where.push(`${quote(column.name)} >= CAST(${literal(replace.lower)} AS ${type})`);
      if (replace.upper) where.push(`${quote(column.name)} ${replace.upper.inclusive ? '<=' : '<'} CAST(${literal(replace.upper.value)} AS ${type})`);
      const deleted = await this.db.run(`DELETE FROM ${target} WHERE ${where.length ? where.join(' AND ') : 'TRUE'}`);
      this.request.log.debug(`backfill: ${Number(deleted.rowsChanged)} row(s) of ${target} in the window replaced`);
    }
  }

  /** The rows a committed marker of this run recorded, when this run already committed. */
  private async committedRows(marker: LoadMarker): Promise<number | undefined> {
    const reader = await this.db.runAndReadAll(`SELECT rows FROM ${this.target.markersTable()} WHERE job = $1 AND run_id = $2`, [marker.job, marker.runId]);
    const row = reader.getRows()[0];
    return row ? Number(row[0]) : undefined;
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
    this.files.close();
    const slots = units.flatMap((unit) => (this.slots.has(unit) ? [this.slots.get(unit)!] : []));
    if (!slots.length || !this.files.parts.length) return undefined;
    // A row's place in the run: its unit's place in the plan first, then its place in the unit, so
    // that a merge keeps the last version in plan order however the units' reads interleaved.
    const unitOrder = `CASE ${quote(SLOT_COLUMN)} ${units.flatMap((unit) => (this.slots.has(unit) ? [`WHEN ${this.slots.get(unit)!} THEN ${unit}`] : [])).join(' ')} END`;
    const order = `${unitOrder}::BIGINT * ${2 ** 40} + ${quote(ROW_COLUMN)} AS ${quote(ROW_COLUMN)}`;
    const current = new Map(this.columns.map((column) => [column.name, column]));
    const selects = this.files.parts.map(({ columns, file, longest, float32 }) => {
      const written = new Map(columns.map((column) => [column.name, column]));
      const spec = [
        `'${SLOT_COLUMN}': 'INTEGER'`,
        ...(this.numbered ? [`'${ROW_COLUMN}': 'BIGINT'`] : []),
        ...columns.map((column) => `${literal(column.name)}: '${readType(column, current.get(column.name) ?? column, float32.has(column.name))}'`),
      ].join(', ');
      const values = this.columns.map((column) => {
        const as = written.get(column.name);
        return as ? `${decodeSql(as, column, float32.has(column.name))} AS ${quote(column.name)}` : `NULL::${DUCKDB_TYPES[column.type]} AS ${quote(column.name)}`;
      });
      return `SELECT ${this.numbered ? `${order}, ` : ''}${values.join(', ')} FROM read_csv(${literal(file)}, header = false, delim = ',', quote = '${QUOTE}', escape = '${QUOTE}', nullstr = '\\N', allow_quoted_nulls = false, new_line = '\\n', ${bufferOptions(longest, READ_BUFFER)}, columns = {${spec}}) WHERE ${quote(SLOT_COLUMN)} IN (${slots.join(', ')})`;
    });
    return { query: selects.join('\nUNION ALL\n'), longest: Math.max(...this.files.parts.map((part) => part.longest)) };
  }

  async commit(units: readonly number[], marker: LoadMarker, rejects: readonly RejectedRow[]): Promise<number> {
    await this.files.settle();
    const staged = this.stagedRows(units);
    const committing = new Set(units);
    // Rows inserted ahead for a unit that is not committing cannot stay.
    if ([...this.natives].some(([unit, native]) => native.inserted !== undefined && !committing.has(unit))) await this.rollBack();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.commitOnce(units, marker, rejects, staged);
      } catch (error) {
        await this.rollBack();
        // Another transaction of this process changed the same rows first: the commit runs again, after checking its marker.
        if (!/conflict/i.test(messageOf(error)) || attempt >= COMMIT_ATTEMPTS) throw error;
        this.request.log.warn(`the commit into ${this.target.qualified(this.request.table)} conflicted with another transaction; retrying (attempt ${attempt + 1})`);
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  }

  /**
   * One attempt at the commit's transaction. It checks for the run's marker first: a run that
   * already committed is never applied twice, and returns the rows its marker recorded.
   */
  private async commitOnce(units: readonly number[], marker: LoadMarker, rejects: readonly RejectedRow[], staged: { query: string; longest: number } | undefined): Promise<number> {
    const target = this.target.qualified(this.request.table);
    const names = this.columns.map((column) => quote(column.name)).join(', ');
    await this.begin();
    const already = await this.committedRows(marker);
    if (already !== undefined) {
      this.request.log.warn(`run ${marker.runId} is already committed into ${target}; not applying it again`);
      await this.abort();
      return already;
    }
    let read = 0;
    for (const unit of units) {
      const native = this.natives.get(unit);
      if (!native) continue;
      read += native.inserted ?? (await this.insertNative(native));
      if (native.file.unchanged && !(await native.file.unchanged())) throw new ObjectChanged(native.file.label);
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
        `DuckDB read back ${read} row(s) of the ${marker.rows} staged for ${target}; nothing was committed`,
        'run the job again; if it happens again, report it with the files of the run',
      );
    }
    await this.db.run(`INSERT INTO ${this.target.markersTable()} (run_id, job, table_name, strategy, units, rows, committed_at, state) VALUES ($1, $2, $3, $4, $5, $6, now(), $7)`, [
      marker.runId,
      marker.job,
      marker.table,
      marker.strategy,
      JSON.stringify(marker.units),
      rows,
      markerStateText(marker.state),
    ]);
    if (rejects.length) await this.writeRejects(rejects);
    faultPoint('during-commit');
    await this.db.run('COMMIT');
    this.open = false;
    await this.restoreMemoryLimit();
    await this.abort();
    return rows;
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
      await this.files.settle().catch(() => undefined);
      await this.rollBack();
      for (const unit of [...this.natives.keys()]) await this.discard(unit);
    } finally {
      // Nothing of the load files is needed any more: unwritten bytes are dropped, not flushed.
      this.files.drop();
      this.slots.clear();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

