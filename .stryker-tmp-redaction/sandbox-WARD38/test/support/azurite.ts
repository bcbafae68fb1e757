/**
 * Azurite's blob service on 127.0.0.1 with a free port and a temporary workspace, in a child
 * process, for tests.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
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
   * Adds many blobs at once, for volume tests: Azurite's metadata store scans every blob on each
   * upload, so 10,000 uploads take minutes. All their bytes go up as one template blob, the
   * service stops, its metadata gains one entry per blob pointing at that blob's slice of the
   * template's extent (the template stays, holding the bytes), and it restarts on the same port.
   */
  preloadBlobs(container: string, blobs: Iterable<PreloadBlob>): Promise<void>;
  stop(): Promise<void>;
}

/** One blob for `preloadBlobs`: its name in the container and its contents. */
export interface PreloadBlob {
  readonly name: string;
  readonly data: Uint8Array | string;
}

interface LokiCollection {
  findOne(query: Record<string, unknown>): Record<string, unknown> | null;
  insert(documents: Record<string, unknown>[]): void;
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
    async preloadBlobs(container, blobs) {
      const { BlobServiceClient } = await import('@azure/storage-blob');
      const containerClient = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
      await containerClient.createIfNotExists();
      const files = Array.from(blobs, (blob) => ({ name: blob.name, data: typeof blob.data === 'string' ? Buffer.from(blob.data) : blob.data }));
      const templateName = `preload-template-${Date.now()}`;
      const all = Buffer.concat(files.map((file) => file.data));
      await containerClient.getBlockBlobClient(templateName).upload(all, all.length);
      await halt(running);

      const azuriteRequire = createRequire(require.resolve('azurite/package.json'));
      const Loki = azuriteRequire('lokijs') as new (file: string, options: object) => LokiDatabase;
      const database = new Loki(path.join(location, METADATA_FILE), { persistenceMethod: 'fs' });
      await new Promise<void>((resolve, reject) => database.loadDatabase({}, (error) => (error ? reject(error) : resolve())));
      const collection = database.getCollection(BLOBS_COLLECTION);
      const template = collection?.findOne({ containerName: container, name: templateName }) as
        | (Record<string, unknown> & { persistency?: { id: string; offset: number; count: number } })
        | null;
      if (!collection || !template?.persistency) throw new Error(`azurite metadata has no single-extent ${BLOBS_COLLECTION} entry for the template blob`);
      const extent = template.persistency;
      const { $loki: _id, meta: _meta, ...shape } = template;
      let offset = extent.offset;
      const copies = files.map((file, index) => {
        const copy = structuredClone(shape) as Record<string, unknown> & { properties: Record<string, unknown> };
        copy.name = file.name;
        copy.persistency = { id: extent.id, offset, count: file.data.length };
        offset += file.data.length;
        copy.properties.contentLength = file.data.length;
        copy.properties.contentMD5 = { type: 'Buffer', data: [...createHash('md5').update(file.data).digest()] };
        copy.properties.etag = `"0x8DC${(index + 1).toString(16).toUpperCase().padStart(12, '0')}"`;
        return copy;
      });
      collection.insert(copies);
      await new Promise<void>((resolve, reject) => database.saveDatabase((error) => (error ? reject(error) : resolve())));
      running = await launch(location, port);
    },
    async stop() {
      await halt(running);
      await rm(location, { recursive: true, force: true });
    },
  };
}
