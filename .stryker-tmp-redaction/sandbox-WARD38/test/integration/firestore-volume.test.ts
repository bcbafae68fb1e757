/**
 * 50,000 documents through the Firestore source with flat memory: the source streams one
 * query and holds one batch at a time, so the batches it already handed out are freed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Firestore } from '@google-cloud/firestore';
import type { SourceConnector } from '../../src/core/connector.js';
import { firestoreJob, startFirestoreFixture, type FirestoreFixture } from '../support/firestore-fixtures.js';
import { Released } from '../support/memory.js';

const PROJECT = 'b2betl-volume';
const DOCUMENTS = 50_000;
const WRITES_PER_BATCH = 500;
const PARALLEL_BATCHES = 8;
let fixture: FirestoreFixture | undefined;
let db: Firestore;
let source: SourceConnector;

before(async () => {
  fixture = await startFirestoreFixture(PROJECT);
  ({ db, source } = fixture);
});

after(() => fixture?.stop());

/** About 2 KB per document, so that holding the collection would show plainly. */
function documentData(i: number, Timestamp: typeof import('@google-cloud/firestore').Timestamp) {
  return {
    i: BigInt(i),
    payload: `customer ${i} `.padEnd(2000, 'x'),
    updated_at: new Timestamp(1_700_000_000 + Math.floor(i / 10), (i % 10) * 1000),
    tags: { shard: BigInt(i % 16) },
  };
}

test('50,000 documents stream in bounded batches with flat memory', async () => {
  const { Timestamp } = await import('@google-cloud/firestore');
  const collection = db.collection('bulk');
  const batches: Promise<unknown>[] = [];
  for (let start = 0; start < DOCUMENTS; start += WRITES_PER_BATCH) {
    const batch = db.batch();
    for (let i = start; i < Math.min(DOCUMENTS, start + WRITES_PER_BATCH); i++) {
      batch.set(collection.doc(`doc${String(i).padStart(6, '0')}`), documentData(i, Timestamp));
    }
    batches.push(batch.commit());
    if (batches.length >= PARALLEL_BATCHES) await Promise.all(batches.splice(0));
  }
  await Promise.all(batches);

  const job = firestoreJob({ collection: 'bulk' }, { strategy: 'transactional', cursor: 'updated_at' });
  const log = { info() {}, warn() {}, debug() {} };
  const plan = await source.plan({ job, state: { files: new Map() }, fullRefresh: false, log });
  assert.equal(plan.estimatedRows, DOCUMENTS);
  assert.equal(plan.units.length, 1);

  const released = new Released();
  let rows = 0;
  let sum = 0n;
  let largest = 0;
  const seen = new Uint8Array(DOCUMENTS);
  for await (const batch of source.read(plan.units[0], { job, log, signal: new AbortController().signal })) {
    released.track(batch);
    largest = Math.max(largest, batch.rows.length);
    const i = batch.columns.findIndex((column) => column.name === 'i');
    for (const row of batch.rows) {
      const value = row[i] as bigint;
      sum += value;
      seen[Number(value)]++;
    }
    rows += batch.rows.length;
  }
  assert.equal(rows, DOCUMENTS);
  assert.equal(sum, BigInt((DOCUMENTS * (DOCUMENTS - 1)) / 2));
  assert.ok(seen.every((count) => count === 1), 'every document exactly once');
  assert.ok(largest <= 10_000, `batches hold at most 10,000 rows (largest ${largest})`);
  await released.assertReleased('batches');
});
