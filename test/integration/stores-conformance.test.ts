/**
 * One conformance body for every object store: local disk, GCS (against the GCS double), S3
 * (against s3rver) and Azure Blob (against Azurite). Listing, paging, flat-memory listings of
 * 10,000 objects, reads, ranges, stats, conditional writes and deletes, and no credential in
 * any URL or error.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { PreconditionFailed, type ObjectInfo, type ObjectStore } from '../../src/core/connector.js';
import { EtlError, ObjectChanged } from '../../src/core/errors.js';
import { AzureStore } from '../../connectors/storage/azure/azure-store.js';
import { GcsStore } from '../../connectors/storage/gcs/gcs-store.js';
import { store as localStore } from '../../connectors/storage/local/index.js';
import { S3Store } from '../../connectors/storage/s3/s3-store.js';
import { startAzurite, type AzuriteHandle } from '../support/azurite.js';
import { collect, messageAndHint, storeContext as context, text } from '../support/store-testing.js';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.js';
import { serviceAccountKey } from '../support/google-key.js';
import { startLossyProxy } from '../support/lossy-proxy.js';
import { collectGarbage } from '../support/memory.js';
import { startS3rver, type S3rverHandle } from '../support/s3rver.js';

/** A RAM disk when there is one: 10,000 small files on a slow disk take longer than the test. */
const SCRATCH = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();

const BUCKET = 'conformance-bucket';
const MANY = 10_000;

/** What the shared body needs from each store's test setup. */
interface Harness {
  readonly kind: string;
  /** A store rooted at `root` inside the bucket; `pageSize` where the store takes one. */
  open(root: string, options?: { pageSize?: number }): Promise<ObjectStore>;
  /** Bulk-creates small objects under `root` by the fastest route the server offers. */
  seed(root: string, files: Iterable<{ path: string; data: string }>): Promise<void>;
  /** The URL scheme and host part `url()` starts with. */
  readonly urlStart: string;
  /** A store on a bucket (container) the server does not have, and its name (remote stores). */
  missing?(): Promise<{ store: ObjectStore; name: string }>;
  /** What `nativeUri()` gives for a path under the root, when the store has native URIs. */
  nativeStart?: string;
  /** Listing requests the server has answered so far, when it can tell. */
  listRequests?(): number;
  /** A store whose credentials are refused, the secrets that must never show, and an undo (remote stores). */
  refused?(): Promise<{ store: ObjectStore; secrets: string[]; restore?: () => void }>;
  stop(): Promise<void>;
}


async function inBatches<T>(items: Iterable<T>, size: number, work: (item: T) => Promise<void>): Promise<void> {
  let batch: Promise<void>[] = [];
  for (const item of items) {
    batch.push(work(item));
    if (batch.length >= size) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
}

/** Nested names of ~230 bytes, so that keeping even just the names would show page after page. */
function* manyFiles(): Generator<{ path: string; data: string }> {
  const padding = 'n'.repeat(200);
  for (let index = 0; index < MANY; index += 1) {
    const folder = String(Math.floor(index / 100)).padStart(3, '0');
    yield { path: `many/${folder}/${padding}-${String(index).padStart(5, '0')}.txt`, data: 'x' };
  }
}

let rootCounter = 0;
function freshRoot(kind: string): string {
  rootCounter += 1;
  return `conf-${kind}-${rootCounter}`;
}

// ---------------------------------------------------------------------------------------------
// Harnesses

async function localHarness(): Promise<Harness> {
  const base = await mkdtemp(path.join(SCRATCH, 'b2betl-local-store-'));
  return {
    kind: 'local',
    urlStart: base,
    open: (root) => localStore(context('files', { type: 'local', path: path.join(base, root) })),
    async seed(root, files) {
      const folders = new Map<string, Promise<unknown>>();
      await inBatches(files, 64, async (file) => {
        const target = path.join(base, root, file.path);
        const folder = path.dirname(target);
        if (!folders.has(folder)) folders.set(folder, mkdir(folder, { recursive: true }));
        await folders.get(folder);
        await writeFile(target, file.data);
      });
    },
    stop: () => rm(base, { recursive: true, force: true }),
  };
}

async function gcsHarness(): Promise<Harness> {
  const double: GcsDouble = await startGcsDouble({ buckets: [BUCKET] });
  const config = { type: 'gcs' as const, bucket: BUCKET, endpoint: double.endpoint };
  return {
    kind: 'gcs',
    urlStart: `gs://${BUCKET}/`,
    nativeStart: `gs://${BUCKET}/`,
    missing: async () => ({ store: await GcsStore.connect(context('lake', { ...config, bucket: 'no-such-bucket' }), { retries: 0 }), name: 'no-such-bucket' }),
    open: (root, options) => GcsStore.connect(context('lake', { ...config, prefix: root }), { retries: 0, ...options }),
    async seed(root, files) {
      for (const file of files) double.seed(BUCKET, `${root}/${file.path}`, file.data);
    },
    listRequests: () => double.requests.filter((request) => request.method === 'GET' && /\/o$/.test(request.path)).length,
    async refused() {
      // The server quotes the token it refused: the key and the token it signs must both stay hidden.
      const key = serviceAccountKey();
      const secrets = [key.secret];
      double.intercept((request) => {
        if (!request.path.startsWith('/storage/')) return undefined;
        const token = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
        assert.ok(token.length > 20, 'the request carries a token');
        secrets.push(token);
        return { status: 401, reason: 'authError', message: `Invalid Credentials: token ${token} refused` };
      });
      return { store: await GcsStore.connect(context('lake', { ...config, credentials: key.json }), { retries: 0 }), secrets, restore: () => double.intercept(undefined) };
    },
    stop: () => double.stop(),
  };
}

async function s3Harness(): Promise<Harness> {
  const server: S3rverHandle = await startS3rver({ buckets: [BUCKET] });
  const config = {
    type: 's3' as const,
    bucket: BUCKET,
    endpoint: server.endpoint,
    force_path_style: true,
    region: 'us-east-1',
    access_key_id: server.accessKeyId,
    secret_access_key: server.secretAccessKey,
  };
  return {
    kind: 's3',
    urlStart: `s3://${BUCKET}/`,
    missing: async () => ({ store: await S3Store.connect(context('lake', { ...config, bucket: 'no-such-bucket' }), { maxAttempts: 1 }), name: 'no-such-bucket' }),
    open: (root, options) => S3Store.connect(context('lake', { ...config, prefix: root }), { maxAttempts: 1, ...options }),
    async seed(root, files) {
      // s3rver keeps each object as <key>._S3rver_object next to its MD5: write those directly.
      const folders = new Map<string, Promise<unknown>>();
      await inBatches(files, 64, async (file) => {
        const key = `${root}/${file.path}`;
        const target = path.join(server.directory, BUCKET, `${key}._S3rver_object`);
        const folder = path.dirname(target);
        if (!folders.has(folder)) folders.set(folder, mkdir(folder, { recursive: true }));
        await folders.get(folder);
        await writeFile(target, file.data);
        await writeFile(`${target}.md5`, createHash('md5').update(file.data).digest('hex'));
      });
    },
    async refused() {
      const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY';
      const store = await S3Store.connect(context('lake', { ...config, access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: secret }), { maxAttempts: 1 });
      return { store, secrets: [secret] };
    },
    stop: () => server.stop(),
  };
}

async function azureHarness(): Promise<Harness> {
  const azurite: AzuriteHandle = await startAzurite();
  const sdk = await import('@azure/storage-blob');
  const service = sdk.BlobServiceClient.fromConnectionString(azurite.connectionString);
  const container = service.getContainerClient(BUCKET);
  await container.create();
  const config = { type: 'azure' as const, container: BUCKET, connection_string: azurite.connectionString };
  return {
    kind: 'azure',
    urlStart: `${azurite.blobEndpoint}/${BUCKET}/`,
    missing: async () => ({ store: await AzureStore.connect(context('lake', { ...config, container: 'no-such-box' }), { maxTries: 1 }), name: 'no-such-box' }),
    open: (root, options) => AzureStore.connect(context('lake', { ...config, prefix: root }), { maxTries: 1, ...options }),
    async seed(root, files) {
      await azurite.preloadBlobs(BUCKET, (function* () {
        for (const file of files) yield { name: `${root}/${file.path}`, data: file.data };
      })());
    },
    async refused() {
      const secret = Buffer.from('not the key of this account, but long enough to look like one').toString('base64');
      const store = await AzureStore.connect(
        context('lake', { type: 'azure', container: BUCKET, account: azurite.account, account_key: secret, endpoint: azurite.blobEndpoint }),
        { maxTries: 1 },
      );
      return { store, secrets: [secret] };
    },
    stop: () => azurite.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
// The shared body

const harnesses: Promise<Harness>[] = [];

after(async () => {
  for (const harness of harnesses) await (await harness.catch(() => undefined))?.stop();
});

/** Registers the shared body for one store; a `remote` one also has buckets and credentials. */
function conformance(kind: string, start: () => Promise<Harness>, remote: boolean): void {
  describe(`${kind} store conformance`, () => {
    let harness: Harness | undefined;
    before(async () => {
      const ready = start();
      harnesses.push(ready);
      harness = await ready;
    });
    const need = (): Harness => {
      assert.ok(harness, `${kind} store is not available`);
      return harness;
    };

    it('lists nested prefixes with paths relative to the connection prefix', async () => {
      const h = need();
      const root = freshRoot(kind);
      const store = await h.open(root);
      const outside = await h.open(`${root}-sibling`);
      await outside.write('t/hidden.csv', Buffer.from('not under the root'));
      const before = Date.now();
      const written = new Map<string, string | undefined>();
      for (const [name, body] of [
        ['t/a.csv', 'a'],
        ['t/sub/b.csv', 'bb'],
        ['t/sub/deeper/c.csv', 'ccc'],
        ['u/d.csv', 'dddd'],
      ] as const) {
        written.set(name, await store.write(name, Buffer.from(body)));
      }
      const all = (await collect(store, '')).sort((x, y) => x.path.localeCompare(y.path));
      assert.deepEqual(
        all.map((item) => [item.path, item.size]),
        [
          ['t/a.csv', 1],
          ['t/sub/b.csv', 2],
          ['t/sub/deeper/c.csv', 3],
          ['u/d.csv', 4],
        ],
      );
      assert.deepEqual((await collect(store, 't/')).map((item) => item.path).sort(), ['t/a.csv', 't/sub/b.csv', 't/sub/deeper/c.csv']);
      assert.deepEqual((await collect(store, 't/sub/')).map((item) => item.path).sort(), ['t/sub/b.csv', 't/sub/deeper/c.csv']);
      assert.deepEqual(await collect(store, 'nothing-here/'), []);
      for (const item of all) {
        assert.match(item.modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        // Stores keep whole seconds at worst; the clock is the one this test reads.
        assert.ok(Math.abs(Date.parse(item.modified) - before) < 10 * 60_000, `${item.path} modified ${item.modified}`);
        assert.ok(item.version, `${item.path} has a version`);
        assert.equal(item.version, written.get(item.path));
        assert.deepEqual(await store.stat(item.path), item);
      }
    });

    it('pages through listings', async () => {
      const h = need();
      const root = freshRoot(kind);
      const store = await h.open(root, { pageSize: 3 });
      const names = Array.from({ length: 10 }, (_, index) => `p/item-${String(index).padStart(2, '0')}.json`);
      for (const name of names) await store.write(name, Buffer.from(`{"n":"${name}"}`));
      const requestsBefore = h.listRequests?.();
      const listed = (await collect(store, 'p/')).map((item) => item.path);
      assert.deepEqual(listed.sort(), names);
      if (requestsBefore !== undefined) assert.equal(h.listRequests!() - requestsBefore, 4, '10 objects at 3 per page take 4 requests');
    });

    it(`lists ${MANY.toLocaleString('en')} objects with flat memory`, async (t) => {
      const h = need();
      const root = freshRoot(kind);
      const seedStart = Date.now();
      await h.seed(root, manyFiles());
      const seedTime = Date.now() - seedStart;
      const page = 1000;
      const store = await h.open(root, { pageSize: page });
      const settle = async () => {
        await new Promise((resolve) => setImmediate(resolve));
        collectGarbage();
        return process.memoryUsage();
      };
      const requestsBefore = h.listRequests?.();
      const early: WeakRef<ObjectInfo>[] = [];
      // Memory right after each page arrived (from the second on), so every sample holds one page.
      const samples: NodeJS.MemoryUsage[] = [];
      let count = 0;
      let kept = -1;
      let previous = '';
      for await (const item of store.list('many/')) {
        count += 1;
        assert.equal(item.size, 1);
        if (kind !== 'local') assert.ok(item.path > previous, 'listed in key order');
        previous = item.path;
        if (count <= 100) early.push(new WeakRef(item));
        if (count === 1 && requestsBefore !== undefined) {
          assert.equal(h.listRequests!() - requestsBefore, 1, 'the first object arrives before the second page is asked for');
        }
        if (count > page && count % page === 1) samples.push(await settle());
        if (count === MANY - page + 1) kept = early.filter((ref) => ref.deref() !== undefined).length;
      }
      assert.equal(count, MANY);
      assert.equal(kept, 0, 'objects already yielded are not kept by the store');
      const steps = samples.slice(1).map((sample, index) => sample.heapUsed - samples[index].heapUsed).sort((x, y) => x - y);
      const typicalStep = steps[Math.floor(steps.length / 2)];
      const heapGrowth = samples.at(-1)!.heapUsed - samples[0].heapUsed;
      const rssGrowth = samples.at(-1)!.rss - samples[0].rss;
      const mb = (bytes: number) => `${(bytes / 1048576).toFixed(2)} MB`;
      t.diagnostic(`${kind}: seeded in ${seedTime} ms; over ${MANY - 2 * page} objects heap ${mb(heapGrowth)} (median per page ${mb(typicalStep)}), RSS ${mb(rssGrowth)}`);
      // Keeping what a page yields (1,000 objects, or only their ~230-byte names) would add
      // >0.2 MB per page, every page; a one-off allocation inside a client library moves one step.
      assert.ok(typicalStep < 100 * 1024, `heap grew by ${mb(typicalStep)} per page of ${page} objects`);
      assert.ok(heapGrowth < 8 * 1024 * 1024, `heap grew by ${mb(heapGrowth)} while listing`);
    });

    it('reads whole objects as streams, byte ranges, and metadata', async () => {
      const h = need();
      const store = await h.open(freshRoot(kind));
      const bytes = Buffer.alloc(300_000);
      for (let index = 0; index < bytes.length; index += 1) bytes[index] = (index * 7) % 256;
      const version = await store.write('r/blob.bin', bytes);
      const streamed: Buffer[] = [];
      for await (const chunk of await store.read('r/blob.bin')) streamed.push(Buffer.from(chunk as Buffer));
      assert.ok(Buffer.concat(streamed).equals(bytes));
      assert.ok(Buffer.from(await store.readRange('r/blob.bin', 1000, 1010)).equals(bytes.subarray(1000, 1010)));
      assert.ok(Buffer.from(await store.readRange('r/blob.bin', 299_990, 300_000)).equals(bytes.subarray(299_990)));
      assert.ok(Buffer.from(await store.readRange('r/blob.bin', 299_995, 300_100)).equals(bytes.subarray(299_995)), 'a range past the end is cut at the end');
      assert.equal((await store.readRange('r/blob.bin', 400_000, 400_010)).length, 0);
      assert.equal((await store.readRange('r/blob.bin', 10, 10)).length, 0);
      const info = await store.stat('r/blob.bin');
      assert.equal(info?.path, 'r/blob.bin');
      assert.equal(info?.size, bytes.length);
      assert.equal(info?.version, version);
      assert.equal(await store.stat('r/missing.bin'), undefined);
      await assert.rejects(
        store.read('r/missing.bin'),
        (error: unknown) => error instanceof EtlError && error.message.includes('r/missing.bin') && error.message.includes('not found'),
      );
    });

    it('reads pinned to a listed version: that version, or ObjectChanged once it is replaced or removed', async () => {
      const h = need();
      const store = await h.open(freshRoot(kind));
      const first = Buffer.from('id,v\n1,a\n2,b\n');
      await store.write('p/data.csv', first);
      const [listed] = await collect(store, 'p/');
      assert.ok(listed?.version, 'the listing gives a version');
      const whole = async (version?: string) => {
        const chunks: Buffer[] = [];
        for await (const chunk of await store.read('p/data.csv', version)) chunks.push(Buffer.from(chunk as Buffer));
        return Buffer.concat(chunks);
      };
      assert.ok((await whole(listed.version)).equals(first));
      assert.ok(Buffer.from(await store.readRange('p/data.csv', 5, 9, listed.version)).equals(first.subarray(5, 9)));
      // Replaced with other bytes of the same size, as a producer rewriting a file does.
      const second = Buffer.from('id,v\n3,c\n4,d\n');
      const replaced = await store.write('p/data.csv', second);
      assert.notEqual(replaced, listed.version);
      const changed = (error: unknown) => error instanceof ObjectChanged && error.message.includes('p/data.csv') && /changed during the run/.test(error.message);
      await assert.rejects(whole(listed.version), changed);
      await assert.rejects(store.readRange('p/data.csv', 5, 9, listed.version), changed);
      // The current version, and an unpinned read, give the new bytes.
      assert.ok((await whole(replaced)).equals(second));
      assert.ok((await whole()).equals(second));
      await store.delete('p/data.csv');
      await assert.rejects(whole(replaced), changed);
      await assert.rejects(store.readRange('p/data.csv', 0, 4, replaced), changed);
    });

    it('writes with and without preconditions', async () => {
      const h = need();
      const store = await h.open(freshRoot(kind));
      const first = await store.write('w/state.json', Buffer.from('{"v":1}'));
      const second = await store.write('w/state.json', Buffer.from('{"v":2}'));
      assert.ok(first && second && first !== second, 'an overwrite gets a new version');
      await assert.rejects(store.write('w/state.json', Buffer.from('{"v":"lost"}'), { ifGeneration: '0' }), PreconditionFailed);
      await assert.rejects(store.write('w/state.json', Buffer.from('{"v":"lost"}'), { ifGeneration: first }), PreconditionFailed);
      assert.equal(await text(await store.read('w/state.json')), '{"v":2}');
      const third = await store.write('w/state.json', Buffer.from('{"v":3}'), { ifGeneration: second });
      assert.ok(third && third !== second);
      assert.equal((await store.stat('w/state.json'))?.version, third);
      assert.equal(await text(await store.read('w/state.json')), '{"v":3}');

      const created = await store.write('w/new.lock', Buffer.from('mine'), { ifGeneration: '0' });
      assert.equal((await store.stat('w/new.lock'))?.version, created);
      await assert.rejects(store.write('w/new.lock', Buffer.from('theirs'), { ifGeneration: '0' }), PreconditionFailed);
      assert.equal(await text(await store.read('w/new.lock')), 'mine');

      // A streamed write larger than one upload part, with a condition.
      const big = Buffer.alloc(6 * 1024 * 1024 + 123);
      for (let index = 0; index < big.length; index += 4096) big[index] = index % 253;
      const pieces = Array.from({ length: Math.ceil(big.length / 65536) }, (_, index) => big.subarray(index * 65536, (index + 1) * 65536));
      const streamedVersion = await store.write('w/big.bin', Readable.from(pieces), { ifGeneration: '0' });
      assert.equal((await store.stat('w/big.bin'))?.version, streamedVersion);
      assert.equal((await store.stat('w/big.bin'))?.size, big.length);
      assert.ok(Buffer.from(await store.readRange('w/big.bin', 0, big.length)).equals(big));
      await assert.rejects(store.write('w/big.bin', Readable.from(pieces), { ifGeneration: '0' }), PreconditionFailed);
    });

    it('deletes, optionally on a version', async () => {
      const h = need();
      const store = await h.open(freshRoot(kind));
      const stale = await store.write('d/x.txt', Buffer.from('one'));
      const current = await store.write('d/x.txt', Buffer.from('two'));
      await assert.rejects(store.delete('d/x.txt', { ifGeneration: stale }), PreconditionFailed);
      assert.equal(await text(await store.read('d/x.txt')), 'two');
      await store.delete('d/x.txt', { ifGeneration: current });
      assert.equal(await store.stat('d/x.txt'), undefined);
      await store.delete('d/x.txt');
      await assert.rejects(store.delete('d/x.txt', { ifGeneration: current }), PreconditionFailed);
      await store.write('d/y.txt', Buffer.from('y'));
      await store.delete('d/y.txt');
      assert.deepEqual(await collect(store, 'd/'), []);
    });

    it('never shows credentials in url()', async () => {
      const h = need();
      const root = freshRoot(kind);
      const store = await h.open(root);
      assert.ok(store.url('x/y.csv').startsWith(h.urlStart), store.url('x/y.csv'));
      assert.ok(store.url('x/y.csv').endsWith(`${root}/x/y.csv`));
      assert.equal(store.nativeUri?.('x/y.csv'), h.nativeStart === undefined ? undefined : `${h.nativeStart}${root}/x/y.csv`);
    });

    if (!remote) return;

    it('names a missing bucket and says what to check', async () => {
      const { store, name } = await need().missing!();
      for (const attempt of [() => collect(store, ''), () => store.stat('a.csv'), () => store.read('a.csv')]) {
        await assert.rejects(attempt(), (error: unknown) => {
          assert.ok(error instanceof EtlError, String(error));
          assert.match(error.message, new RegExp(`${name} not found`));
          assert.match(error.hint ?? '', /check/);
          return true;
        });
      }
    });

    it('never shows refused credentials in errors', async () => {
      const { store: refused, secrets, restore } = await need().refused!();
      try {
        for (const secret of secrets) assert.ok(!refused.url('x/y.csv').includes(secret));
        let failure: unknown;
        try {
          await collect(refused, '');
        } catch (error) {
          failure = error;
        }
        assert.ok(failure instanceof EtlError, `a refused listing raises an EtlError, got ${String(failure)}`);
        const shown = `${failure.describe()}\n${failure.stack ?? ''}`;
        assert.match(failure.message, /credentials/i);
        assert.match(failure.hint ?? '', /check/i);
        for (const secret of secrets) assert.ok(!shown.includes(secret), 'the secret does not show');
        await assert.rejects(refused.read('x/y.csv'), (error: unknown) => error instanceof EtlError && secrets.every((secret) => !messageAndHint(error).includes(secret)));
      } finally {
        restore?.();
      }
    });
  });
}

conformance('local', localHarness, false);
conformance('gcs', gcsHarness, true);
conformance('s3', s3Harness, true);
conformance('azure', azureHarness, true);

// ---------------------------------------------------------------------------------------------
// Conditional writes whose answer was lost

/** What the lost-answer cases need of a store's server. */
interface LostAnswers {
  /** A store rooted at `lost/`, its client retrying failed requests `retries` times. */
  open(retries: number): Promise<ObjectStore>;
  /** The next conditional write of `lost/<path>` lands, but its answer never arrives. */
  loseAnswer(path: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A write that landed counts as written, though its answer was lost: with no retries the client
 * sees a dropped connection; with retries, its retry is refused by the write's own result.
 */
function lostAnswers(kind: string, start: () => Promise<LostAnswers>): void {
  describe(`${kind}: conditional writes whose answer was lost`, () => {
    let server: LostAnswers;
    before(async () => {
      server = await start();
    });
    after(() => server.stop());

    for (const retries of [0, 2]) {
      it(`count as written, not as ${retries === 0 ? 'the dropped connection' : "the client's refused retry"}`, async () => {
        const store = await server.open(retries);
        const key = `retries-${retries}.json`;
        await server.loseAnswer(key);
        const created = await store.write(key, Buffer.from('{"v":1}'), { ifGeneration: '0' });
        assert.equal((await store.stat(key))?.version, created);
        await server.loseAnswer(key);
        const replaced = await store.write(key, Buffer.from('{"v":2}'), { ifGeneration: created });
        assert.notEqual(replaced, created);
        assert.equal((await store.stat(key))?.version, replaced);
        assert.equal(await text(await store.read(key)), '{"v":2}');
        await assert.rejects(store.write(key, Buffer.from('{"v":2}'), { ifGeneration: '0' }), PreconditionFailed, 'equal bytes from before are not this write');
        // A streamed write: the answer to the request that finishes it is the one lost.
        const big = Buffer.alloc(6 * 1024 * 1024, retries);
        const pieces = () => Readable.from(Array.from({ length: 6 }, (_, index) => big.subarray(index << 20, (index + 1) << 20)));
        await server.loseAnswer(`big-${key}`);
        const streamed = await store.write(`big-${key}`, pieces(), { ifGeneration: '0' });
        assert.equal((await store.stat(`big-${key}`))?.version, streamed);
        assert.ok(Buffer.from(await store.readRange(`big-${key}`, 0, big.length)).equals(big));
        await assert.rejects(store.write(`big-${key}`, pieces(), { ifGeneration: '0' }), PreconditionFailed);
        await store.close?.();
      });
    }
  });
}

lostAnswers('gcs', async () => {
  const double = await startGcsDouble({ buckets: [BUCKET] });
  const config = { type: 'gcs' as const, bucket: BUCKET, endpoint: double.endpoint, prefix: 'lost' };
  return {
    open: (retries) => GcsStore.connect(context('lake', config), { retries }),
    async loseAnswer(path) {
      // A resumable upload finishes with a PUT to its session, which names no object.
      let session = false;
      double.intercept((request) => {
        if (request.method === 'POST' && request.query.name === `lost/${path}`) {
          if (request.query.uploadType !== 'resumable') return (double.intercept(undefined), 'lose-answer');
          session = true;
        } else if (session && request.method === 'PUT' && request.query.upload_id) {
          double.intercept(undefined);
          return 'lose-answer';
        }
        return undefined;
      });
    },
    stop: () => double.stop(),
  };
});

lostAnswers('s3', async () => {
  const server = await startS3rver({ buckets: [BUCKET] });
  const proxy = await startLossyProxy(server.endpoint);
  const config = {
    type: 's3' as const,
    bucket: BUCKET,
    endpoint: proxy.endpoint,
    force_path_style: true,
    region: 'us-east-1',
    access_key_id: server.accessKeyId,
    secret_access_key: server.secretAccessKey,
    prefix: 'lost',
  };
  return {
    // Parts of S3's smallest size, so the streamed write goes in parts.
    open: (retries) => S3Store.connect(context('lake', config), { maxAttempts: retries + 1, partSize: 5 * 1024 * 1024 }),
    async loseAnswer(path) {
      // A PUT of the whole object, or the completion of a multipart upload.
      proxy.loseNextAnswer(({ method, url }) =>
        url.pathname === `/${BUCKET}/lost/${path}` && ((method === 'PUT' && !url.searchParams.has('partNumber')) || (method === 'POST' && url.searchParams.has('uploadId'))),
      );
    },
    stop: async () => {
      await proxy.stop();
      await server.stop();
    },
  };
});

lostAnswers('azure', async () => {
  const azurite = await startAzurite();
  const proxy = await startLossyProxy(azurite.blobEndpoint);
  const sdk = await import('@azure/storage-blob');
  await sdk.BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(BUCKET).create();
  const config = {
    type: 'azure' as const,
    container: BUCKET,
    account: azurite.account,
    account_key: azurite.accountKey,
    endpoint: `${proxy.endpoint}/${azurite.account}`,
    prefix: 'lost',
  };
  return {
    open: (retries) => AzureStore.connect(context('lake', config), { maxTries: retries + 1 }),
    async loseAnswer(path) {
      // A Put Blob of the whole object, or the Put Block List that commits a streamed one.
      proxy.loseNextAnswer(({ method, url }) =>
        method === 'PUT' && url.pathname === `/${azurite.account}/${BUCKET}/lost/${path}` && [null, 'blocklist'].includes(url.searchParams.get('comp')),
      );
    },
    stop: async () => {
      await proxy.stop();
      await azurite.stop();
    },
  };
});
