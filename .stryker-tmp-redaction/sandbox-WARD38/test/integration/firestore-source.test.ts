/**
 * The Firestore source against the emulator (@firestore-emulator/server) through the real
 * @google-cloud/firestore client: plan + read → batches and values.
 *
 * Emulator limitations these tests live with: it ignores `startAfter`/`offset` (the source never
 * pages with them: each unit is one ordered query stream); it ignores ordering by document id
 * and returns documents in insertion order (tie handling is therefore by document path sets, not
 * by order, and the tests insert documents in id order where order matters); and a collection
 * group query only finds the top-level collection of that id (subcollections are tested through
 * `source.collection` with a path instead).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Firestore } from '@google-cloud/firestore';
import { ConfigError } from '../../src/core/errors.js';
import type { SourceConnector } from '../../src/core/connector.js';
import { cursorAfter, firestoreJob, recordingLogger, runSource, startFirestoreFixture, type FirestoreFixture } from '../support/firestore-fixtures.js';

const PROJECT = 'b2betl-test';
let fixture: FirestoreFixture | undefined;
let db: Firestore;
let source: SourceConnector;
let sdk: typeof import('@google-cloud/firestore');

before(async () => {
  fixture = await startFirestoreFixture(PROJECT);
  ({ db, source } = fixture);
  sdk = await import('@google-cloud/firestore');
});

after(() => fixture?.stop());

const ts = (seconds: number, nanos = 0) => new sdk.Timestamp(seconds, nanos);

/** Writes a collection once, for whichever test needs it first: each test also passes alone. */
function once(make: () => Promise<void>): () => Promise<void> {
  let made: Promise<void> | undefined;
  return () => (made ??= make());
}

describe('values', () => {
  const things = once(async () => {
    await db.doc('things/t1').set({
      name: 'one',
      count: 7n,
      ratio: 0.25,
      ok: true,
      at: ts(1_700_000_000, 123_456_789),
      early: ts(-1, 500_000_999),
      place: new sdk.GeoPoint(50.45, 30.52),
      owner: db.doc('users/u1'),
      blob: Buffer.from([0, 1, 2, 255]),
      meta: { when: ts(1_700_000_000, 999_999_999), tags: ['a', 'b'], ref: db.doc('users/u2'), deep: { n: 1n, x: null } },
      list: [1n, 'two', { three: 3.5 }],
      empty: null,
    });
  });

  test('nested data, timestamps with nanoseconds, GeoPoint, reference and bytes', async () => {
    await things();
    const job = firestoreJob({ collection: 'things' });
    const { batches, records } = await runSource(source, job);
    assert.equal(records.length, 1);
    const row = records[0];
    const types = Object.fromEntries(batches[0].columns.map((column) => [column.name, column.type]));
    assert.deepEqual(types, {
      document_id: 'STRING',
      _extracted_at: 'TIMESTAMP',
      name: 'STRING',
      count: 'INT64',
      ratio: 'FLOAT64',
      ok: 'BOOL',
      at: 'TIMESTAMP',
      early: 'TIMESTAMP',
      place: 'STRING',
      owner: 'STRING',
      blob: 'BYTES',
      meta: 'STRING',
      list: 'STRING',
      empty: 'STRING',
    });
    assert.equal(row.document_id, 't1');
    assert.equal(typeof row._extracted_at, 'bigint');
    assert.equal(row.count, 7n);
    assert.equal(row.ratio, 0.25);
    assert.equal(row.ok, true);
    // microseconds exactly, nanoseconds truncated, also before 1970
    assert.equal(row.at, 1_700_000_000_123_456n);
    assert.equal(row.early, -500_000n);
    assert.equal(row.place, '{"lat":50.45,"lng":30.52}');
    assert.equal(row.owner, 'users/u1');
    assert.deepEqual([...(row.blob as Uint8Array)], [0, 1, 2, 255]);
    assert.equal(row.meta, '{"when":"2023-11-14T22:13:20.999999Z","tags":["a","b"],"ref":"users/u2","deep":{"n":1,"x":null}}');
    assert.equal(row.list, '[1,"two",{"three":3.5}]');
    assert.equal(row.empty, null);
  });

  test('nested: json gives JSON columns holding the same text', async () => {
    await things();
    const job = firestoreJob({ collection: 'things', nested: 'json', columns: ['meta', 'place', 'at'] });
    const { batches, records } = await runSource(source, job);
    const types = Object.fromEntries(batches[0].columns.map((column) => [column.name, column.type]));
    assert.deepEqual(types, { document_id: 'STRING', _extracted_at: 'TIMESTAMP', meta: 'JSON', place: 'JSON', at: 'TIMESTAMP' });
    assert.equal(JSON.parse(records[0].meta as string).when, '2023-11-14T22:13:20.999999Z');
    assert.deepEqual(JSON.parse(records[0].place as string), { lat: 50.45, lng: 30.52 });
  });

  test('mixed types across documents widen: integer and double → FLOAT64, anything and string → STRING', async () => {
    await db.doc('mixed/a').set({ n: 1n, s: 'text', t: ts(10), m: { a: 1n } });
    await db.doc('mixed/b').set({ n: 2.5, s: 5n, t: ts(20), m: 'plain' });
    const job = firestoreJob({ collection: 'mixed' });
    const columns = await source.discover(job, recordingLogger());
    const byName = Object.fromEntries(columns.map((column) => [column.name, column]));
    assert.equal(byName.n.type, 'FLOAT64');
    assert.equal(byName.n.sourceType, 'integer|double');
    assert.equal(byName.s.type, 'STRING');
    assert.equal(byName.t.type, 'TIMESTAMP');
    assert.equal(byName.m.type, 'STRING');
    assert.equal(byName.n.inferred, true);
    const { records } = await runSource(source, job);
    assert.deepEqual(
      records.map((r) => [r.document_id, r.n, r.s, r.m]),
      [
        ['a', 1n, 'text', '{"a":1}'],
        ['b', 2.5, 5n, 'plain'],
      ],
    );
  });

  test('null and missing fields are told apart with keep_missing', async () => {
    await db.doc('sparse/a').set({ x: 1n, y: null });
    await db.doc('sparse/b').set({ y: 'set' });
    const plainRun = await runSource(source, firestoreJob({ collection: 'sparse' }));
    assert.deepEqual(plainRun.records.map((r) => [r.x, r.y]), [[1n, null], [null, 'set']]);
    assert.ok(!plainRun.batches[0].columns.some((column) => column.name === '_missing'));
    const { records } = await runSource(source, firestoreJob({ collection: 'sparse', keep_missing: true }));
    assert.deepEqual(
      records.map((r) => [r.document_id, r.x, r.y, r._missing]),
      [
        ['a', 1n, null, '[]'],
        ['b', null, 'set', '["x"]'],
      ],
    );
  });

  test('a field named like a metadata column keeps its value under <name>_value', async () => {
    await db.doc('clash/a').set({ document_id: 'mine', other: 1n });
    const { records } = await runSource(source, firestoreJob({ collection: 'clash' }));
    assert.equal(records[0].document_id, 'a');
    assert.equal(records[0].document_id_value, 'mine');
  });
});

describe('schema evolution', () => {
  test('fields that first appear after the sample are added as new columns', async () => {
    const batch = db.batch();
    for (let i = 1; i <= 30; i++) {
      const id = `d${String(i).padStart(2, '0')}`;
      const data: Record<string, unknown> = { i: BigInt(i) };
      if (i === 12) data.late = ts(1_700_000_000, 1_000);
      if (i === 20) data.later = { k: 'v' };
      if (i === 25) data.late = 'not a timestamp';
      batch.set(db.doc(`evolving/${id}`), data);
    }
    await batch.commit();
    const job = firestoreJob({ collection: 'evolving', sample_size: 5 });
    const discovered = await source.discover(job, recordingLogger());
    assert.deepEqual(discovered.map((column) => column.name), ['document_id', '_extracted_at', 'i']);
    const { batches, records } = await runSource(source, job);
    assert.equal(records.length, 30);
    // every batch's columns extend the previous batch's
    for (let b = 1; b < batches.length; b++) {
      const previous = batches[b - 1].columns.map((column) => column.name);
      assert.deepEqual(batches[b].columns.map((column) => column.name).slice(0, previous.length), previous);
    }
    const last = batches.at(-1)!.columns;
    assert.deepEqual(last.map((column) => column.name), ['document_id', '_extracted_at', 'i', 'late', 'later']);
    assert.equal(last.find((column) => column.name === 'late')!.type, 'TIMESTAMP');
    assert.equal(last.find((column) => column.name === 'late')!.inferred, true);
    const byId = Object.fromEntries(records.map((r) => [r.document_id, r]));
    assert.equal(byId.d12.late, 1_700_000_000_000_001n);
    assert.equal(byId.d20.later, '{"k":"v"}');
    // a value the column's type cannot hold is passed on as is, for the convert stage to widen or reject
    assert.equal(byId.d25.late, 'not a timestamp');
    assert.equal(byId.d01.late, undefined);
    assert.deepEqual(batches.flatMap((batch) => batch.positions), records.map((r) => `evolving/${r.document_id}`));
  });
});

describe('collections', () => {
  test('a subcollection path reads only that subcollection', async () => {
    await db.doc('users/u1/orders/o1').set({ total: 10n });
    await db.doc('users/u1/orders/o2').set({ total: 20n });
    await db.doc('users/u2/orders/o3').set({ total: 30n });
    const { records, batches } = await runSource(source, firestoreJob({ collection: 'users/u1/orders' }));
    assert.deepEqual(records.map((r) => [r.document_id, r.total]), [['o1', 10n], ['o2', 20n]]);
    assert.deepEqual(batches[0].positions, ['users/u1/orders/o1', 'users/u1/orders/o2']);
  });

  test('a collection group adds document_path', async () => {
    await db.doc('orders/top1').set({ total: 1n });
    const { records } = await runSource(source, firestoreJob({ collection_group: 'orders' }));
    // the emulator finds only the top-level `orders` of a group (see the top of this file)
    assert.deepEqual(records.map((r) => [r.document_id, r.document_path, r.total]), [['top1', 'orders/top1', 1n]]);
  });

  test('source.columns reads only the listed fields, keeping metadata, and samples fields the first documents lack', async () => {
    const batch = db.batch();
    for (let i = 1; i <= 10; i++) batch.set(db.doc(`wide/w${String(i).padStart(2, '0')}`), { a: BigInt(i), b: 'x', ...(i === 9 ? { rare: ts(5) } : {}) });
    await batch.commit();
    const job = firestoreJob({ collection: 'wide', columns: ['rare', 'a', 'document_id'], sample_size: 3 });
    const { batches, records } = await runSource(source, job);
    assert.deepEqual(batches[0].columns.map((column) => `${column.name}:${column.type}`), ['document_id:STRING', '_extracted_at:TIMESTAMP', 'rare:TIMESTAMP', 'a:INT64']);
    assert.equal(records.length, 10);
    assert.equal(records[8].rare, 5_000_000n);
    assert.ok(records.every((r) => !('b' in r)));
  });

  test('an empty collection yields one batch with the metadata columns and no rows', async () => {
    const { batches, plan } = await runSource(source, firestoreJob({ collection: 'nothing_here' }));
    assert.equal(plan.estimatedRows, 0);
    assert.equal(batches.length, 1);
    assert.equal(batches[0].rows.length, 0);
    assert.deepEqual(batches[0].columns.map((column) => column.name), ['document_id', '_extracted_at']);
  });

  const stamped = once(async () => {
    for (const id of ['s1', 's2', 's3']) await db.doc(`stamped/${id}`).set({ n: 1n });
  });

  test('a cancelled read stops', async () => {
    await stamped();
    const job = firestoreJob({ collection: 'stamped' });
    const plan = await source.plan({ job, state: { files: new Map() }, fullRefresh: false, log: recordingLogger() });
    const controller = new AbortController();
    controller.abort(new Error('run cancelled'));
    await assert.rejects(async () => {
      for await (const batch of source.read(plan.units[0], { job, log: recordingLogger(), signal: controller.signal })) assert.fail(`read ${batch.rows.length} rows`);
    }, /run cancelled/);
  });

  test('one _extracted_at value per run', async () => {
    await stamped();
    const { records } = await runSource(source, firestoreJob({ collection: 'stamped' }));
    assert.equal(records.length, 3);
    assert.equal(new Set(records.map((r) => r._extracted_at)).size, 1);
  });
});

describe('malformed documents', () => {
  test('a field name with no letter or digit rejects its document with the reason; the others load', async () => {
    await db.doc('odd/a').set({ v: 1n });
    await db.doc('odd/b').set({ v: 2n, '!!!': 'x' });
    await db.doc('odd/c').set({ v: 3n, blob: 4n });
    const log = recordingLogger();
    const job = firestoreJob({ collection: 'odd' });
    const { batches, records, plan } = await runSource(source, job, { log });
    assert.deepEqual(records.map((r) => [r.document_id, r.v]), [['a', 1n], ['c', 3n]]);
    const rejects = batches.flatMap((batch) => batch.rejects ?? []);
    assert.equal(rejects.length, 1);
    assert.equal(rejects[0].position, 'odd/b');
    assert.match(rejects[0].reason, /"!!!" has no letter or digit/);
    assert.deepEqual(JSON.parse(rejects[0].raw), { v: 2, '!!!': 'x' });
    assert.ok(plan.notes?.some((note) => note.includes('"!!!"')));
    // listing the fields leaves the odd name out, so the document loads
    const listed = await runSource(source, firestoreJob({ collection: 'odd', columns: ['v'] }));
    assert.deepEqual(listed.records.map((r) => r.v), [1n, 2n, 3n]);
  });
});

describe('incremental by a timestamp cursor', () => {
  const job = () => firestoreJob({ collection: 'events' }, { strategy: 'transactional', cursor: 'updated_at' });
  const ids = (records: Record<string, unknown>[]) => records.map((r) => r.document_id).sort();

  test('equal timestamps across runs: none lost, none duplicated', async () => {
    const T1 = ts(1_700_000_000, 100_000_001);
    const T2 = ts(1_700_000_000, 100_000_002);
    const T3 = ts(1_700_000_100);
    await db.doc('events/a').set({ updated_at: T1, v: 1n });
    await db.doc('events/b').set({ updated_at: T2, v: 2n });
    await db.doc('events/c').set({ updated_at: T2, v: 3n });
    await db.doc('events/nocursor').set({ v: 0n });
    await db.doc('events/stringcursor').set({ updated_at: '2023-01-01', v: 0n });

    const first = await runSource(source, job());
    assert.deepEqual(ids(first.records), ['a', 'b', 'c']);
    assert.ok(first.plan.ordered);
    assert.equal(first.plan.estimatedRows, 3);
    assert.ok(first.plan.notes?.some((note) => note.includes('2 of 5 documents') && note.includes('no timestamp in updated_at')));
    assert.ok(first.plan.notes?.some((note) => note.startsWith('high-water mark: 2023-11-14T22:13:20.100000002Z')));
    assert.ok(first.plan.notes?.includes('read: collection events where updated_at is a timestamp and <= 2023-11-14T22:13:20.100000002Z, ordered by updated_at, document id'));
    const state1 = cursorAfter(first.plan);
    assert.deepEqual(state1, { field: 'updated_at', at: '2023-11-14T22:13:20.100000002Z', seconds: 1_700_000_000, nanos: 100_000_002, ids: ['events/b', 'events/c'] });

    // nothing new: no unit at all
    const idle = await runSource(source, job(), { cursor: state1 });
    assert.equal(idle.plan.units.length, 0);
    assert.match(idle.plan.notes![0], /nothing new/);

    // a late document at the boundary value, one after it, and one older than the boundary
    await db.doc('events/d').set({ updated_at: T2, v: 4n });
    await db.doc('events/e').set({ updated_at: T3, v: 5n });
    await db.doc('events/old').set({ updated_at: T1, v: 6n });
    const second = await runSource(source, job(), { cursor: state1 });
    assert.deepEqual(ids(second.records), ['d', 'e']);
    const state2 = cursorAfter(second.plan, state1);
    assert.deepEqual((state2 as { ids: string[] }).ids, ['events/e']);

    // a document written at the high-water mark between plan and read waits for the next run
    const T4 = ts(1_700_000_150);
    await db.doc('events/h').set({ updated_at: T4, v: 9n });
    const third = await runSource(source, job(), {
      cursor: state2,
      between: async () => {
        await db.doc('events/f').set({ updated_at: T4, v: 7n });
        await db.doc('events/g').set({ updated_at: ts(1_700_000_200), v: 8n });
      },
    });
    assert.deepEqual(ids(third.records), ['h']);
    const state3 = cursorAfter(third.plan, state2);
    const fourth = await runSource(source, job(), { cursor: state3 });
    assert.deepEqual(ids(fourth.records), ['f', 'g']);

    // over all runs every document with a timestamp came exactly once (old was backdated below the cursor)
    const all = [...first.records, ...second.records, ...third.records, ...fourth.records].map((r) => r.document_id);
    assert.equal(new Set(all).size, all.length);

    // a full refresh reads everything again, as does catalog
    const full = await runSource(source, job(), { cursor: state3, fullRefresh: true });
    assert.deepEqual(ids(full.records), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'old']);
  });

  /** What `events` holds after the test above, in a collection of its own for the tests below. */
  const settled = once(async () => {
    const docs: [string, InstanceType<typeof sdk.Timestamp> | string | undefined][] = [
      ['a', ts(1_700_000_000, 100_000_001)],
      ['b', ts(1_700_000_000, 100_000_002)],
      ['c', ts(1_700_000_000, 100_000_002)],
      ['d', ts(1_700_000_000, 100_000_002)],
      ['e', ts(1_700_000_100)],
      ['f', ts(1_700_000_150)],
      ['g', ts(1_700_000_200)],
      ['h', ts(1_700_000_150)],
      ['nocursor', undefined],
      ['old', ts(1_700_000_000, 100_000_001)],
      ['stringcursor', '2023-01-01'],
    ];
    for (const [id, at] of docs) await db.doc(`settled/${id}`).set(at === undefined ? { v: 0n } : { updated_at: at, v: 0n });
  });

  test('load.start bounds the first run; --since/--until backfill without moving the cursor', async () => {
    await settled();
    const started = firestoreJob({ collection: 'settled' }, { strategy: 'transactional', cursor: 'updated_at', start: '2023-11-14T22:13:21Z' });
    const first = await runSource(source, started);
    assert.deepEqual(ids(first.records), ['e', 'f', 'g', 'h']);
    const state = cursorAfter(first.plan);
    const backfill = await runSource(source, started, { cursor: state, window: { since: '2023-11-14T22:13:20Z', until: '2023-11-14T22:13:21Z' } });
    assert.deepEqual(ids(backfill.records), ['a', 'b', 'c', 'd', 'old']);
    assert.equal(backfill.plan.units[0].cursorAfter, undefined);
    assert.equal(backfill.plan.ordered, false);
  });

  test('merge with lookback re-reads a window behind the cursor', async () => {
    await settled();
    const merge = firestoreJob({ collection: 'settled' }, { strategy: 'merge', cursor: 'updated_at', primary_key: ['document_id'], lookback: '150s' });
    const state = { field: 'updated_at', at: '', seconds: 1_700_000_200, nanos: 0, ids: ['events/g'] };
    const { records } = await runSource(source, merge, { cursor: state });
    assert.deepEqual(ids(records), ['e', 'f', 'g', 'h']);
  });

  test('configuration mistakes fail with the fix', async () => {
    await settled();
    await assert.rejects(runSource(source, firestoreJob({ collection: 'settled' }, { strategy: 'transactional' })), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /needs load\.cursor/);
      return true;
    });
    await db.doc('strings/a').set({ updated_at: '2024-01-01' });
    await assert.rejects(runSource(source, firestoreJob({ collection: 'strings' }, { strategy: 'transactional', cursor: 'updated_at' })), /holds string values/);
    await assert.rejects(runSource(source, firestoreJob({ collection: 'users/u1' })), /is a document path/);
    await assert.rejects(
      runSource(source, firestoreJob({ collection: 'settled' }, { strategy: 'transactional', cursor: 'updated_at' }), { cursor: { field: 'created_at', at: '', seconds: 0, nanos: 0, ids: [] } }),
      /was loaded by cursor field "created_at"/,
    );
  });
});
