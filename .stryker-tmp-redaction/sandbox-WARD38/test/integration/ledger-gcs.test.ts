/**
 * The GCS-backed ledger against the GCS double: concurrent runs of different jobs both land,
 * the same job is refused (and an expired or orphaned lock is taken over by exactly one run),
 * a generation conflict merges, and a crash before or during the upload leaves the last good
 * generation.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { after, before, beforeEach, describe, it } from 'node:test';
import { GcsStore } from '../../connectors/storage/gcs/gcs-store.js';
import type { LoadedConfig } from '../../src/core/config.js';
import { EtlError, LockedError, TransientError } from '../../src/core/errors.js';
import { silentLogger, type Logger } from '../../src/core/log.js';
import { GcsLedger, openGcsLedger, type LockObject } from '../../src/ledger/gcs-sync.js';
import type { PendingCommit } from '../../src/ledger/ledger.js';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.js';

const BUCKET = 'ledger-bucket';
const LEASE = 60_000;

let double: GcsDouble;
let store: GcsStore;
let testNumber = 0;
let location = '';
let object = '';

before(async () => {
  double = await startGcsDouble({ buckets: [BUCKET] });
  store = await GcsStore.connect(
    { name: 'ledger', config: { type: 'gcs', bucket: BUCKET, endpoint: double.endpoint }, baseDir: process.cwd(), log: silentLogger },
    { retries: 0 },
  );
});

after(async () => {
  await double.stop();
});

beforeEach(() => {
  testNumber += 1;
  object = `team/t${testNumber}/ledger.sqlite`;
  location = `gs://${BUCKET}/${object}`;
  double.intercept(undefined);
});

function commit(file: string, cursor: string): PendingCommit {
  return {
    connection: 'lake',
    files: [{ path: file, size: 10, modified: '2024-05-01T00:00:00.000Z', version: '7' }],
    cursor,
    columns: [{ name: 'id', source: 'id', type: 'INT64', nullable: false }],
    counts: { rows_extracted: 3, rows_loaded: 3, rows_rejected: 0, files_processed: 1, files_skipped: 0, files_failed: 0, bytes: 10 },
    status: 'succeeded',
    stages: {},
  };
}

/** A run of `job` recorded in the working copy, as the pipeline would record it. */
function recordRun(ledger: GcsLedger, job: string, runId: string, file: string, cursor: string): void {
  ledger.ledger.startRun({ id: runId, job, destination: 'local_wh', table: job, strategy: 'transactional' });
  ledger.ledger.recordCommit(runId, job, commit(file, cursor));
}

function lockObject(job: string): LockObject | undefined {
  const stored = double.object(BUCKET, `${object}.locks/${job}.lock`);
  return stored ? (JSON.parse(stored.data.toString()) as LockObject) : undefined;
}

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (line) => lines.push(line), warn: (line) => lines.push(line), debug: () => undefined };
}

/** Reads the remote ledger fresh, runs `look` on it, and discards the copy. */
async function remote<T>(look: (ledger: GcsLedger) => T): Promise<T> {
  const copy = await GcsLedger.open(location, store, { readOnly: true });
  try {
    return look(copy);
  } finally {
    await copy.close();
  }
}

describe('GCS-backed ledger', () => {
  it('starts empty when the ledger object is absent and creates it on close', async () => {
    const first = await GcsLedger.open(location, store);
    assert.equal(first.baseGeneration, '0');
    assert.deepEqual(first.ledger.jobs(), []);
    await first.lock('orders', 'run-1', LEASE);
    recordRun(first, 'orders', 'run-1', 'a.csv', '2024-05-01');
    await first.close();
    const stored = double.object(BUCKET, object);
    assert.ok(stored, 'the ledger object exists');
    assert.equal(lockObject('orders'), undefined, 'the lock is released on close');
    const cursor = await remote((ledger) => ledger.ledger.cursor('orders'));
    assert.equal(cursor, '2024-05-01');
    const reopened = await GcsLedger.open(location, store, { readOnly: true });
    assert.equal(reopened.baseGeneration, stored.generation);
    await reopened.close();
    assert.equal(double.object(BUCKET, object)?.generation, stored.generation, 'a read-only open never uploads');
    const unchanged = await GcsLedger.open(location, store);
    await unchanged.close();
    assert.equal(double.object(BUCKET, object)?.generation, stored.generation, 'nothing changed, nothing uploaded');
  });

  it('lands two concurrent runs of different jobs', async () => {
    const log = capture();
    const a = await GcsLedger.open(location, store);
    const b = await GcsLedger.open(location, store, { log });
    await a.lock('orders', 'run-a', LEASE);
    await b.lock('customers', 'run-b', LEASE);
    assert.equal(lockObject('orders')?.run_id, 'run-a');
    assert.equal(lockObject('customers')?.run_id, 'run-b');
    recordRun(a, 'orders', 'run-a', 'orders-1.csv', 'o-1');
    recordRun(b, 'customers', 'run-b', 'customers-1.csv', 'c-1');
    await a.close();
    const afterA = double.object(BUCKET, object)!.generation;
    const uploadsBefore = double.requests.filter((request) => request.method === 'POST' && request.query.name === object).length;
    await b.close();
    const uploads = double.requests.filter((request) => request.method === 'POST' && request.query.name === object);
    assert.equal(uploads.length - uploadsBefore, 2, 'b uploaded, met 412, merged, uploaded again');
    assert.equal(uploads.at(-2)?.query.ifGenerationMatch, '0');
    assert.equal(uploads.at(-1)?.query.ifGenerationMatch, afterA);
    assert.ok(log.lines.some((line) => /merged this run's jobs customers/.test(line)), log.lines.join('\n'));
    await remote((ledger) => {
      assert.equal(ledger.ledger.cursor('orders'), 'o-1');
      assert.equal(ledger.ledger.cursor('customers'), 'c-1');
      assert.deepEqual([...ledger.ledger.files('orders', 'lake').keys()], ['orders-1.csv']);
      assert.deepEqual([...ledger.ledger.files('customers', 'lake').keys()], ['customers-1.csv']);
      assert.deepEqual(ledger.ledger.runs().map((run) => run.id).sort(), ['run-a', 'run-b']);
      assert.deepEqual(ledger.ledger.jobs(), ['customers', 'orders']);
    });
  });

  it('refuses a second run of the same job with a clear LockedError', async () => {
    const a = await GcsLedger.open(location, store);
    const b = await GcsLedger.open(location, store);
    await a.lock('orders', 'run-a', LEASE);
    await assert.rejects(
      b.lock('orders', 'run-b', LEASE),
      (error: unknown) =>
        error instanceof LockedError &&
        error.message.includes('job orders is already running (run run-a') &&
        error.message.includes(hostname()) &&
        error.message.includes(`gs://${BUCKET}/${object}.locks/orders.lock`) &&
        /taken over after/.test(error.hint ?? ''),
    );
    assert.equal(lockObject('orders')?.run_id, 'run-a', 'the holder keeps its lock');
    await a.renewLock('orders', 'run-a', LEASE);
    await a.unlock('orders', 'run-a');
    await b.lock('orders', 'run-b', LEASE);
    assert.equal(lockObject('orders')?.run_id, 'run-b');
    await a.close();
    await b.close();
  });

  it('holds its lock and lands its ledger when the answers to its writes were lost and the retries refused', async () => {
    const retrying = await GcsStore.connect(
      { name: 'ledger', config: { type: 'gcs', bucket: BUCKET, endpoint: double.endpoint }, baseDir: process.cwd(), log: silentLogger },
      { retries: 2 },
    );
    const ledger = await GcsLedger.open(location, retrying);
    const lost: string[] = [];
    let loseNext = false;
    double.intercept((request) => {
      if (request.method !== 'POST' || !request.query.name || !loseNext) return undefined;
      loseNext = false;
      lost.push(request.query.name);
      return 'lose-answer';
    });
    loseNext = true;
    await ledger.lock('orders', 'run-a', LEASE);
    const taken = lockObject('orders');
    assert.equal(taken?.run_id, 'run-a');
    loseNext = true;
    await ledger.renewLock('orders', 'run-a', LEASE);
    assert.notEqual(lockObject('orders')?.expires_at, undefined);
    recordRun(ledger, 'orders', 'run-a', 'a.csv', '2024-05-01');
    loseNext = true;
    await ledger.close();
    const lock = `${object}.locks/orders.lock`;
    assert.deepEqual(lost, [lock, lock, object], 'the first write of each step landed without an answer');
    assert.equal(lockObject('orders'), undefined, 'the lock is released on its own generation');
    assert.equal(await remote((copy) => copy.ledger.cursor('orders')), '2024-05-01');
  });

  it('takes over an expired lock, or one whose process is gone, in exactly one run', async () => {
    const stale: LockObject = {
      job: 'orders',
      run_id: 'run-old',
      host: 'another-host',
      pid: 4242,
      acquired_at: '2024-01-01T00:00:00.000Z',
      expires_at: '2024-01-01T00:10:00.000Z',
    };
    double.seed(BUCKET, `${object}.locks/orders.lock`, JSON.stringify(stale));
    const contenders = await Promise.all([1, 2, 3].map(() => GcsLedger.open(location, store)));
    const outcomes = await Promise.allSettled(contenders.map((ledger, index) => ledger.lock('orders', `run-${index}`, LEASE)));
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    assert.equal(won.length, 1, 'exactly one run takes the expired lock over');
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof LockedError, String(outcome.reason));
    }
    const winner = outcomes.findIndex((outcome) => outcome.status === 'fulfilled');
    assert.equal(lockObject('orders')?.run_id, `run-${winner}`);
    for (const ledger of contenders) await ledger.close();

    // A live lease held by a process of this host that no longer exists.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const orphan: LockObject = { ...stale, host: hostname(), pid: Number(dead), expires_at: new Date(Date.now() + LEASE).toISOString() };
    double.seed(BUCKET, `${object}.locks/orders.lock`, JSON.stringify(orphan));
    const next = await GcsLedger.open(location, store);
    await next.lock('orders', 'run-next', LEASE);
    assert.equal(lockObject('orders')?.run_id, 'run-next');
    await next.close();
  });

  it("merges on a 412: this run's jobs keep its rows, every other job takes the newer ledger", async () => {
    // Generation 1: two jobs already known.
    const seed = await GcsLedger.open(location, store);
    recordRun(seed, 'orders', 'run-0', 'orders-0.csv', 'o-0');
    recordRun(seed, 'refunds', 'run-r', 'refunds-0.csv', 'r-0');
    await seed.close();

    const ours = await GcsLedger.open(location, store);
    await ours.lock('orders', 'run-1', LEASE);
    recordRun(ours, 'orders', 'run-1', 'orders-1.csv', 'o-1');

    // Meanwhile another run loads customers and resets refunds, and saves first.
    const theirs = await GcsLedger.open(location, store);
    await theirs.lock('customers', 'run-2', LEASE);
    recordRun(theirs, 'customers', 'run-2', 'customers-1.csv', 'c-1');
    theirs.ledger.reset('refunds');
    await theirs.close();
    const theirGeneration = double.object(BUCKET, object)!.generation;

    await ours.sync();
    assert.notEqual(ours.baseGeneration, theirGeneration);
    assert.equal(ours.baseGeneration, double.object(BUCKET, object)!.generation);
    // The working copy now holds the merged state, so the run goes on from it.
    assert.equal(ours.ledger.cursor('customers'), 'c-1');
    assert.equal(ours.ledger.cursor('refunds'), undefined);
    await ours.close();

    await remote((ledger) => {
      assert.equal(ledger.ledger.cursor('orders'), 'o-1');
      assert.deepEqual([...ledger.ledger.files('orders', 'lake').keys()].sort(), ['orders-0.csv', 'orders-1.csv']);
      assert.equal(ledger.ledger.cursor('customers'), 'c-1');
      assert.equal(ledger.ledger.cursor('refunds'), undefined, "the other run's reset survives the merge");
      assert.deepEqual(ledger.ledger.files('refunds', 'lake').size, 0);
      assert.deepEqual(ledger.ledger.runs().map((run) => run.id).sort(), ['run-0', 'run-1', 'run-2', 'run-r']);
    });
  });

  it('leaves the last good generation when a run dies before or during its upload', async () => {
    const seed = await GcsLedger.open(location, store);
    recordRun(seed, 'orders', 'run-0', 'orders-0.csv', 'o-0');
    await seed.close();
    const good = double.object(BUCKET, object)!;

    // Killed before uploading: the working copy is simply gone.
    const crashed = await GcsLedger.open(location, store);
    await crashed.lock('orders', 'run-crash', LEASE);
    recordRun(crashed, 'orders', 'run-crash', 'orders-1.csv', 'o-1');
    crashed.abandon();
    assert.equal(double.object(BUCKET, object)!.generation, good.generation);
    assert.ok(double.object(BUCKET, object)!.data.equals(good.data));

    // The connection drops in the middle of the upload.
    const cut = await GcsLedger.open(location, store);
    recordRun(cut, 'customers', 'run-cut', 'customers-1.csv', 'c-1');
    double.intercept((request) => (request.method === 'POST' && request.query.name === object ? 'reset' : undefined));
    await assert.rejects(cut.sync(), (error: unknown) => error instanceof TransientError || error instanceof EtlError);
    assert.equal(double.object(BUCKET, object)!.generation, good.generation, 'no half-written ledger');
    assert.ok(double.object(BUCKET, object)!.data.equals(good.data));
    double.intercept(undefined);
    await cut.close();

    await remote((ledger) => {
      assert.equal(ledger.ledger.cursor('orders'), 'o-0', 'the crashed run recorded nothing');
      assert.equal(ledger.ledger.cursor('customers'), 'c-1', 'the retried upload landed');
    });
    // The crashed run's lock stays until it expires: the next run of that job is refused.
    const next = await GcsLedger.open(location, store);
    await assert.rejects(next.lock('orders', 'run-next', LEASE), LockedError);
    await next.close();
  });

  it('refuses a remote ledger that is not a sound SQLite file', async () => {
    double.seed(BUCKET, object, Buffer.from('SQLite format 3\u0000 but then garbage '.repeat(300)));
    await assert.rejects(GcsLedger.open(location, store), (error: unknown) => error instanceof EtlError && /not a sound SQLite file/.test(error.message));
  });

  it('is opened from a config by its gs:// URI, with the endpoint of a gcs connection on that bucket', async () => {
    const config = {
      config: { connections: {}, defaults: {}, plugins: [] },
      baseDir: process.cwd(),
      connections: { lake: { type: 'gcs', bucket: BUCKET, endpoint: double.endpoint } },
      defaultDestination: 'local_wh',
      ledger: location,
    } as unknown as LoadedConfig;
    const opened = await openGcsLedger(location, config, silentLogger);
    recordRun(opened, 'orders', 'run-cfg', 'x.csv', 'o-x');
    await opened.close();
    assert.equal(await remote((ledger) => ledger.ledger.cursor('orders')), 'o-x');
    await assert.rejects(openGcsLedger('gs://only-a-bucket', config, silentLogger), /gs:\/\/bucket\/path\/file/);
  });
});
