/**
 * The GCS-backed ledger (`ledger: gs://bucket/path/ledger.sqlite`): a local working copy of the
 * SQLite file, per-job lock objects beside it, and uploads guarded by the generation the copy
 * came from. When another run uploaded in between, its changes and ours are merged job by job
 * and the upload is retried. A run that dies before uploading leaves the last good generation.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import type { GcsStore } from '../../connectors/storage/gcs/gcs-store.js';
import { resolveConnection, type LoadedConfig } from '../core/config.js';
import { PreconditionFailed } from '../core/connector.js';
import { ConfigError, EtlError, LockedError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { RESTORE_HINT } from './ledger-file.js';
import { JOB_TABLES, Ledger, processAlive, type JobDump, type LockInfo } from './ledger.js';
import type { OpenLedger } from './open.js';

const require = createRequire(import.meta.url);

/** Uploads retried after merging a newer ledger before giving up. */
const MAX_MERGES = 8;

/** What a lock object holds. */
export interface LockObject {
  readonly job: string;
  readonly run_id: string;
  readonly host: string;
  readonly pid: number;
  readonly acquired_at: string;
  readonly expires_at: string;
}

/** `gs://bucket/path/ledger.sqlite` → bucket and object path. */
export function parseLedgerUri(location: string): { bucket: string; object: string } {
  const match = /^gs:\/\/([^/]+)\/(.+[^/])$/.exec(location.trim());
  if (!match) {
    throw ConfigError.of(`ledger ${location} is not a gs://bucket/path/file URI`, 'write it as gs://my-bucket/b2betl/ledger.sqlite');
  }
  return { bucket: match[1], object: match[2] };
}


/**
 * Opens the SQLite bytes of a ledger file as an in-memory database to check them: WAL-mode
 * files are marked as rollback-journal ones in a copy, since deserialized databases have no WAL.
 */
function checkSqlite(bytes: Buffer, what: string): void {
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  const copy = Buffer.from(bytes);
  if (copy.length >= 20 && copy[18] === 2 && copy[19] === 2) {
    copy[18] = 1;
    copy[19] = 1;
  }
  let verdict: unknown;
  try {
    const database = new Database(copy);
    try {
      verdict = database.pragma('quick_check', { simple: true });
    } finally {
      database.close();
    }
  } catch (error) {
    verdict = (error as Error).message;
  }
  if (verdict !== 'ok') throw new EtlError(`${what} is not a sound SQLite file (${String(verdict).split('\n')[0]})`, RESTORE_HINT);
}

/** A ledger whose home is a GCS object. */
const WORKDIR_PREFIX = 'b2betl-ledger-';

/** Working copies left by killed processes on this machine (named after their pid): the remote is the truth. */
function removeAbandonedCopies(): void {
  for (const entry of readdirSync(tmpdir())) {
    const pid = Number(new RegExp(`^${WORKDIR_PREFIX}(\\d+)-`).exec(entry)?.[1]);
    if (pid && pid !== process.pid && !processAlive(pid)) rmSync(path.join(tmpdir(), entry), { recursive: true, force: true });
  }
}

/** The content of a lock object: who holds the job and until when. */
function lockBody(job: string, runId: string, leaseMs: number): Buffer {
  const now = new Date();
  const content: LockObject = {
    job,
    run_id: runId,
    host: hostname(),
    pid: process.pid,
    acquired_at: now.toISOString(),
    expires_at: new Date(now.getTime() + leaseMs).toISOString(),
  };
  return Buffer.from(JSON.stringify(content));
}

export class GcsLedger implements OpenLedger {
  private readonly held = new Map<string, { runId: string; generation: string }>();
  private closed = false;

  private constructor(
    readonly ledger: Ledger,
    private readonly store: GcsStore,
    private readonly object: string,
    private readonly location: string,
    private readonly workdir: string,
    /** Generation the working copy is based on; `'0'` when the ledger did not exist. */
    private generation: string,
    private readonly readOnly: boolean,
    private readonly log: Logger,
  ) {}

  /**
   * Downloads the ledger at `location` (or starts empty when there is none) into a private
   * working copy. `store` must address the ledger's bucket with no prefix.
   */
  static async open(location: string, store: GcsStore, options: { readOnly?: boolean; log?: Logger } = {}): Promise<GcsLedger> {
    const { object } = parseLedgerUri(location);
    removeAbandonedCopies();
    const workdir = mkdtempSync(path.join(tmpdir(), `${WORKDIR_PREFIX}${process.pid}-`));
    try {
      const remote = await store.readVersion(object);
      // An empty object would open as a new ledger: a fresh start that reloads everything.
      if (remote && remote.data.length === 0) throw new EtlError(`ledger ${location} (generation ${remote.version}) is empty (0 bytes): the state of its jobs is lost`, RESTORE_HINT);
      if (remote) checkSqlite(remote.data, `ledger ${location} (generation ${remote.version})`);
      const file = path.join(workdir, 'ledger.sqlite');
      if (remote) writeFileSync(file, remote.data);
      writeFileSync(path.join(workdir, 'base.sqlite'), remote?.data ?? Buffer.alloc(0));
      const ledger = Ledger.open(file, { name: `${location} (working copy ${file})` });
      return new GcsLedger(ledger, store, object, location, workdir, remote?.version ?? '0', options.readOnly ?? false, options.log ?? silentLogger);
    } catch (error) {
      rmSync(workdir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The generation of the remote ledger this copy last matched (`'0'`: none yet). */
  get baseGeneration(): string {
    return this.generation;
  }

  private lockPath(job: string): string {
    return `${this.object}.locks/${job}.lock`;
  }

  /**
   * Takes the job's lock object (created only if absent), or throws {@link LockedError} while
   * another live run holds it. An expired lock, or one left by a dead process on this host, is
   * taken over with a write conditional on its generation, so two runs cannot both take it.
   */
  async lock(job: string, runId: string, leaseMs: number): Promise<void> {
    const lockPath = this.lockPath(job);
    const body = (): Buffer => lockBody(job, runId, leaseMs);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        const generation = await this.store.write(lockPath, body(), { ifGeneration: '0' });
        this.held.set(job, { runId, generation: generation ?? '' });
        return;
      } catch (error) {
        if (!(error instanceof PreconditionFailed)) throw error;
      }
      const current = await this.store.readVersion(lockPath);
      if (!current) continue;
      const holder = this.parseLock(current.data, lockPath);
      const expired = !holder || Date.parse(holder.expires_at) < Date.now();
      const gone = holder !== undefined && holder.host === hostname() && holder.pid !== process.pid && !processAlive(holder.pid);
      if (!expired && !gone) {
        throw new LockedError(
          `job ${job} is already running (run ${holder.run_id}, pid ${holder.pid} on ${holder.host}, since ${holder.acquired_at}); its lock is ${this.store.url(lockPath)}`,
          `wait for it to finish; if that run is gone, its lock is taken over after ${holder.expires_at}`,
        );
      }
      try {
        const generation = await this.store.write(lockPath, body(), { ifGeneration: current.version });
        this.log.warn(`took over the lock of job ${job} left by run ${holder?.run_id ?? '(unreadable lock)'}${gone ? ' (its process is gone)' : ' (expired)'}`);
        this.held.set(job, { runId, generation: generation ?? '' });
        return;
      } catch (error) {
        if (!(error instanceof PreconditionFailed)) throw error;
        // Another run took it over first: look again.
      }
    }
    throw new LockedError(`job ${job} is being started by another run at the same moment`, 'run it again in a moment');
  }

  /** Extends the lease of a lock this run holds; a lost lock throws {@link LockedError}. */
  async renewLock(job: string, runId: string, leaseMs: number): Promise<void> {
    const held = this.held.get(job);
    if (!held || held.runId !== runId) throw new LockedError(`run ${runId} does not hold the lock of job ${job}`);
    try {
      const generation = await this.store.write(this.lockPath(job), lockBody(job, runId, leaseMs), { ifGeneration: held.generation });
      this.held.set(job, { runId, generation: generation ?? '' });
    } catch (error) {
      if (!(error instanceof PreconditionFailed)) throw error;
      this.held.delete(job);
      throw new LockedError(`the lock of job ${job} was taken over by another run while run ${runId} held it`, 'the lease expired: this run must stop');
    }
  }

  /** Removes a lock this run holds (nothing happens if it was taken over meanwhile). */
  async unlock(job: string, runId: string): Promise<void> {
    const held = this.held.get(job);
    if (!held || held.runId !== runId) return;
    this.held.delete(job);
    try {
      await this.store.delete(this.lockPath(job), { ifGeneration: held.generation });
    } catch (error) {
      if (!(error instanceof PreconditionFailed)) throw error;
    }
  }

  /**
   * Uploads the working copy if it changed, on the condition that the remote ledger is still the
   * generation the copy is based on. When it is not, the newer ledger is merged in (every job
   * this copy did not change takes the remote's rows) and the upload is tried again.
   */
  async sync(): Promise<void> {
    if (this.readOnly || this.closed) return;
    for (let merges = 0; merges <= MAX_MERGES; merges += 1) {
      // Checkpoint and read in one synchronous step: nothing can write in between.
      this.ledger.checkpoint();
      const snapshot = readFileSync(this.ledger.file);
      const base = readFileSync(this.basePath());
      if (base.length > 0 && (snapshot.equals(base) || (this.changedJobs().length === 0 && this.changedLocks().length === 0))) return;
      checkSqlite(snapshot, `the working copy of ledger ${this.location}`);
      try {
        const generation = await this.store.write(this.object, snapshot, { ifGeneration: this.generation });
        this.generation = generation ?? this.generation;
        writeFileSync(this.basePath(), snapshot);
        return;
      } catch (error) {
        if (!(error instanceof PreconditionFailed)) throw error;
      }
      await this.mergeRemote();
    }
    throw new EtlError(
      `ledger ${this.location} kept changing while this run tried to save it (${MAX_MERGES} merges)`,
      'too many runs share this ledger at once; run again, or give busy jobs their own ledger',
    );
  }

  /** Uploads, releases the locks this run still holds, and removes the working copy. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.sync();
    } finally {
      this.closed = true;
      for (const [job, held] of [...this.held]) await this.unlock(job, held.runId).catch(() => undefined);
      this.ledger.close();
      rmSync(this.workdir, { recursive: true, force: true });
    }
  }

  /** Drops the working copy without uploading, as a crash would (locks stay until they expire). */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    this.ledger.close();
    rmSync(this.workdir, { recursive: true, force: true });
  }

  private basePath(): string {
    return path.join(this.workdir, 'base.sqlite');
  }

  private parseLock(data: Buffer, lockPath: string): LockObject | undefined {
    try {
      const parsed = JSON.parse(data.toString('utf8')) as LockObject;
      if (typeof parsed.expires_at === 'string' && typeof parsed.run_id === 'string') return parsed;
    } catch {
      // an unreadable lock counts as expired
    }
    this.log.warn(`lock ${this.store.url(lockPath)} is unreadable; treating it as expired`);
    return undefined;
  }

  /** Opens a read-only view of a ledger file copy (the base, or a downloaded remote). */
  private withCopy<T>(bytes: Buffer, name: string, action: (ledger: Ledger) => T): T {
    const file = path.join(this.workdir, name);
    rmSync(file, { force: true });
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    if (bytes.length) writeFileSync(file, bytes);
    const ledger = Ledger.open(file);
    try {
      return action(ledger);
    } finally {
      ledger.close();
    }
  }

  /** Jobs whose rows differ between the working copy and its base. */
  private changedJobs(): string[] {
    const base = readFileSync(this.basePath());
    return this.withCopy(base, 'compare.sqlite', (baseLedger) => {
      const jobs = new Set([...this.ledger.jobs(), ...baseLedger.jobs(), ...this.columnJobs(this.ledger), ...this.columnJobs(baseLedger)]);
      return [...jobs].filter((job) => !sameDump(this.ledger.dump(job), baseLedger.dump(job)));
    });
  }

  /** Jobs whose lock row (in the SQLite locks table) differs between the working copy and its base. */
  private changedLocks(): string[] {
    const base = readFileSync(this.basePath());
    return this.withCopy(base, 'compare.sqlite', (baseLedger) => {
      const jobs = new Set([...this.lockJobs(this.ledger.file), ...this.lockJobs(baseLedger.file)]);
      return [...jobs].filter((job) => JSON.stringify(this.ledger.lockOf(job) ?? null) !== JSON.stringify(baseLedger.lockOf(job) ?? null));
    });
  }

  private columnJobs(ledger: Ledger): string[] {
    return this.query(ledger.file, 'SELECT DISTINCT job FROM columns').map((row) => String(row.job));
  }

  private lockJobs(file: string): string[] {
    return this.query(file, 'SELECT job FROM locks').map((row) => String(row.job));
  }

  private query(file: string, sql: string, ...parameters: unknown[]): Record<string, unknown>[] {
    const Database = require('better-sqlite3') as typeof BetterSqlite3;
    const database = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return database.prepare(sql).all(...parameters) as Record<string, unknown>[];
    } finally {
      database.close();
    }
  }

  /**
   * Downloads the newer remote ledger and takes from it every job this copy did not change;
   * jobs this copy changed keep this copy's rows. The remote becomes the new base.
   */
  private async mergeRemote(): Promise<void> {
    const remote = await this.store.readVersion(this.object);
    const remoteBytes = remote?.data ?? Buffer.alloc(0);
    if (remote) checkSqlite(remote.data, `ledger ${this.location} (generation ${remote.version})`);
    const ours = new Set(this.changedJobs());
    const oursLocks = new Set(this.changedLocks());
    this.withCopy(remoteBytes, 'remote.sqlite', (theirs) => {
      const jobs = new Set([...theirs.jobs(), ...this.ledger.jobs(), ...this.columnJobs(theirs), ...this.columnJobs(this.ledger)]);
      for (const job of jobs) {
        if (ours.has(job)) {
          if (!sameDump(theirs.dump(job), this.ledger.dump(job))) this.log.debug(`ledger merge: job ${job} keeps this run's rows`);
          continue;
        }
        this.ledger.restore(theirs.dump(job));
      }
      const lockJobs = new Set([...this.lockJobs(theirs.file), ...this.lockJobs(this.ledger.file)]);
      for (const job of lockJobs) if (!oursLocks.has(job)) this.copyLock(job, theirs.lockOf(job));
    });
    this.log.info(`ledger ${this.location} changed since it was read (now generation ${remote?.version ?? 'deleted'}); merged ${ours.size ? `this run's jobs ${[...ours].join(', ')}` : 'nothing of this run'} into it`);
    writeFileSync(this.basePath(), remoteBytes);
    this.generation = remote?.version ?? '0';
  }

  /** Makes the working copy's lock row of `job` equal to `lock` (or absent). */
  private copyLock(job: string, lock: LockInfo | undefined): void {
    const Database = require('better-sqlite3') as typeof BetterSqlite3;
    const database = new Database(this.ledger.file);
    try {
      database.pragma('busy_timeout = 10000');
      database.transaction(() => {
        database.prepare('DELETE FROM locks WHERE job = ?').run(job);
        if (lock) {
          database
            .prepare('INSERT INTO locks (job, run_id, pid, host, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
            .run(lock.job, lock.run_id, lock.pid, lock.host, lock.acquired_at, lock.expires_at);
        }
      })();
    } finally {
      database.close();
    }
  }
}

function sameDump(a: JobDump, b: JobDump): boolean {
  const canonical = (dump: JobDump) =>
    JSON.stringify(
      JOB_TABLES.map((table) =>
        (dump[table] ?? []).map((row) => JSON.stringify(Object.entries(row).sort(([x], [y]) => x.localeCompare(y)))).sort(),
      ),
    );
  return canonical(a) === canonical(b);
}

/**
 * Opens the ledger of a config whose `ledger:` is a gs:// URI. Credentials and endpoint come
 * from a `gcs` connection of the config on the same bucket, if there is one; otherwise
 * Application Default Credentials (and STORAGE_EMULATOR_HOST) apply.
 */
export async function openGcsLedger(location: string, config: LoadedConfig, log: Logger, options: { readOnly?: boolean } = {}): Promise<GcsLedger> {
  const { bucket } = parseLedgerUri(location);
  const { GcsStore } = await import('../../connectors/storage/gcs/gcs-store.js');
  const siblingName = Object.keys(config.connections).find((name) => {
    const connection = config.connections[name];
    return connection.type === 'gcs' && connection.bucket === bucket;
  });
  const resolved = siblingName === undefined ? undefined : resolveConnection(config, siblingName);
  const sibling = resolved?.type === 'gcs' ? resolved : undefined;
  const store = await GcsStore.connect({
    name: `ledger ${location}`,
    config: {
      type: 'gcs',
      bucket,
      ...(sibling?.credentials ? { credentials: sibling.credentials } : {}),
      ...(sibling?.endpoint ? { endpoint: sibling.endpoint } : {}),
      ...(sibling?.project ? { project: sibling.project } : {}),
    },
    baseDir: config.baseDir,
    log,
  });
  return GcsLedger.open(location, store, { readOnly: options.readOnly, log });
}
