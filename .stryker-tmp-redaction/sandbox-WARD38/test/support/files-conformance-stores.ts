/**
 * The four object stores of the file-load conformance suite, each started on 127.0.0.1 with a
 * free port (or a scratch folder), with the `lake` connection a project's config names it by
 * and the quickest way to fill it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ConnectorFactories, ObjectStore } from '../../src/core/connector.js';
import type { ConnectionConfig } from '../../src/core/spec.js';
import { silentLogger } from '../../src/core/log.js';
import { startAzurite } from './azurite.js';
import { startGcsDouble } from './gcs-double.js';
import { serviceAccountKey } from './google-key.js';
import { startS3rver } from './s3rver.js';

/** The stores every file-load case runs against. */
export const STORE_KINDS = ['local', 'gcs', 's3', 'azure'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];

/** Where a project's `lake` connection points inside the bucket (container, folder). */
export const LAKE_PREFIX = 'landing/exports';

const BUCKET = 'files-conformance';

/** A running store with its `lake` connection. */
export interface FilesStore {
  readonly kind: StoreKind;
  /** The `lake:` entry of `etl.config.yaml`, with secrets as `${VAR}` references. */
  readonly connectionYaml: string;
  /** More `name: {…}` connection entries the project's config holds beside `lake`. */
  readonly otherConnections?: string;
  /** The variables the connection's `${VAR}` references need. */
  readonly env: Record<string, string>;
  /** Values that must never show in any output. */
  readonly secrets: readonly string[];
  /** The server's `http://127.0.0.1:<port>` (remote stores), which `connectionYaml` and `env` point at. */
  readonly origin?: string;
  /** Writes one object under the connection's prefix, as a producer would upload it. */
  put(file: string, data: string | Buffer): Promise<void>;
  /** How the store names an object under the prefix in messages. */
  url(file: string): string;
  /** Creates many objects under the prefix by the quickest route the server offers. */
  seed(files: readonly { path: string; data: Buffer }[]): Promise<void>;
  stop(): Promise<void>;
}

/** A RAM disk when there is one: thousands of small files on a slow disk take longer than the test. */
export const SCRATCH = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let start = 0; start < items.length; start += size) await Promise.all(items.slice(start, start + size).map(work));
}

/** Writes files under `root` on disk, creating each folder once. */
async function writeTree(root: string, files: readonly { path: string; data: Buffer }[], extra?: (target: string, data: Buffer) => Promise<void>): Promise<void> {
  const folders = new Map<string, Promise<unknown>>();
  await inBatches(files, 64, async (file) => {
    const target = path.join(root, file.path);
    const folder = path.dirname(target);
    if (!folders.has(folder)) folders.set(folder, mkdir(folder, { recursive: true }));
    await folders.get(folder);
    await writeFile(target, file.data);
    await extra?.(target, file.data);
  });
}

async function openStore(config: ConnectionConfig): Promise<ObjectStore> {
  const factories = (await import(`../../connectors/storage/${config.type}/index.js`)) as ConnectorFactories;
  return factories.store!({ name: 'lake', config, baseDir: os.tmpdir(), log: silentLogger });
}

/** The `lake` connection of a remote store pointed at `endpoint` (a proxy in front of its server) instead. */
export function through(store: FilesStore, endpoint: string): { connectionYaml: string; env: Record<string, string> } {
  if (!store.origin) throw new Error(`a ${store.kind} store has no server to put a proxy in front of`);
  const swap = (text: string) => text.split(store.origin!).join(endpoint);
  return { connectionYaml: swap(store.connectionYaml), env: Object.fromEntries(Object.entries(store.env).map(([name, value]) => [name, swap(value)])) };
}

/** Starts one store, empty but for its bucket or container. */
export async function startFilesStore(kind: StoreKind): Promise<FilesStore> {
  switch (kind) {
    case 'local': {
      const base = await mkdtemp(path.join(SCRATCH, 'b2betl-files-local-'));
      const root = path.join(base, LAKE_PREFIX);
      await mkdir(root, { recursive: true });
      // A local folder takes no credentials: the secret to guard is another connection's password.
      const password = `vault-${randomBytes(12).toString('hex')}`;
      return {
        kind,
        connectionYaml: `{ type: local, path: "${root}" }`,
        otherConnections: 'vault: { type: postgres, host: 127.0.0.1, port: 1, user: etl, password: "${LAKE_VAULT_PASSWORD}", database: vault }',
        env: { LAKE_VAULT_PASSWORD: password },
        secrets: [password],
        // As any program writing into the folder would, not through the store's own writes.
        put: (file, data) => writeTree(root, [{ path: file, data: Buffer.from(data) }]),
        url: (file) => path.join(root, file),
        seed: (files) => writeTree(root, files),
        stop: () => rm(base, { recursive: true, force: true }),
      };
    }
    case 'gcs': {
      const double = await startGcsDouble({ buckets: [BUCKET] });
      const key = serviceAccountKey();
      const store = await openStore({ type: 'gcs', bucket: BUCKET, prefix: LAKE_PREFIX, endpoint: double.endpoint, credentials: key.json });
      return {
        kind,
        connectionYaml: `{ type: gcs, bucket: ${BUCKET}, prefix: ${LAKE_PREFIX}, endpoint: "${double.endpoint}", credentials: "\${LAKE_GCS_CREDENTIALS}" }`,
        env: { LAKE_GCS_CREDENTIALS: key.json },
        origin: double.endpoint,
        secrets: [key.secret],
        put: async (file, data) => void (await store.write(file, Buffer.from(data))),
        url: (file) => `gs://${BUCKET}/${LAKE_PREFIX}/${file}`,
        async seed(files) {
          for (const file of files) double.seed(BUCKET, `${LAKE_PREFIX}/${file.path}`, file.data);
        },
        stop: () => double.stop(),
      };
    }
    case 's3': {
      const server = await startS3rver({ buckets: [BUCKET] });
      const connection = { endpoint: server.endpoint, force_path_style: true, region: 'us-east-1', access_key_id: server.accessKeyId, secret_access_key: server.secretAccessKey };
      const store = await openStore({ type: 's3', bucket: BUCKET, prefix: LAKE_PREFIX, ...connection });
      return {
        kind,
        connectionYaml:
          `{ type: s3, bucket: ${BUCKET}, prefix: ${LAKE_PREFIX}, endpoint: "${server.endpoint}", force_path_style: true, region: us-east-1, ` +
          `access_key_id: "\${LAKE_S3_KEY_ID}", secret_access_key: "\${LAKE_S3_SECRET}" }`,
        env: { LAKE_S3_KEY_ID: server.accessKeyId, LAKE_S3_SECRET: server.secretAccessKey },
        origin: server.endpoint,
        secrets: [server.secretAccessKey],
        put: async (file, data) => void (await store.write(file, Buffer.from(data))),
        url: (file) => `s3://${BUCKET}/${LAKE_PREFIX}/${file}`,
        // s3rver keeps each object as <key>._S3rver_object next to its MD5: write those directly.
        seed: (files) =>
          writeTree(
            path.join(server.directory, BUCKET),
            files.map((file) => ({ path: `${LAKE_PREFIX}/${file.path}._S3rver_object`, data: file.data })),
            (target, data) => writeFile(`${target}.md5`, createHash('md5').update(data).digest('hex')),
          ),
        stop: () => server.stop(),
      };
    }
    case 'azure': {
      const azurite = await startAzurite();
      const { BlobServiceClient } = await import('@azure/storage-blob');
      await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(BUCKET).create();
      const store = await openStore({ type: 'azure', container: BUCKET, prefix: LAKE_PREFIX, connection_string: azurite.connectionString });
      return {
        kind,
        connectionYaml: `{ type: azure, container: ${BUCKET}, prefix: ${LAKE_PREFIX}, connection_string: "\${LAKE_AZURE_CONNECTION}" }`,
        env: { LAKE_AZURE_CONNECTION: azurite.connectionString },
        origin: new URL(azurite.blobEndpoint).origin,
        secrets: [/AccountKey=([^;]+)/.exec(azurite.connectionString)![1]],
        put: async (file, data) => void (await store.write(file, Buffer.from(data))),
        url: (file) => `${azurite.blobEndpoint}/${BUCKET}/${LAKE_PREFIX}/${file}`,
        seed: (files) => azurite.preloadBlobs(BUCKET, files.map((file) => ({ name: `${LAKE_PREFIX}/${file.path}`, data: file.data }))),
        stop: () => azurite.stop(),
      };
    }
  }
}
