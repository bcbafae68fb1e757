/**
 * Rebuilding a job's ledger state from its destination's markers: the newest cursor, every file
 * with its latest version, the column mapping overlaid run by run; markers that carry no state
 * refuse to rebuild anything; a reset is remembered (and travels with a merged ledger) so a run
 * does not undo it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { LoadedJob } from '../../src/core/config.js';
import type { DestinationConnector, MarkerState, StoredMarker } from '../../src/core/connector.js';
import { silentLogger, type Logger } from '../../src/core/log.js';
import { markerStateText, readMarkerState } from '../../src/core/marker-state.js';
import { rebuildState, restoreIfLost } from '../../src/core/restore.js';
import { Ledger } from '../../src/ledger/ledger.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'b2betl-restore-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const job = { spec: { name: 'orders' }, table: 'orders' } as unknown as LoadedJob;

function destination(markers: StoredMarker[]): DestinationConnector {
  return { locate: (table: string) => `wh main.${table}`, markers: async () => markers } as unknown as DestinationConnector;
}

function marker(runId: string, at: string, state: MarkerState | undefined): StoredMarker {
  return { runId, table: 'orders', strategy: 'transactional', rows: 1, committedAt: at, state: markerStateText(state) };
}

const file = (name: string, version: string) => ({ path: name, size: 1, modified: '2024-01-01T00:00:00.000Z', version });

const MARKERS = [
  marker('r1', '2024-01-01T00:00:00.000000Z', { connection: 'inbox', cursor: { value: '10', seen: ['a'] }, files: [file('a.csv', 'v1')], columns: [{ source: 'Id', name: 'id', type: 'INT64' }] }),
  // A backfill: no cursor of its own, a file loaded again under a new version, a widened column.
  marker('r2', '2024-01-02T00:00:00.000000Z', { connection: 'inbox', files: [file('a.csv', 'v2'), file('b.csv', 'v1')], columns: [{ source: 'Id', name: 'id', type: 'NUMERIC' }, { source: 'Note', name: 'note', type: 'STRING' }] }),
  marker('r3', '2024-01-03T00:00:00.000000Z', { connection: 'inbox', cursor: { value: 99n, seen: [] }, files: [], columns: [] }),
];

test('the newest cursor, every file at its latest version, and the columns overlaid run by run', async () => {
  const rebuilt = await rebuildState(job, destination(MARKERS));
  assert.ok(rebuilt);
  assert.equal(rebuilt.markers, 3);
  assert.equal(rebuilt.location, 'wh main.orders');
  assert.deepEqual(rebuilt.state.cursor, { state: { value: 99n, seen: [] }, runId: 'r3', updatedAt: '2024-01-03T00:00:00.000000Z' });
  assert.deepEqual(
    rebuilt.state.files.map((f) => [f.info.path, f.info.version, f.runId]),
    [
      ['a.csv', 'v2', 'r2'],
      ['b.csv', 'v1', 'r2'],
    ],
  );
  assert.deepEqual(rebuilt.state.columns, [
    { source: 'Id', name: 'id', type: 'NUMERIC' },
    { source: 'Note', name: 'note', type: 'STRING' },
  ]);
  assert.equal(await rebuildState(job, destination([])), undefined);
});

test('a long state is stored gzipped and read back whole', () => {
  const files = Array.from({ length: 5000 }, (_, i) => file(`landing/2024/01/01/part-${String(i).padStart(6, '0')}.csv`, `v${i}`));
  const state: MarkerState = { connection: 'inbox', cursor: { value: 1n, seen: [] }, files, columns: [] };
  const text = markerStateText(state)!;
  assert.match(text, /^gzip:/);
  assert.ok(text.length < JSON.stringify(files).length / 5);
  assert.deepEqual(readMarkerState(text), state);
  assert.equal(readMarkerState('not json'), undefined);
});

test('markers without state refuse to rebuild, saying how to recover', async () => {
  await assert.rejects(rebuildState(job, destination([MARKERS[0], marker('old', '2023-01-01T00:00:00Z', undefined)])), (error: Error & { hint?: string }) => {
    assert.match(error.message, /1 of the 2 load\(s\) of job orders in wh main\.orders were committed by an older b2betl whose markers do not record the run's state/);
    return true;
  });
});

test('a lost ledger is rebuilt once, in one line; a reset one is left alone, also after a merge', async () => {
  const lines: string[] = [];
  const log: Logger = { ...silentLogger, warn: (message) => lines.push(message) };
  const ledger = Ledger.open(path.join(dir, 'a.sqlite'));
  await restoreIfLost(job, destination(MARKERS), ledger, log);
  assert.deepEqual(lines, ['the ledger has no state for job orders; rebuilt the state of job orders from 3 load marker(s) in wh main.orders: the cursor, 2 processed file(s), 2 column(s)']);
  assert.deepEqual(ledger.cursor('orders'), { value: 99n, seen: [] });
  assert.deepEqual([...ledger.files('orders', 'inbox').keys()], ['a.csv', 'b.csv']);
  assert.deepEqual([...ledger.mapping('orders')], [['Id', 'id'], ['Note', 'note']]);
  await restoreIfLost(job, destination(MARKERS), ledger, log);
  assert.equal(lines.length, 1, 'a ledger with state is not rebuilt again');

  ledger.reset('orders');
  assert.equal(ledger.hasState('orders'), false);
  assert.equal(ledger.wasReset('orders'), true);
  await restoreIfLost(job, destination(MARKERS), ledger, log);
  assert.equal(ledger.hasState('orders'), false, 'a reset is not undone by the next run');

  // The reset travels with the job's rows when another copy of the ledger merges them.
  const other = Ledger.open(path.join(dir, 'b.sqlite'));
  other.restore(ledger.dump('orders'));
  assert.equal(other.wasReset('orders'), true);
  // An explicit restore clears it.
  other.restoreState('orders', (await rebuildState(job, destination(MARKERS)))!.state);
  assert.equal(other.wasReset('orders'), false);
  assert.equal(other.hasState('orders'), true);
  ledger.close();
  other.close();
});
