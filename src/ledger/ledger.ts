/**
 * The ledger: a SQLite file (WAL) holding runs, processed files, cursors, column mappings and
 * job locks. Every state change that follows a destination commit happens in one transaction.
 */
import { mkdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { createRequire } from 'node:module';
import type { ObjectInfo } from '../core/connector.js';
import { EtlError, LockedError } from '../core/errors.js';
import { redact } from '../core/redact.js';
import type { Column } from '../core/types.js';
import type { RunDetails } from './details.js';
import { BUSY_MS, createLedgerFile, isBusy, ledgerError, LOCKED_WAIT_MS, RESTORE_HINT, SCHEMA, sleepSync } from './ledger-file.js';

const require = createRequire(import.meta.url);

/** Final and in-flight run states. `committing` means the destination commit may have happened. */
export type RunStatus = 'running' | 'committing' | 'succeeded' | 'partial' | 'failed' | 'skipped' | 'interrupted';

/** Milliseconds spent in each pipeline stage. */
export type StageTimes = Partial<Record<'plan' | 'extract' | 'convert' | 'stage' | 'commit' | 'record', number>>;

/** Counters of a run, as reported by `--json` and `history`. */
export interface RunCounts {
  rows_extracted: number;
  rows_loaded: number;
  rows_rejected: number;
  files_processed: number;
  files_skipped: number;
  files_failed: number;
  bytes: number;
}

/** The counts of a run that has loaded nothing yet. */
export function zeroCounts(): RunCounts {
  return { rows_extracted: 0, rows_loaded: 0, rows_rejected: 0, files_processed: 0, files_skipped: 0, files_failed: 0, bytes: 0 };
}

export interface RunRecord extends RunCounts {
  id: string;
  job: string;
  started_at: string;
  ended_at: string | null;
  status: RunStatus;
  error: string | null;
  stages: StageTimes;
  destination: string | null;
  table_name: string | null;
  strategy: string | null;
}

/** What a run will record once its destination commit lands (kept on the run row before committing). */
export interface PendingCommit {
  readonly connection: string;
  readonly files: readonly ObjectInfo[];
  /** The files are a whole snapshot (catalog): they replace the job's recorded files instead of joining them. */
  readonly snapshot?: boolean;
  /** New cursor state, or undefined to keep the current one. */
  readonly cursor?: unknown;
  readonly columns: readonly Column[];
  readonly counts: RunCounts;
  /** The commit counts its rows itself (a copy inside the destination): until it has, they are in its marker only. */
  readonly rowsInMarker?: boolean;
  readonly status: 'succeeded' | 'partial';
  readonly error?: string;
  readonly stages: StageTimes;
}

/** Which runs {@link Ledger.runs} lists; `limit: null` lists them all. */
export interface RunFilter {
  readonly job?: string;
  readonly statuses?: readonly RunStatus[];
  readonly since?: string;
  readonly limit?: number | null;
}

export interface LockInfo {
  job: string;
  run_id: string;
  pid: number;
  host: string;
  acquired_at: string;
  expires_at: string;
}

export interface StoredColumn {
  original: string;
  sanitized: string;
  type: string;
  position: number;
}

/** A job's state rebuilt from the markers in its destination. */
export interface RestoredState {
  readonly files: readonly { connection: string; info: ObjectInfo; runId: string; loadedAt: string }[];
  readonly cursor?: { state: unknown; runId: string; updatedAt: string };
  readonly columns: readonly { source: string; name: string; type: string }[];
}

/** Everything the ledger holds about one job, for `state show` and for merging ledgers. */
export interface JobDump {
  job: string;
  runs: Record<string, unknown>[];
  files: Record<string, unknown>[];
  cursors: Record<string, unknown>[];
  columns: Record<string, unknown>[];
  /** Whether (and when) `state reset` cleared the job's state. */
  resets: Record<string, unknown>[];
}

/** The tables a job's rows live in, as {@link JobDump} carries them. */
export const JOB_TABLES = ['runs', 'files', 'cursors', 'columns', 'resets'] as const;

/** Serializes cursor state, keeping bigints exact. */
export function encodeState(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
}

/** Inverse of {@link encodeState}. */
export function decodeState(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) =>
    v && typeof v === 'object' && '$bigint' in v && Object.keys(v).length === 1 ? BigInt((v as { $bigint: string }).$bigint) : v,
  );
}

function now(): string {
  return new Date().toISOString();
}

/** Whether a process with this pid is alive on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A run id: sortable by start time, unique across machines. */
export function newRunId(date = new Date()): string {
  const stamp = date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', 't').toLowerCase();
  return `${stamp}_${Math.random().toString(36).slice(2, 8).padEnd(6, '0')}`;
}

/** A `runs` row as history shows it (without the pending state, host and pid). */
function runRecord({ pending: _pending, host: _host, pid: _pid, details: _details, ...row }: Record<string, unknown>): RunRecord {
  return { ...(row as unknown as Omit<RunRecord, 'stages'>), stages: JSON.parse(String(row.stages ?? '{}')) as StageTimes };
}

/** The SQLite ledger. */
export class Ledger {
  private db!: BetterSqlite3.Database;
  /** The ledger as users know it: its path, or its gs:// URI. */
  readonly name: string;
  private readonly onWait: (message: string) => void;

  private constructor(
    readonly file: string,
    options: { name?: string; onWait?: (message: string) => void },
  ) {
    this.name = options.name ?? file;
    this.onWait = options.onWait ?? ((message) => process.stderr.write(`${new Date().toISOString()} warn ${message}\n`));
    this.guard(() => this.connect());
  }

  private connect(): void {
    const Database = require('better-sqlite3') as typeof BetterSqlite3;
    const size = this.file === ':memory:' ? undefined : statSync(this.file, { throwIfNoEntry: false })?.size;
    // SQLite takes an empty file for a new database: that would be a fresh start, reloading everything.
    if (size === 0) throw new EtlError(`ledger ${this.name} is empty (0 bytes): the state of its jobs is lost`, RESTORE_HINT);
    if (this.file !== ':memory:') mkdirSync(path.dirname(this.file), { recursive: true });
    if (size === undefined && this.file !== ':memory:') createLedgerFile(this.file);
    this.db?.close();
    this.db = new Database(this.file);
    try {
      this.db.pragma(`busy_timeout = ${BUSY_MS}`);
      if (size !== undefined) {
        const verdict = this.db.pragma('quick_check', { simple: true });
        if (verdict !== 'ok') throw new EtlError(`ledger ${this.name} is damaged (${String(verdict).split('\n')[0]})`, RESTORE_HINT);
      }
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
      this.migrate();
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /** Adds what later versions keep to a ledger an earlier version wrote. */
  private migrate(): void {
    const columns = new Set((this.db.prepare('PRAGMA table_info(runs)').all() as { name: string }[]).map((column) => column.name));
    if (!columns.has('details')) this.db.exec('ALTER TABLE runs ADD COLUMN details TEXT');
  }

  /**
   * Runs one ledger operation (a statement or a transaction). Another process holding the file
   * locked is waited for, up to a bound, saying who runs there; every SQLite failure becomes an
   * error naming the ledger and the fix.
   */
  guard<T>(operation: () => T): T {
    const deadline = Date.now() + LOCKED_WAIT_MS;
    let told = false;
    for (;;) {
      try {
        return operation();
      } catch (error) {
        if (!isBusy(error)) throw ledgerError(error, this.name);
        const holders = this.holders();
        if (Date.now() >= deadline) {
          throw new LockedError(
            `ledger ${this.name} stayed locked by another process for ${Math.round(LOCKED_WAIT_MS / 1000)} s${holders ? ` (b2betl runs using it: ${holders})` : ''}`,
            holders ? 'wait for those runs to finish, then run again' : 'another program (a sqlite3 shell?) holds it in a transaction: close it, then run again',
          );
        }
        if (!told) {
          told = true;
          this.onWait(`ledger ${this.name} is locked by another process${holders ? ` (b2betl runs using it: ${holders})` : ''}; waiting up to ${Math.round(LOCKED_WAIT_MS / 1000)} s`);
        }
        sleepSync(200);
      }
    }
  }

  /** The b2betl runs that hold job locks in this ledger, as words; empty when none (or unreadable). */
  private holders(): string {
    try {
      const locks = this.db.prepare('SELECT * FROM locks').all() as LockInfo[];
      return locks.map((lock) => `job ${lock.job}, run ${lock.run_id}, pid ${lock.pid} on ${lock.host}`).join('; ');
    } catch {
      return '';
    }
  }

  /** Opens (creating if needed) the ledger file; `name` is how messages call it (default: the path). */
  static open(file: string, options: { name?: string; onWait?: (message: string) => void } = {}): Ledger {
    return new Ledger(file, options);
  }

  close(): void {
    this.db.close();
  }

  /** Flushes the WAL into the main file, so the file alone is a complete copy. */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  // --- locks ------------------------------------------------------------------------------

  /**
   * Takes the job's lock for `runId`, or throws {@link LockedError} when another live run holds
   * it. A lock whose process is gone (same host) or whose lease expired is taken over.
   */
  acquireLock(job: string, runId: string, leaseMs: number): void {
    const host = hostname();
    const take = this.db.transaction(() => {
      const held = this.db.prepare('SELECT * FROM locks WHERE job = ?').get(job) as LockInfo | undefined;
      if (held) {
        const expired = Date.parse(held.expires_at) < Date.now();
        const gone = held.host === host && !processAlive(held.pid);
        if (!expired && !gone) {
          throw new LockedError(
            `job ${job} is already running (run ${held.run_id}, pid ${held.pid} on ${held.host}, since ${held.acquired_at})`,
            `wait for it to finish; if that process is gone, its lock is taken over at ${held.expires_at}`,
          );
        }
      }
      this.db
        .prepare('INSERT OR REPLACE INTO locks (job, run_id, pid, host, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(job, runId, process.pid, host, now(), new Date(Date.now() + leaseMs).toISOString());
    });
    take.immediate();
  }

  /** Extends the lease of a lock this run holds. */
  renewLock(job: string, runId: string, leaseMs: number): void {
    this.db.prepare('UPDATE locks SET expires_at = ? WHERE job = ? AND run_id = ?').run(new Date(Date.now() + leaseMs).toISOString(), job, runId);
  }

  releaseLock(job: string, runId: string): void {
    this.db.prepare('DELETE FROM locks WHERE job = ? AND run_id = ?').run(job, runId);
  }

  lockOf(job: string): LockInfo | undefined {
    return this.db.prepare('SELECT * FROM locks WHERE job = ?').get(job) as LockInfo | undefined;
  }

  // --- runs -------------------------------------------------------------------------------

  startRun(run: { id: string; job: string; destination: string; table: string; strategy: string }): void {
    this.db
      .prepare('INSERT INTO runs (id, job, started_at, status, destination, table_name, strategy, host, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(run.id, run.job, now(), 'running', run.destination, run.table, run.strategy, hostname(), process.pid);
  }

  /** Notes what the run will record, just before the destination commit. */
  markCommitting(runId: string, pending: PendingCommit): void {
    this.db.prepare("UPDATE runs SET status = 'committing', pending = ? WHERE id = ?").run(encodeState({ ...pending, error: pending.error === undefined ? undefined : redact(pending.error) }), runId);
  }

  /** Records a committed run: files, cursor, columns and the run row, in one transaction. */
  recordCommit(runId: string, job: string, pending: PendingCommit): void {
    const record = this.db.transaction(() => {
      const loadedAt = now();
      const upsertFile = this.db.prepare(
        'INSERT OR REPLACE INTO files (job, connection, path, size, modified, version, run_id, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      if (pending.snapshot) this.db.prepare('DELETE FROM files WHERE job = ? AND connection = ?').run(job, pending.connection);
      for (const file of pending.files) {
        upsertFile.run(job, pending.connection, file.path, file.size, file.modified, file.version ?? null, runId, loadedAt);
      }
      if (pending.cursor !== undefined) {
        this.db
          .prepare('INSERT OR REPLACE INTO cursors (job, state, run_id, updated_at) VALUES (?, ?, ?, ?)')
          .run(job, encodeState(pending.cursor), runId, loadedAt);
      }
      const upsertColumn = this.db.prepare('INSERT OR REPLACE INTO columns (job, original, sanitized, type, position) VALUES (?, ?, ?, ?, ?)');
      pending.columns.forEach((column, position) => upsertColumn.run(job, column.source, column.name, column.type, position));
      this.finish(runId, pending.status, pending.counts, pending.stages, pending.error);
    });
    record.immediate();
  }

  /** Notes an error on a run that stays in flight (a commit whose outcome is unknown). */
  noteError(runId: string, error: string): void {
    this.db.prepare('UPDATE runs SET error = ? WHERE id = ?').run(error, runId);
  }

  /** Closes a run that committed nothing. */
  finishRun(runId: string, status: RunStatus, counts: RunCounts, stages: StageTimes, error?: string): void {
    this.finish(runId, status, counts, stages, error);
  }

  private finish(runId: string, status: RunStatus, counts: RunCounts, stages: StageTimes, error?: string): void {
    this.db
      .prepare(
        `UPDATE runs SET status = ?, ended_at = ?, rows_extracted = ?, rows_loaded = ?, rows_rejected = ?, files_processed = ?,
         files_skipped = ?, files_failed = ?, bytes = ?, stages = ?, error = ?, pending = NULL WHERE id = ?`,
      )
      .run(
        status,
        now(),
        counts.rows_extracted,
        counts.rows_loaded,
        counts.rows_rejected,
        counts.files_processed,
        counts.files_skipped,
        counts.files_failed,
        counts.bytes,
        JSON.stringify(stages),
        error === undefined ? null : redact(error),
        runId,
      );
  }

  /** Runs of a job left in flight by a process that died, oldest first. */
  unfinishedRuns(job: string, exceptRunId?: string): { id: string; status: RunStatus; pending?: PendingCommit }[] {
    const rows = this.db
      .prepare("SELECT id, status, pending FROM runs WHERE job = ? AND status IN ('running', 'committing') AND id != ? ORDER BY started_at")
      .all(job, exceptRunId ?? '') as { id: string; status: RunStatus; pending: string | null }[];
    return rows.map((row) => ({ id: row.id, status: row.status, pending: row.pending ? (decodeState(row.pending) as PendingCommit) : undefined }));
  }

  /** Runs, newest first: of one job, with one of the statuses, started at or after `since` (ISO 8601). */
  runs(options: RunFilter = {}): RunRecord[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (options.job !== undefined) {
      where.push('job = ?');
      params.push(options.job);
    }
    if (options.statuses?.length) {
      where.push(`status IN (${options.statuses.map(() => '?').join(', ')})`);
      params.push(...options.statuses);
    }
    if (options.since !== undefined) {
      where.push('started_at >= ?');
      params.push(options.since);
    }
    const sql = `SELECT * FROM runs${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id DESC${options.limit === null ? '' : ' LIMIT ?'}`;
    if (options.limit !== null) params.push(options.limit ?? 50);
    return (this.db.prepare(sql).all(...params) as Record<string, unknown>[]).map(runRecord);
  }

  /** Records what a run did beyond its counts (see {@link RunDetails}). */
  noteDetails(runId: string, details: RunDetails): void {
    this.db.prepare('UPDATE runs SET details = ? WHERE id = ?').run(encodeState(details), runId);
  }

  /** A run's recorded details, or undefined when it recorded none (an older version ran it). */
  details(runId: string): RunDetails | undefined {
    const row = this.db.prepare('SELECT details FROM runs WHERE id = ?').get(runId) as { details: string | null } | undefined;
    return row?.details ? (decodeState(row.details) as RunDetails) : undefined;
  }

  /** One run by its id, or undefined. */
  run(id: string): RunRecord | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return row && runRecord(row);
  }

  // --- state ------------------------------------------------------------------------------

  /** Files loaded by the job from one connection, by path. */
  files(job: string, connection: string): Map<string, ObjectInfo> {
    const rows = this.db.prepare('SELECT path, size, modified, version FROM files WHERE job = ? AND connection = ?').all(job, connection) as {
      path: string;
      size: number;
      modified: string;
      version: string | null;
    }[];
    return new Map(rows.map((row) => [row.path, { path: row.path, size: row.size, modified: row.modified, version: row.version ?? undefined }]));
  }

  cursor(job: string): unknown {
    const row = this.db.prepare('SELECT state FROM cursors WHERE job = ?').get(job) as { state: string } | undefined;
    return row ? decodeState(row.state) : undefined;
  }

  columns(job: string): StoredColumn[] {
    return this.db.prepare('SELECT original, sanitized, type, position FROM columns WHERE job = ? ORDER BY position').all(job) as StoredColumn[];
  }

  /** The stored original → sanitized column mapping. */
  mapping(job: string): Map<string, string> {
    return new Map(this.columns(job).map((column) => [column.original, column.sanitized]));
  }

  /**
   * Forgets a job's cursor, files and column mapping (runs stay as history), and remembers that
   * it did: the next run starts over instead of rebuilding the state from the destination.
   */
  reset(job: string): void {
    const clear = this.db.transaction(() => {
      for (const table of ['files', 'cursors', 'columns']) this.db.prepare(`DELETE FROM ${table} WHERE job = ?`).run(job);
      this.db.prepare('INSERT OR REPLACE INTO resets (job, reset_at) VALUES (?, ?)').run(job, now());
    });
    clear.immediate();
  }

  /**
   * Moves everything the ledger holds about `from` (runs, processed files, cursor, column
   * mapping) to `to`, in one transaction. Refused while `from` runs or left a run in flight, and
   * when `to` already has state of its own.
   */
  renameJob(from: string, to: string): { runs: number; files: number; cursors: number; columns: number } {
    const move = this.db.transaction(() => {
      const lock = this.lockOf(from);
      if (lock && Date.parse(lock.expires_at) >= Date.now()) {
        throw new LockedError(`job ${from} is running (run ${lock.run_id}, pid ${lock.pid} on ${lock.host})`, 'rename it once that run has finished');
      }
      const unfinished = this.unfinishedRuns(from);
      if (unfinished.length) {
        throw new LockedError(`job ${from} has a run left in flight (${unfinished[0].id}, ${unfinished[0].status})`, `run it once (b2betl run) so that run is settled, then rename`);
      }
      const taken = this.db
        .prepare('SELECT (SELECT count(*) FROM runs WHERE job = ?) + (SELECT count(*) FROM files WHERE job = ?) + (SELECT count(*) FROM cursors WHERE job = ?) + (SELECT count(*) FROM columns WHERE job = ?) AS n')
        .get(to, to, to, to) as { n: number };
      if (taken.n > 0) throw new LockedError(`the ledger already holds state for a job named ${to}`, `pick another name, or forget it first (b2betl state reset ${to})`);
      const moved = { runs: 0, files: 0, cursors: 0, columns: 0 };
      for (const table of ['runs', 'files', 'cursors', 'columns'] as const) {
        moved[table] = this.db.prepare(`UPDATE ${table} SET job = ? WHERE job = ?`).run(to, from).changes;
      }
      this.db.prepare('UPDATE resets SET job = ? WHERE job = ?').run(to, from);
      this.db.prepare('DELETE FROM locks WHERE job = ?').run(from);
      return moved;
    });
    return move.immediate();
  }

  /** Removes every row the ledger holds about a job: runs, files, cursor, mapping and lock. */
  forget(job: string): number {
    const clear = this.db.transaction(() => {
      let removed = 0;
      for (const table of ['runs', 'files', 'cursors', 'columns', 'locks', 'resets']) removed += this.db.prepare(`DELETE FROM ${table} WHERE job = ?`).run(job).changes;
      return removed;
    });
    return clear.immediate();
  }

  /** Whether the ledger holds a cursor, a processed file or a column mapping of the job. */
  hasState(job: string): boolean {
    return ['cursors', 'files', 'columns'].some((table) => this.db.prepare(`SELECT 1 FROM ${table} WHERE job = ? LIMIT 1`).get(job) !== undefined);
  }

  /** Whether `state reset` cleared the job's state (and no restore put it back since). */
  wasReset(job: string): boolean {
    return this.db.prepare('SELECT 1 FROM resets WHERE job = ?').get(job) !== undefined;
  }

  /** Replaces a job's cursor, files and column mapping with state rebuilt from the destination. */
  restoreState(job: string, state: RestoredState): void {
    const apply = this.db.transaction(() => {
      for (const table of ['files', 'cursors', 'columns', 'resets']) this.db.prepare(`DELETE FROM ${table} WHERE job = ?`).run(job);
      const insertFile = this.db.prepare('INSERT OR REPLACE INTO files (job, connection, path, size, modified, version, run_id, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      for (const file of state.files) {
        insertFile.run(job, file.connection, file.info.path, file.info.size, file.info.modified, file.info.version ?? null, file.runId, file.loadedAt);
      }
      if (state.cursor) {
        this.db.prepare('INSERT INTO cursors (job, state, run_id, updated_at) VALUES (?, ?, ?, ?)').run(job, encodeState(state.cursor.state), state.cursor.runId, state.cursor.updatedAt);
      }
      const insertColumn = this.db.prepare('INSERT INTO columns (job, original, sanitized, type, position) VALUES (?, ?, ?, ?, ?)');
      state.columns.forEach((column, position) => insertColumn.run(job, column.source, column.name, column.type, position));
    });
    apply.immediate();
  }

  /** Names of every job the ledger knows. */
  jobs(): string[] {
    const rows = this.db.prepare('SELECT DISTINCT job FROM runs UNION SELECT job FROM cursors UNION SELECT job FROM files UNION SELECT job FROM resets ORDER BY 1').all() as { job: string }[];
    return rows.map((row) => row.job);
  }

  /** Every row the ledger holds for a job. */
  dump(job: string): JobDump {
    const all = (table: string) => this.db.prepare(`SELECT * FROM ${table} WHERE job = ?`).all(job) as Record<string, unknown>[];
    return { job, runs: all('runs'), files: all('files'), cursors: all('cursors'), columns: all('columns'), resets: all('resets') };
  }

  /** Replaces a job's rows with those of a dump (merging another copy of the ledger). */
  restore(dump: JobDump): void {
    const apply = this.db.transaction(() => {
      for (const table of JOB_TABLES) {
        this.db.prepare(`DELETE FROM ${table} WHERE job = ?`).run(dump.job);
        for (const row of dump[table] ?? []) {
          const keys = Object.keys(row);
          this.db.prepare(`INSERT INTO ${table} (${keys.join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`).run(...keys.map((key) => row[key]));
        }
      }
    });
    apply.immediate();
  }
}

/**
 * Every public operation of the ledger goes through {@link Ledger.guard}: waits for a ledger
 * another process holds locked, and SQLite failures named with the ledger and the fix.
 */
for (const key of Object.getOwnPropertyNames(Ledger.prototype) as (keyof Ledger & string)[]) {
  if (['constructor', 'guard', 'close', 'connect', 'holders', 'finish'].includes(key)) continue;
  const descriptor = Object.getOwnPropertyDescriptor(Ledger.prototype, key);
  if (typeof descriptor?.value !== 'function') continue;
  const operation = descriptor.value as (...args: unknown[]) => unknown;
  Object.defineProperty(Ledger.prototype, key, {
    ...descriptor,
    value(this: Ledger, ...args: unknown[]) {
      return this.guard(() => operation.apply(this, args));
    },
  });
}
