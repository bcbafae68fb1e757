import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { EtlError, LockedError } from '../../src/core/errors.js';
import { ledgerError } from '../../src/ledger/ledger-file.js';
import { Ledger, newRunId, type PendingCommit } from '../../src/ledger/ledger.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'b2betl-ledger-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const counts = { rows_extracted: 3, rows_loaded: 3, rows_rejected: 0, files_processed: 1, files_skipped: 0, files_failed: 0, bytes: 10 };

test('run ids sort by start time', () => {
  const a = newRunId(new Date('2024-01-01T00:00:00Z'));
  const b = newRunId(new Date('2024-01-01T00:00:01Z'));
  assert.ok(a < b);
  assert.match(a, /^20240101t000000z_[a-z0-9]{6}$/);
});

test('a committed run records files, cursor and columns together', () => {
  const ledger = Ledger.open(path.join(dir, 'a.sqlite'));
  ledger.startRun({ id: 'r1', job: 'j', destination: 'wh', table: 't', strategy: 'transactional' });
  const pending: PendingCommit = {
    connection: 'inbox',
    files: [{ path: 'a.csv', size: 10, modified: '2024-01-01T00:00:00.000Z', version: 'v1' }],
    cursor: { value: 12345678901234567890n, keys: [[1]] },
    columns: [{ name: 'Customer_Name', source: 'Customer Name', type: 'STRING', nullable: true }],
    counts,
    status: 'succeeded',
    stages: { extract: 5 },
  };
  ledger.markCommitting('r1', pending);
  assert.equal(ledger.unfinishedRuns('j')[0].status, 'committing');
  assert.deepEqual(ledger.unfinishedRuns('j')[0].pending?.cursor, pending.cursor);
  ledger.recordCommit('r1', 'j', pending);
  assert.deepEqual(ledger.unfinishedRuns('j'), []);
  assert.deepEqual(ledger.cursor('j'), { value: 12345678901234567890n, keys: [[1]] });
  assert.deepEqual([...ledger.files('j', 'inbox').keys()], ['a.csv']);
  assert.deepEqual([...ledger.mapping('j')], [['Customer Name', 'Customer_Name']]);
  assert.equal(ledger.runs({ job: 'j' })[0].status, 'succeeded');
  ledger.reset('j');
  assert.equal(ledger.cursor('j'), undefined);
  assert.equal(ledger.files('j', 'inbox').size, 0);
  ledger.close();
});

test('a live lock refuses a second run; a dead holder or an expired lease is taken over', () => {
  const file = path.join(dir, 'locks.sqlite');
  const ledger = Ledger.open(file);
  ledger.acquireLock('j', 'r1', 60_000);
  assert.throws(() => ledger.acquireLock('j', 'r2', 60_000), (error: unknown) => error instanceof LockedError && /already running \(run r1/.test(error.message));
  ledger.releaseLock('j', 'r1');
  ledger.acquireLock('j', 'r2', -1);
  ledger.acquireLock('j', 'r3', 60_000); // r2's lease had expired
  assert.equal(ledger.lockOf('j')?.run_id, 'r3');
  ledger.close();

  // A lock held by a process that has exited is stale even before its lease ends.
  const script = `const { Ledger } = await import(${JSON.stringify(new URL('../../src/ledger/ledger.js', import.meta.url).href)});
const l = Ledger.open(${JSON.stringify(file)}); l.acquireLock('k', 'dead', 3600000); l.close();`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script]);
  assert.equal(child.status, 0, String(child.stderr));
  const again = Ledger.open(file);
  assert.equal(again.lockOf('k')?.run_id, 'dead');
  again.acquireLock('k', 'alive', 60_000);
  assert.equal(again.lockOf('k')?.run_id, 'alive');
  again.close();
});

test('dump and restore move one job between ledger copies', () => {
  const a = Ledger.open(path.join(dir, 'dump-a.sqlite'));
  a.startRun({ id: 'r1', job: 'x', destination: 'wh', table: 't', strategy: 'catalog' });
  a.recordCommit('r1', 'x', { connection: 'c', files: [], cursor: 5, columns: [], counts, status: 'succeeded', stages: {} });
  const b = Ledger.open(path.join(dir, 'dump-b.sqlite'));
  b.restore(a.dump('x'));
  assert.equal(b.cursor('x'), 5);
  assert.equal(b.runs({ job: 'x' }).length, 1);
  a.close();
  b.close();
});

test('SQLite failures name the ledger and the fix', () => {
  const failure = (code: string, message: string) => Object.assign(new Error(message), { code, name: 'SqliteError' });
  const cases: [string, string, RegExp, RegExp][] = [
    ['SQLITE_CORRUPT', 'database disk image is malformed', /^ledger \/x\/l\.sqlite is damaged \(database disk image is malformed\)$/, /b2betl state restore <job>/],
    ['SQLITE_NOTADB', 'file is not a database', /^ledger \/x\/l\.sqlite is damaged/, /b2betl state restore <job>/],
    ['SQLITE_READONLY', 'attempt to write a readonly database', /^ledger \/x\/l\.sqlite is read-only/, /writable/],
    ['SQLITE_CANTOPEN', 'unable to open database file', /^cannot open ledger \/x\/l\.sqlite \(unable to open database file\)/, /folder exists/],
    ['SQLITE_FULL', 'database or disk is full', /^the disk of ledger \/x\/l\.sqlite is full/, /free space/],
    ['SQLITE_IOERR_WRITE', 'disk I/O error', /^disk I\/O error on ledger \/x\/l\.sqlite/, /check the disk/],
  ];
  for (const [code, message, text, hint] of cases) {
    const error = ledgerError(failure(code, message), '/x/l.sqlite') as EtlError;
    assert.ok(error instanceof EtlError, code);
    assert.match(error.message, text, code);
    assert.match(String(error.hint), hint, code);
  }
  const other = new Error('not SQLite');
  assert.equal(ledgerError(other, '/x/l.sqlite'), other);
});

test('an empty or damaged ledger file refuses to open; a missing one starts empty', () => {
  const empty = path.join(dir, 'empty.sqlite');
  writeFileSync(empty, '');
  assert.throws(() => Ledger.open(empty), /ledger .*empty\.sqlite is empty \(0 bytes\)/);
  const garbage = path.join(dir, 'garbage.sqlite');
  writeFileSync(garbage, Buffer.alloc(8192, 'x'));
  assert.throws(() => Ledger.open(garbage), /ledger .*garbage\.sqlite is damaged/);
  const fresh = Ledger.open(path.join(dir, 'fresh', 'ledger.sqlite'), { name: 'gs://b/ledger.sqlite' });
  assert.equal(fresh.name, 'gs://b/ledger.sqlite');
  assert.deepEqual(fresh.jobs(), []);
  fresh.close();
});
