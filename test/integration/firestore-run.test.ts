/**
 * End to end: the real `b2betl` binary in a scratch project whose etl.config.yaml has a
 * Firestore connection on the emulator, loading into the embedded DuckDB warehouse; the rows
 * are checked in DuckDB. (See firestore-source.test.ts for the emulator's limitations.)
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Firestore } from '@google-cloud/firestore';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../support/firestore-emulator.js';
import { seedingClient } from '../support/firestore-fixtures.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const PROJECT = 'b2betl-run';
let emulator: FirestoreEmulator;
let db: Firestore;
let sdk: typeof import('@google-cloud/firestore');
let project: Project;

before(async () => {
  emulator = await startFirestoreEmulator();
  sdk = await import('@google-cloud/firestore');
  db = await seedingClient(emulator.host, PROJECT);
  project = await scratchProject({
    'etl.config.yaml': `connections:\n  app: { type: firestore, project: ${PROJECT}, emulator_host: "${emulator.host}" }\n`,
    'jobs/events.yaml': [
      'name: events',
      'source: { connection: app, collection: events, sample_size: 2 }',
      'load: { strategy: transactional, cursor: updated_at, max_bad_records: 2 }',
      '',
    ].join('\n'),
    'jobs/strict.yaml': ['name: strict', 'source: { connection: app, collection: events }', 'load: { strategy: transactional, cursor: updated_at }', ''].join('\n'),
    'jobs/profiles.yaml': [
      'name: profiles',
      'source: { connection: app, collection: users/u1/profiles, nested: json, keep_missing: true }',
      'load: { strategy: catalog }',
      '',
    ].join('\n'),
  });
});

after(async () => {
  await project?.cleanup();
  await db?.terminate();
  await emulator?.stop();
});

const ts = (seconds: number, nanos = 0) => new sdk.Timestamp(seconds, nanos);

async function run(...args: string[]) {
  const result = await runCli(['run', ...args, '--json'], project.dir);
  assert.ok(result.stdout.trim().startsWith('['), `no JSON on stdout (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return { ...result, results: JSON.parse(result.stdout) as Record<string, unknown>[] };
}

function query(sql: string) {
  return queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), sql);
}

describe('transactional Firestore loads into DuckDB', () => {
  /** The events collection, written once for whichever test needs it first (each passes alone). */
  let seeded: Promise<void> | undefined;
  const seed = () =>
    (seeded ??= (async () => {
      await db.doc('events/a').set({ updated_at: ts(1_700_000_000, 123_456_789), amount: 10n, qty: 1n, meta: { tags: ['x'], at: ts(1, 5_000) } });
      await db.doc('events/b').set({ updated_at: ts(1_700_000_001), amount: 2.5, qty: 2n });
      // after the sample of 2: a new field, a field name no column can carry, a value the column cannot hold
      await db.doc('events/c').set({ updated_at: ts(1_700_000_002), amount: 3n, qty: 2.5, channel: 'web' });
      await db.doc('events/d').set({ updated_at: ts(1_700_000_002), amount: 4n, '???': 1n });
      await db.doc('events/e').set({ updated_at: 'yesterday', amount: 5n });
      await db.doc('events/f').set({ updated_at: ts(1_700_000_002), amount: 'six' });
    })());
  /** The dry run and the first run of the events job, made once. */
  let first: Promise<{ dry: Awaited<ReturnType<typeof runCli>>; loaded: Awaited<ReturnType<typeof run>> }> | undefined;
  const firstRun = () =>
    (first ??= (async () => {
      await seed();
      const dry = await runCli(['run', 'jobs/events.yaml', '--dry-run'], project.dir);
      return { dry, loaded: await run('jobs/events.yaml') };
    })());

  test('the first run loads values exactly, evolves the schema and sets bad documents aside', async () => {
    const { dry, loaded } = await firstRun();
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /high-water mark: 2023-11-14T22:13:22\.000000000Z/);
    assert.match(dry.stdout, /1 of 6 documents in collection events have no timestamp in updated_at/);

    const { code, results } = loaded;
    assert.equal(code, 0, JSON.stringify(results));
    assert.equal(results[0].status, 'succeeded');
    assert.equal(results[0].rows_loaded, 3);
    assert.equal(results[0].rows_rejected, 2);
    const rows = await query(
      'SELECT document_id, epoch_us(updated_at)::VARCHAR AS micros, amount, qty, meta, channel, epoch_us(_extracted_at) AS extracted FROM main.events ORDER BY document_id',
    );
    assert.deepEqual(
      rows.map(({ extracted, ...row }) => row),
      [
        { document_id: 'a', micros: '1700000000123456', amount: 10, qty: 1, meta: '{"tags":["x"],"at":"1970-01-01T00:00:01.000005Z"}', channel: null },
        { document_id: 'b', micros: '1700000001000000', amount: 2.5, qty: 2, meta: null, channel: null },
        { document_id: 'c', micros: '1700000002000000', amount: 3, qty: 2.5, meta: null, channel: 'web' },
      ],
    );
    assert.equal(new Set(rows.map((row) => String(row.extracted))).size, 1);
    // qty was INT64 in the sample and widened when a double arrived
    const qty = await query("SELECT data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'qty'");
    assert.equal(qty[0].data_type, 'DOUBLE');
    const rejected = await query('SELECT position, column_name, reason FROM main.events__rejected ORDER BY position');
    assert.deepEqual(rejected.map((row) => row.position), ['events/d', 'events/f']);
    assert.match(String(rejected[0].reason), /"\?\?\?" has no letter or digit/);
    assert.equal(rejected[1].column_name, 'amount');
  });

  test('documents at the boundary timestamp and later load once; a re-run loads nothing', async () => {
    await firstRun();
    await db.doc('events/g').set({ updated_at: ts(1_700_000_002), amount: 7n });
    await db.doc('events/h').set({ updated_at: ts(1_700_000_003), amount: 8n });
    const second = await run('jobs/events.yaml');
    assert.equal(second.results[0].rows_loaded, 2);
    const third = await run('jobs/events.yaml');
    assert.equal(third.results[0].status, 'skipped');
    const ids = await query('SELECT document_id FROM main.events ORDER BY document_id');
    assert.deepEqual(ids.map((row) => row.document_id), ['a', 'b', 'c', 'g', 'h']);
  });

  test('--since/--until backfills a window, replacing its rows, without moving the cursor', async () => {
    await firstRun();
    const total = await query('SELECT count(*)::INTEGER AS n FROM main.events');
    for (let i = 0; i < 2; i++) {
      const backfill = await run('jobs/events.yaml', '--since', '2023-11-14T22:13:20Z', '--until', '2023-11-14T22:13:21Z');
      assert.equal(backfill.code, 0, JSON.stringify(backfill.results));
      assert.equal(backfill.results[0].rows_loaded, 1);
      const a = await query("SELECT count(*)::INTEGER AS n FROM main.events WHERE document_id = 'a'");
      assert.equal(a[0].n, 1, 'the window is replaced, not appended');
      assert.deepEqual(await query('SELECT count(*)::INTEGER AS n FROM main.events'), total);
    }
    const after = await run('jobs/events.yaml');
    assert.equal(after.results[0].status, 'skipped');
  });

  test('more bad documents than load.max_bad_records fail the run and load nothing', async () => {
    await seed();
    const { code, results } = await run('jobs/strict.yaml');
    assert.equal(code, 1);
    assert.equal(results[0].status, 'failed');
    assert.match(String(results[0].error), /events\/d|events\/f/);
    const tables = await query("SELECT table_name FROM information_schema.tables WHERE table_name = 'strict'");
    assert.equal(tables.length, 0);
  });
});

describe('catalog Firestore loads into DuckDB', () => {
  test('a subcollection with native JSON and missing fields told apart from nulls', async () => {
    await db.doc('users/u1/profiles/p1').set({ name: 'Ann', address: { city: 'Kyiv', geo: new sdk.GeoPoint(50.45, 30.52) }, phone: null });
    await db.doc('users/u1/profiles/p2').set({ name: 'Bo' });
    await db.doc('users/u2/profiles/p3').set({ name: 'elsewhere' });
    const { code, results } = await run('jobs/profiles.yaml');
    assert.equal(code, 0, JSON.stringify(results));
    const columns = await query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'profiles' ORDER BY ordinal_position");
    assert.deepEqual(
      columns.map((column) => `${column.column_name}:${column.data_type}`),
      ['document_id:VARCHAR', '_extracted_at:TIMESTAMP WITH TIME ZONE', '_missing:JSON', 'name:VARCHAR', 'address:JSON', 'phone:VARCHAR'],
    );
    const rows = await query("SELECT document_id, name, address->>'$.geo.lat' AS lat, phone, _missing::VARCHAR AS missing FROM main.profiles ORDER BY document_id");
    assert.deepEqual(rows, [
      { document_id: 'p1', name: 'Ann', lat: '50.45', phone: null, missing: '[]' },
      { document_id: 'p2', name: 'Bo', lat: null, phone: null, missing: '["address","phone"]' },
    ]);
  });
});
