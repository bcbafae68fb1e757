/**
 * `connections test`: each connection connects, authenticates and makes one real read, timed.
 * Databases show their version and read information_schema, BigQuery finds its dataset and has a
 * dry-run query job accepted, Firestore lists its root collections, stores list their first
 * object (and prove a write where the ledger or BigQuery staging needs one), DuckDB opens its file.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import type { LoadedConfig } from './config.js';
import { isStoreType } from './config.js';
import type { ConnectorContext, ObjectStore } from './connector.js';
import { messageOf } from './errors.js';
import { redact, secretsOf } from './redact.js';
import { silentLogger, type Logger } from './log.js';
import { connectorFor } from './registry.js';
import type { ConnectionConfig } from './spec.js';

/** What testing one connection showed. */
export interface ProbeResult {
  readonly name: string;
  readonly type: string;
  readonly ok: boolean;
  /** What the real read saw, or the failure in words (never a secret). */
  readonly detail: string;
  /** What to do about a failure. */
  readonly hint?: string;
  readonly ms: number;
}

/** How long one connection may take before it counts as not answering. */
const DEFAULT_TIMEOUT_MS = 20_000;

/** Tests one connection of a config. */
export async function probeConnection(config: LoadedConfig, name: string, options: { timeoutMs?: number; log?: Logger } = {}): Promise<ProbeResult> {
  const connection = config.connections[name];
  const secrets = secretsOf(connection);
  // Drivers load before the clock starts: the latency is the server's, not the module loader's.
  await (connection.type === 'duckdb' ? import('@duckdb/node-api') : connectorFor(connection.type)).catch(() => undefined);
  const started = performance.now();
  const context: ConnectorContext = { name, config: connection, baseDir: config.baseDir, log: options.log ?? silentLogger, readOnly: true };
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s (${where(connection)})`)), timeoutMs);
  });
  try {
    const detail = await Promise.race([probeByType(context, config), timeout]);
    return { name, type: connection.type, ok: true, detail: redact(detail, secrets), ms: performance.now() - started };
  } catch (error) {
    const [message, hint] = messageOf(error).split('\n  → ');
    return { name, type: connection.type, ok: false, detail: redact(message, secrets), hint: hint && redact(hint, secrets), ms: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** Where a connection points, for listings and messages (never a secret). */
export function where(connection: ConnectionConfig): string {
  switch (connection.type) {
    case 'postgres':
    case 'mysql': {
      let host = connection.host;
      let port = connection.port;
      let user = connection.user;
      let database = connection.database;
      if (connection.url) {
        try {
          const url = new URL(connection.url);
          host = url.hostname || host;
          port = url.port ? Number(url.port) : port;
          user = url.username ? decodeURIComponent(url.username) : user;
          database = url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : database;
        } catch {
          return 'url (not a valid URL)';
        }
      }
      const defaultPort = connection.type === 'postgres' ? 5432 : 3306;
      return `${user ? `${user}@` : ''}${host ?? 'localhost'}:${port ?? defaultPort}${database ? `/${database}` : ''}`;
    }
    case 'bigquery':
      return `${connection.project}.${connection.dataset}${connection.endpoint ? ` at ${connection.endpoint}` : ''}`;
    case 'firestore':
      return `project ${connection.project}${connection.database ? `, database ${connection.database}` : ''}${connection.emulator_host ? ` (emulator ${connection.emulator_host})` : ''}`;
    case 'local':
      return connection.path;
    case 'gcs':
      return `gs://${connection.bucket}/${connection.prefix ?? ''}`;
    case 's3':
      return `s3://${connection.bucket}/${connection.prefix ?? ''}`;
    case 'azure':
      return `${connection.account ? `${connection.account}/` : ''}${connection.container}/${connection.prefix ?? ''}`;
    case 'duckdb':
      return connection.path;
  }
}

async function probeByType(context: ConnectorContext, config: LoadedConfig): Promise<string> {
  const connection = context.config;
  if (isStoreType(connection.type)) return probeStore(context, config);
  if (connection.type === 'duckdb') return probeDuckDB(connection.path);
  const factories = await connectorFor(connection.type);
  if (!factories.source) throw new Error(`connection type ${connection.type} has no connector that can be tested`);
  const source = await factories.source(context);
  try {
    if (!source.probe) throw new Error(`the ${connection.type} connector has no test`);
    const seen = await source.probe();
    if (connection.type === 'bigquery' && connection.staging) {
      const { openBigQuery } = await import('../../connectors/bigquery-common/bigquery-client.js');
      const { stagingStore } = await import('../../connectors/destinations/bigquery/bigquery-staging-load.js');
      const store = await stagingStore(await openBigQuery(context), connection.staging);
      try {
        return `${seen}; staging ${connection.staging}: ${await writeCheck(store)}`;
      } finally {
        await store.close?.();
      }
    }
    return seen;
  } finally {
    await source.close();
  }
}

/** Lists the first object under the prefix, and proves a write where one is needed. */
async function probeStore(context: ConnectorContext, config: LoadedConfig): Promise<string> {
  const factories = await connectorFor(context.config.type);
  const store = await factories.store!(context);
  try {
    let first: string | undefined;
    for await (const object of store.list('')) {
      first = `first object ${object.path} (${sizeText(object.size)})`;
      break;
    }
    const seen = first ?? `listing works; no objects under ${store.url('')}`;
    const needs = writesNeeded(context.config, config);
    return needs.length ? `${seen}; ${await writeCheck(store)} (needed by ${needs.join(' and ')})` : seen;
  } finally {
    await store.close?.();
  }
}

/** What writes into this store: the GCS ledger, or a BigQuery connection staging there. */
function writesNeeded(connection: ConnectionConfig, config: LoadedConfig): string[] {
  if (connection.type !== 'gcs') return [];
  const needs: string[] = [];
  if (config.ledger.startsWith(`gs://${connection.bucket}/`)) needs.push(`the ledger ${config.ledger}`);
  for (const [name, other] of Object.entries(config.connections)) {
    if (other.type === 'bigquery' && other.staging && (other.staging === `gs://${connection.bucket}` || other.staging.startsWith(`gs://${connection.bucket}/`))) {
      needs.push(`staging of ${name}`);
    }
  }
  return needs;
}

/** Writes and deletes a small object, naming what refused it. */
async function writeCheck(store: ObjectStore): Promise<string> {
  const probe = `.b2betl-write-check-${randomBytes(6).toString('hex')}`;
  try {
    await store.write(probe, Buffer.from('b2betl connections test\n'), { ifGeneration: '0' });
  } catch (error) {
    throw new Error(`writing is not allowed at ${store.url(probe)}: ${messageOf(error)}`);
  }
  try {
    await store.delete(probe);
  } catch (error) {
    throw new Error(`wrote ${store.url(probe)} but could not delete it: ${messageOf(error)}`);
  }
  return 'writing allowed';
}

/** Opens the DuckDB file read-only (or, when it does not exist yet, checks its folder is writable). */
async function probeDuckDB(file: string): Promise<string> {
  if (!existsSync(file)) {
    const folder = path.dirname(file);
    let dir = folder;
    while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    try {
      await access(dir, constants.W_OK);
    } catch {
      throw new Error(`${file} does not exist and ${dir} is not writable, so the first run cannot create it`);
    }
    return `${file} does not exist yet; the first run creates it`;
  }
  const { DuckDBInstance } = await import('@duckdb/node-api');
  let instance;
  try {
    instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  } catch (error) {
    throw new Error(`cannot open ${file}: ${messageOf(error).split('\n')[0]}`);
  }
  try {
    const db = await instance.connect();
    try {
      const reader = await db.runAndReadAll("SELECT count(*)::INTEGER AS n FROM information_schema.tables WHERE table_schema NOT IN ('information_schema', 'pg_catalog')");
      const tables = Number(reader.getRows()[0]?.[0] ?? 0);
      return `${file} opened; ${tables} table(s)`;
    } finally {
      db.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** `812 B`, `3.4 kB`, `12.5 MB`, `1.2 GB`. */
export function sizeText(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1).replace(/\.0$/, '')} ${units[unit]}`;
}

/**
 * The GCS ledger when no connection shares its bucket (one that does proves the write itself):
 * the bucket is listed and a write is proved with the credentials the ledger uses.
 */
export async function probeLedger(config: LoadedConfig, options: { log?: Logger } = {}): Promise<ProbeResult | undefined> {
  const match = /^gs:\/\/([^/]+)\/(.*)$/.exec(config.ledger);
  if (!match) return undefined;
  const bucket = match[1];
  if (Object.values(config.connections).some((connection) => connection.type === 'gcs' && connection.bucket === bucket)) return undefined;
  const name = '(ledger)';
  const started = performance.now();
  try {
    const { GcsStore } = await import('../../connectors/storage/gcs/gcs-store.js');
    const folder = path.posix.dirname(match[2]);
    const store = await GcsStore.connect({ name: `ledger ${config.ledger}`, config: { type: 'gcs', bucket, ...(folder !== '.' ? { prefix: folder } : {}) }, baseDir: config.baseDir, log: options.log ?? silentLogger });
    try {
      const ledger = await store.stat(path.posix.basename(match[2]));
      const detail = `${config.ledger} ${ledger ? `exists (${sizeText(ledger.size)})` : 'does not exist yet'}; ${await writeCheck(store)}`;
      return { name, type: 'gcs', ok: true, detail, ms: performance.now() - started };
    } finally {
      await store.close?.();
    }
  } catch (error) {
    const [message, hint] = messageOf(error).split('\n  → ');
    return { name, type: 'gcs', ok: false, detail: `ledger ${config.ledger}: ${message}`, hint, ms: performance.now() - started };
  }
}
