/**
 * A folder on local disk as an object store: paths are relative to the connection's folder,
 * listing streams directory by directory in lexicographic order (as cloud stores list), and
 * writes are atomic (temporary file, then rename) with optional version preconditions.
 */
import { createWriteStream, type Dirent, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { PreconditionFailed, type ObjectInfo, type ObjectStore } from '../../../src/core/connector.js';
import { ConfigError, EtlError, ObjectChanged } from '../../../src/core/errors.js';

const READ_CHUNK = 256 * 1024;
/** Marks our own temporary and lock files, which listings skip. */
const TEMP_MARK = '.b2betl-';
/** A lock older than this was left by a process that died mid-write. */
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 10_000;

/** The files under one local folder. */
export class LocalStore implements ObjectStore {
  readonly kind = 'local';

  /** `root` is the absolute folder; `connection` names the connection in messages. */
  constructor(
    readonly root: string,
    private readonly connection: string,
  ) {}

  url(path: string): string {
    return path ? join(this.root, ...path.split('/')) : this.root;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    await this.requireRoot();
    const cut = prefix.lastIndexOf('/');
    const folder = cut >= 0 ? prefix.slice(0, cut + 1) : '';
    yield* this.walk(folder, prefix);
  }

  /** Depth first, one directory's entries in memory at a time. */
  private async *walk(folder: string, prefix: string): AsyncGenerator<ObjectInfo> {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(this.absolute(folder), { withFileTypes: true });
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return;
      throw error;
    }
    // A folder sorts as `name/`, so the walk yields paths in plain lexicographic order.
    const keyed = entries
      .filter((entry) => !entry.name.includes(TEMP_MARK))
      .map((entry) => ({ entry, key: entry.isDirectory() ? `${entry.name}/` : entry.name }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const { entry, key } of keyed) {
      const path = folder + key;
      if (entry.isDirectory()) {
        // Only descend where the prefix can still match.
        if (path.startsWith(prefix) || prefix.startsWith(path)) yield* this.walk(path, prefix);
        continue;
      }
      if (!path.startsWith(prefix)) continue;
      if (!entry.isFile() && !entry.isSymbolicLink()) continue;
      const stats = await fs.stat(this.absolute(path)).catch(() => undefined);
      if (stats?.isFile()) yield info(path, stats);
    }
  }

  async read(path: string, version?: string): Promise<Readable> {
    const handle = await this.openExisting(path, version);
    return handle.createReadStream({ highWaterMark: READ_CHUNK });
  }

  async readRange(path: string, start: number, end: number, version?: string): Promise<Uint8Array> {
    const handle = await this.openExisting(path, version);
    try {
      const length = Math.max(0, end - start);
      const buffer = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, start + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return buffer.subarray(0, filled);
    } finally {
      await handle.close();
    }
  }

  async stat(path: string): Promise<ObjectInfo | undefined> {
    try {
      const stats = await fs.stat(this.absolute(path));
      return stats.isFile() ? info(path, stats) : undefined;
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return undefined;
      throw error;
    }
  }

  async write(path: string, data: Buffer | Readable, options: { ifGeneration?: string } = {}): Promise<string | undefined> {
    const target = this.absolute(path);
    await fs.mkdir(dirname(target), { recursive: true });
    const temp = tempPath(target, 'tmp');
    try {
      if (Buffer.isBuffer(data)) await fs.writeFile(temp, data);
      else await pipeline(data, createWriteStream(temp));
      const handle = await fs.open(temp, 'r+');
      await handle.sync().finally(() => handle.close());
      return await this.withLock(target, options.ifGeneration !== undefined, async () => {
        const current = await this.stat(path);
        checkPrecondition(path, current, options.ifGeneration);
        if (current) await distinctVersion(temp, current);
        await fs.rename(temp, target);
        return info(path, await fs.stat(target)).version;
      });
    } finally {
      await fs.rm(temp, { force: true });
    }
  }

  async delete(path: string, options: { ifGeneration?: string } = {}): Promise<void> {
    const target = this.absolute(path);
    await this.withLock(target, options.ifGeneration !== undefined, async () => {
      checkPrecondition(path, await this.stat(path), options.ifGeneration);
      await fs.rm(target, { force: true });
    });
  }

  localPath(path: string): string {
    return this.absolute(path);
  }

  /** Absolute path of `path`, refusing any that would leave the root. */
  private absolute(path: string): string {
    const target = resolve(this.root, ...path.split('/').filter(Boolean));
    if (target !== this.root && !target.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)) {
      throw ConfigError.of(`path ${path} leaves the folder ${this.root} of local connection ${this.connection}`, 'use paths inside the connection folder');
    }
    return target;
  }

  private async requireRoot(): Promise<void> {
    const stats = await fs.stat(this.root).catch(() => undefined);
    if (!stats?.isDirectory()) {
      throw ConfigError.of(
        `local connection ${this.connection}: folder ${this.root} ${stats ? 'is not a folder' : 'does not exist'}`,
        `create the folder, or fix path in connection ${this.connection}`,
      );
    }
  }

  /**
   * The file open for reading; with `version`, only while it is that version. A file replaced
   * since (written anew and renamed over, as writers do) is another file with another version;
   * a handle keeps reading the file it opened.
   */
  private async openExisting(path: string, version?: string): Promise<fs.FileHandle> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.absolute(path), 'r');
    } catch (error) {
      if (!isCode(error, 'ENOENT')) throw error;
      await this.requireRoot();
      if (version !== undefined) throw new ObjectChanged(this.url(path));
      throw new EtlError(`${this.url(path)} not found in local connection ${this.connection}`, 'it may have been moved or deleted since it was listed; run again');
    }
    if (version !== undefined && info(path, await handle.stat()).version !== version) {
      await handle.close();
      throw new ObjectChanged(this.url(path));
    }
    return handle;
  }

  /** Runs `action` holding a lock file beside `target`, so check-and-replace is atomic among writers. */
  private async withLock<T>(target: string, needed: boolean, action: () => Promise<T>): Promise<T> {
    if (!needed) return action();
    const lock = `${join(dirname(target), TEMP_MARK)}lock-${target.slice(dirname(target).length + 1)}`;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const handle = await fs.open(lock, 'wx');
        await handle.close();
        break;
      } catch (error) {
        if (!isCode(error, 'EEXIST')) throw error;
        const stats = await fs.stat(lock).catch(() => undefined);
        if (stats && Date.now() - stats.mtimeMs > STALE_LOCK_MS) await fs.rm(lock, { force: true });
        else if (Date.now() > deadline) throw new EtlError(`${target} is locked by another writer (${lock})`, 'retry; remove the lock file if no b2betl process is running');
        else await sleep(5 + Math.random() * 20);
      }
    }
    try {
      return await action();
    } finally {
      await fs.rm(lock, { force: true });
    }
  }
}

function info(path: string, stats: Stats): ObjectInfo {
  return { path, size: stats.size, modified: stats.mtime.toISOString(), version: `${stats.size}-${stats.mtimeMs}` };
}

function checkPrecondition(path: string, current: ObjectInfo | undefined, ifGeneration: string | undefined): void {
  if (ifGeneration === undefined) return;
  if (ifGeneration === '0' ? current !== undefined : current?.version !== ifGeneration) throw new PreconditionFailed(path);
}

/**
 * File systems stamp mtimes with a coarse clock: a rewrite of the same size within one tick
 * would keep the version. Nudge the new file's mtime so every write changes the version.
 */
async function distinctVersion(temp: string, current: ObjectInfo): Promise<void> {
  const stats = await fs.stat(temp);
  if (`${stats.size}-${stats.mtimeMs}` !== current.version) return;
  const nudged = new Date(stats.mtimeMs + 1);
  await fs.utimes(temp, stats.atime, nudged);
}

function tempPath(target: string, kind: string): string {
  return join(dirname(target), `${TEMP_MARK}${kind}-${randomBytes(6).toString('hex')}-${target.slice(dirname(target).length + 1)}`);
}

function isCode(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}
