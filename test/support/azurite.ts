/**
 * Azurite's blob service on 127.0.0.1 with a free port and a temporary workspace, in a child
 * process, for tests.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** Azurite's well-known development account. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
/** Azurite's well-known development account key (public, documented by Microsoft). */
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Azurite 3.35's metadata database file and blob collection inside its workspace. */
const METADATA_FILE = '__azurite_db_blob__.json';
const BLOBS_COLLECTION = '$BLOBS_COLLECTION$';

/** A running Azurite blob service. */
export interface AzuriteHandle {
  /** Blob endpoint including the account: `http://127.0.0.1:<port>/devstoreaccount1`. */
  readonly blobEndpoint: string;
  readonly account: string;
  readonly accountKey: string;
  /** A connection string for the development account. */
  readonly connectionString: string;
  /**
   * Adds many one-byte blobs at once, for volume tests: Azurite's metadata store scans every
   * blob on each upload, so 10,000 uploads take minutes. The service is stopped, its metadata
   * gains copies of one blob uploaded through the API (they share its bytes, so it stays), and
   * it restarts on the same port.
   */
  preloadBlobs(container: string, names: Iterable<string>): Promise<void>;
  stop(): Promise<void>;
}

interface LokiCollection {
  findOne(query: Record<string, unknown>): Record<string, unknown> | null;
  insert(documents: Record<string, unknown>[]): void;
  remove(document: Record<string, unknown>): void;
}

interface LokiDatabase {
  loadDatabase(options: object, callback: (error?: Error) => void): void;
  saveDatabase(callback: (error?: Error) => void): void;
  getCollection(name: string): LokiCollection | null;
}

async function launch(location: string, port: number): Promise<{ child: ChildProcessWithoutNullStreams; port: number; exited: Promise<void> }> {
  const main = path.join(path.dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  const child = spawn(
    process.execPath,
    [main, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', location, '--skipApiVersionCheck', '--loose', '--disableTelemetry', '--silent'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  const collect = (chunk: Buffer) => (output += chunk.toString());
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const listening = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', () => {
      const match = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`azurite exited with code ${code} before listening: ${output}`)));
  });
  // From here on its output is drained, not kept: tests measure this process's memory.
  child.stdout.removeAllListeners('data');
  child.stderr.removeAllListeners('data');
  child.stdout.resume();
  child.stderr.resume();
  return { child, port: listening, exited };
}

async function halt(process: { child: ChildProcessWithoutNullStreams; exited: Promise<void> }): Promise<void> {
  // SIGTERM lets Azurite save its metadata before it exits.
  process.child.kill('SIGTERM');
  const timer = setTimeout(() => process.child.kill('SIGKILL'), 10_000);
  await process.exited;
  clearTimeout(timer);
}

/** Starts Azurite (blob only, any API version) on 127.0.0.1 and a free port. */
export async function startAzurite(): Promise<AzuriteHandle> {
  const location = await mkdtemp(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'b2betl-azurite-'));
  let running = await launch(location, 0);
  const port = running.port;
  const blobEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`;
  return {
    blobEndpoint,
    account: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    connectionString,
    async preloadBlobs(container, names) {
      const { BlobServiceClient } = await import('@azure/storage-blob');
      const containerClient = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
      await containerClient.createIfNotExists();
      const templateName = `preload-template-${Date.now()}`;
      await containerClient.getBlockBlobClient(templateName).upload('x', 1);
      await halt(running);

      const azuriteRequire = createRequire(require.resolve('azurite/package.json'));
      const Loki = azuriteRequire('lokijs') as new (file: string, options: object) => LokiDatabase;
      const database = new Loki(path.join(location, METADATA_FILE), { persistenceMethod: 'fs' });
      await new Promise<void>((resolve, reject) => database.loadDatabase({}, (error) => (error ? reject(error) : resolve())));
      const blobs = database.getCollection(BLOBS_COLLECTION);
      const template = blobs?.findOne({ containerName: container, name: templateName });
      if (!blobs || !template) throw new Error(`azurite metadata has no ${BLOBS_COLLECTION} entry for the template blob`);
      const { $loki: _id, meta: _meta, ...shape } = template;
      const copies: Record<string, unknown>[] = [];
      let serial = 0;
      for (const name of names) {
        serial += 1;
        const copy = structuredClone(shape) as Record<string, unknown> & { properties: Record<string, unknown> };
        copy.name = name;
        copy.properties.etag = `"0x8DC${serial.toString(16).toUpperCase().padStart(12, '0')}"`;
        copies.push(copy);
      }
      blobs.insert(copies);
      await new Promise<void>((resolve, reject) => database.saveDatabase((error) => (error ? reject(error) : resolve())));
      running = await launch(location, port);
    },
    async stop() {
      await halt(running);
      await rm(location, { recursive: true, force: true });
    },
  };
}
