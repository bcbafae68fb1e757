/**
 * The ledger's SQLite file: its tables, a new file created whole, and how a failing or busy file
 * is met (SQLite failures as errors that name the file and the fix; a file another process holds
 * locked waited for).
 */
import { existsSync, linkSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { EtlError, messageOf } from '../core/errors.js';

const require = createRequire(import.meta.url);

/** The ledger's tables, created when missing. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  job TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  status TEXT NOT NULL,
  rows_extracted INTEGER NOT NULL DEFAULT 0,
  rows_loaded INTEGER NOT NULL DEFAULT 0,
  rows_rejected INTEGER NOT NULL DEFAULT 0,
  files_processed INTEGER NOT NULL DEFAULT 0,
  files_skipped INTEGER NOT NULL DEFAULT 0,
  files_failed INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  stages TEXT NOT NULL DEFAULT '{}',
  pending TEXT,
  destination TEXT,
  table_name TEXT,
  strategy TEXT,
  host TEXT,
  pid INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job, started_at);
CREATE TABLE IF NOT EXISTS files (
  job TEXT NOT NULL,
  connection TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  modified TEXT NOT NULL,
  version TEXT,
  run_id TEXT NOT NULL,
  loaded_at TEXT NOT NULL,
  PRIMARY KEY (job, connection, path)
);
CREATE TABLE IF NOT EXISTS cursors (
  job TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  run_id TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS columns (
  job TEXT NOT NULL,
  original TEXT NOT NULL,
  sanitized TEXT NOT NULL,
  type TEXT NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (job, original)
);
CREATE TABLE IF NOT EXISTS resets (
  job TEXT PRIMARY KEY,
  reset_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS locks (
  job TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  acquired_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
`;

/** The fix for a ledger whose file is lost or damaged: the destination's load markers hold the state too. */
export const RESTORE_HINT = 'move the file aside, then run `b2betl state restore <job>` for each job: it rebuilds the job\'s state from the load markers in its destination';

/** How long an operation waits for a ledger another process holds locked before it fails. */
export const LOCKED_WAIT_MS = Number(process.env.B2BETL_LEDGER_WAIT_MS) || 60_000;
/** Each wait SQLite itself makes before b2betl says why it waits. */
export const BUSY_MS = 1000;

/** The user-facing error for a SQLite failure of the ledger `name`: which file, and what to do. */
export function ledgerError(error: unknown, name: string): unknown {
  if (error instanceof EtlError) return error;
  const code = String((error as { code?: unknown } | undefined)?.code ?? '');
  const detail = messageOf(error);
  if (!code.startsWith('SQLITE_') && !(error instanceof Error && error.name === 'SqliteError')) return error;
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return new EtlError(`ledger ${name} is damaged (${detail})`, RESTORE_HINT, { cause: error });
  if (code.startsWith('SQLITE_READONLY')) {
    return new EtlError(`ledger ${name} is read-only (${detail})`, 'make the file, its folder and its -wal/-shm files writable by this user, or set ledger: in etl.config.yaml to a writable path', { cause: error });
  }
  if (code.startsWith('SQLITE_CANTOPEN')) {
    return new EtlError(`cannot open ledger ${name} (${detail})`, 'check that its folder exists and this user may write there; ledger: in etl.config.yaml names it', { cause: error });
  }
  if (code === 'SQLITE_FULL') return new EtlError(`the disk of ledger ${name} is full (${detail})`, 'free space on that disk and run again', { cause: error });
  if (code.startsWith('SQLITE_IOERR')) {
    return new EtlError(`disk I/O error on ledger ${name} (${detail})`, `check the disk (dmesg); if the file is damaged, ${RESTORE_HINT}`, { cause: error });
  }
  return new EtlError(`ledger ${name}: ${detail}`, undefined, { cause: error });
}

/** Whether SQLite failed because another connection holds the file locked. */
export function isBusy(error: unknown): boolean {
  const code = String((error as { code?: unknown } | undefined)?.code ?? '');
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}

/** Blocks this thread for `ms` (the ledger's calls are synchronous, as SQLite's own waits are). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Creates a new ledger file whole: its tables are written beside it, then linked into place, so
 * a process killed while creating it never leaves an empty file that would read as a lost ledger.
 * When another process created it first, theirs stays.
 */
export function createLedgerFile(file: string): void {
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  const temporary = `${file}.${process.pid}.new`;
  rmSync(temporary, { force: true });
  const db = new Database(temporary);
  try {
    db.exec(SCHEMA);
  } finally {
    db.close();
  }
  try {
    linkSync(temporary, file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A file system without hard links: moved into place unless someone else's is there.
    if (code !== 'EEXIST' && !existsSync(file)) renameSync(temporary, file);
  } finally {
    rmSync(temporary, { force: true });
  }
}
