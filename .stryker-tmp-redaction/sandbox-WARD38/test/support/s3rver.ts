/**
 * s3rver (an S3 server on the local filesystem) on 127.0.0.1 with a free port and a temporary
 * directory, in a child process, for tests. s3rver ignores conditional writes, which S3 has honoured since 2024, so
 * a middleware in front of it answers `If-None-Match: *` / `If-Match` on PUT, multipart
 * completion and DELETE the way S3 does (412 PreconditionFailed, 404 NoSuchKey), closing the
 * connection on a refused PUT as S3 does.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/** s3rver's credentials: the only ones it accepts. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

interface S3rverContext {
  method: string;
  path: string;
  query: Record<string, string>;
  get(header: string): string;
  app: { store: S3rverStore };
  res: { shouldKeepAlive: boolean };
}

interface S3rverStore {
  existsObject(bucket: string, key: string): Promise<boolean>;
  getMetadata(bucket: string, key: string): Promise<{ etag: string }>;
}

interface S3rverInstance {
  middleware: ((context: S3rverContext, next: () => Promise<void>) => Promise<void>)[];
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** A running s3rver. */
export interface S3rverHandle {
  /** `http://127.0.0.1:<port>`, for `endpoint` with `force_path_style: true`. */
  readonly endpoint: string;
  readonly directory: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  stop(): Promise<void>;
}

/** Serializes conditional writes per key, so check-then-write is atomic as on S3. */
function conditionalWrites() {
  const S3Error = require('s3rver/lib/models/error') as new (code: string, message: string, detail?: Record<string, string>) => Error;
  const queues = new Map<string, Promise<void>>();
  return async (ctx: S3rverContext, next: () => Promise<void>): Promise<void> => {
    const ifNoneMatch = ctx.get('if-none-match');
    const ifMatch = ctx.get('if-match');
    const isPut = ctx.method === 'PUT' && !('partNumber' in ctx.query) && !ctx.get('x-amz-copy-source');
    const isComplete = ctx.method === 'POST' && 'uploadId' in ctx.query;
    const isDelete = ctx.method === 'DELETE' && !('uploadId' in ctx.query);
    const match = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
    if ((!ifNoneMatch && !ifMatch) || !(isPut || isComplete || isDelete) || !match) return next();
    const bucket = decodeURIComponent(match[1]);
    const key = decodeURIComponent(match[2]);
    const id = `${bucket}/${key}`;
    const previous = queues.get(id) ?? Promise.resolve();
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const queued = previous.then(() => turn);
    queues.set(id, queued);
    await previous;
    try {
      await check();
      await next();
    } finally {
      release();
      if (queues.get(id) === queued) queues.delete(id);
    }

    function refuse(code: string, message: string, detail: Record<string, string>): Error {
      // S3 refuses a PUT before it reads the body and closes the connection, so a client still
      // sending a large body sees a broken pipe instead of the 412.
      if (isPut) ctx.res.shouldKeepAlive = false;
      return new S3Error(code, message, detail);
    }

    async function check(): Promise<void> {
      const exists = await ctx.app.store.existsObject(bucket, key);
      const etag = exists ? (await ctx.app.store.getMetadata(bucket, key)).etag : undefined;
      if (ifNoneMatch === '*' && exists) {
        throw refuse('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-None-Match' });
      }
      if (ifMatch) {
        if (!exists) throw refuse('NoSuchKey', 'The specified key does not exist.', { Key: key });
        const wanted = ifMatch.split(',').map((value) => value.trim());
        if (!wanted.includes('*') && !wanted.includes(etag!)) {
          throw refuse('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
        }
      }
    }
  };
}

async function serve(directory: string, buckets: string[]): Promise<void> {
  const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: !process.env.S3RVER_VERBOSE,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  server.middleware.unshift(conditionalWrites());
  const address = await server.run();
  process.stdout.write(`listening ${address.port}\n`);
  // The parent closes our stdin when it stops us or dies.
  process.stdin.resume();
  process.stdin.on('end', () => {
    void server.close().finally(() => process.exit(0));
  });
}

/**
 * Starts s3rver with the given buckets on 127.0.0.1 and a free port, in a child process: its
 * continuation tokens use DES, which Node's OpenSSL 3 only offers with the legacy provider.
 */
export async function startS3rver(options: { buckets?: readonly string[] } = {}): Promise<S3rverHandle> {
  // A RAM disk when there is one: s3rver keeps three files per object.
  const directory = await mkdtemp(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'b2betl-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', fileURLToPath(import.meta.url), 'serve', directory, (options.buckets ?? []).join(',')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before listening`)));
  });
  // From here on its output is drained, not kept: tests measure this process's memory.
  child.stdout.removeAllListeners('data');
  child.stdout.resume();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    directory,
    ...S3RVER_CREDENTIALS,
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await rm(directory, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'serve') {
  await serve(process.argv[3], process.argv[4] ? process.argv[4].split(',') : []);
}
