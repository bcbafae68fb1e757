import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { parseLimit, parseSince, parseStatuses } from '../../src/cli/history.js';
import { EtlError } from '../../src/core/errors.js';
import { registerSecrets } from '../../src/core/redact.js';
import { errorChain, REJECT_SAMPLE, RunJournal, UNITS_KEPT } from '../../src/ledger/details.js';
import { Ledger } from '../../src/ledger/ledger.js';
import { parseDays, quantile, reportData } from '../../src/report/data.js';
import { renderReport } from '../../src/report/html.js';
import { bytesText, spanText } from '../../src/report/run-view.js';

const require = createRequire(import.meta.url);
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'b2betl-report-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('history filters', () => {
  test('--status takes statuses, comma-separated, and names the valid ones for a wrong word', () => {
    assert.deepEqual(parseStatuses('failed, Partial'), ['failed', 'partial']);
    assert.equal(parseStatuses(undefined), undefined);
    assert.throws(() => parseStatuses('failed,done'), /done is no run status.*\n?.*succeeded, partial, failed, skipped, interrupted/s);
    assert.throws(() => parseStatuses(','), /no status given/);
  });

  test('--since takes a date, a date and time (UTC unless an offset is given) or an age', () => {
    const now = Date.parse('2026-03-10T12:00:00Z');
    assert.equal(parseSince('2026-03-01', now), '2026-03-01T00:00:00.000Z');
    assert.equal(parseSince('2026-03-01T08:30', now), '2026-03-01T08:30:00.000Z');
    assert.equal(parseSince('2026-03-01 08:30:15', now), '2026-03-01T08:30:15.000Z');
    assert.equal(parseSince('2026-03-01T08:30+02:00', now), '2026-03-01T06:30:00.000Z');
    assert.equal(parseSince('90m', now), '2026-03-10T10:30:00.000Z');
    assert.equal(parseSince('12h', now), '2026-03-10T00:00:00.000Z');
    assert.equal(parseSince('7d', now), '2026-03-03T12:00:00.000Z');
    assert.equal(parseSince('2w', now), '2026-02-24T12:00:00.000Z');
    for (const wrong of ['yesterday', '2026-13-01', '7 days', '2026-03-01T25:00']) assert.throws(() => parseSince(wrong, now), /is neither a date nor an age/, wrong);
  });

  test('--limit and --days take positive whole numbers', () => {
    assert.equal(parseLimit(undefined, 20), 20);
    assert.equal(parseLimit('5', 20), 5);
    for (const wrong of ['0', '-1', '2.5', 'ten']) assert.throws(() => parseLimit(wrong, 20), /not a positive whole number/);
    assert.equal(parseDays(undefined), 30);
    assert.equal(parseDays('7'), 7);
    for (const wrong of ['0', '1.5', 'x', '99999']) assert.throws(() => parseDays(wrong), new RegExp(`--days ${wrong.replace('.', '\\.')} is not a whole number of days`));
  });
});

describe('run details', () => {
  test('an error chain lists the error and each cause once, hints included, secrets scrubbed', () => {
    registerSecrets(['hunter2-secret']);
    const root = new Error('socket hang up (password hunter2-secret)');
    const middle = new TypeError('fetch failed', { cause: root });
    const top = new EtlError('cannot read orders', 'check the connection', { cause: middle });
    const chain = errorChain(top);
    assert.deepEqual(chain, ['cannot read orders\n  → check the connection', 'TypeError: fetch failed', 'socket hang up (password ***)']);
    const looped = new Error('a');
    (looped as { cause?: unknown }).cause = looped;
    assert.deepEqual(errorChain(looped), ['a']);
    assert.deepEqual(errorChain('plain text'), ['plain text']);
  });

  test('the journal keeps units (a retried one once), a sample of rejects, the stages in the order they began, and cursors or null', () => {
    const journal = new RunJournal();
    journal.cursorBefore(undefined);
    const unit = { id: 'a.csv', label: 'a.csv', bytes: 10 };
    journal.unit(unit, Date.now() - 50, { error: 'reset' });
    journal.unit(unit, Date.now() - 20, { rows: 3 });
    for (let i = 0; i < UNITS_KEPT + 3; i++) journal.unit({ id: `u${i}`, label: `u${i}` }, Date.now(), { rows: 1 });
    journal.rejected(Array.from({ length: REJECT_SAMPLE + 5 }, (_row, i) => ({ runId: 'r', unit: 'a.csv', position: String(i + 2), column: 'amount', reason: 'x is not a number', raw: 'x' })));
    journal.stage('reconcile', Date.parse('2026-01-01T00:00:00Z'), 4);
    const details = journal.finish({ plan: 5, extract: 30 }, { extract: Date.parse('2026-01-01T00:00:01Z'), plan: Date.parse('2026-01-01T00:00:00.500Z') }, 5n);
    assert.equal(details.cursor_before, null);
    assert.equal(details.cursor_after, 5n);
    assert.deepEqual(details.stages.map((span) => span.stage), ['reconcile', 'plan', 'extract']);
    assert.equal(details.units.length, UNITS_KEPT);
    assert.equal(details.units_omitted, 4);
    assert.deepEqual({ rows: details.units[0].rows, error: details.units[0].error, bytes: details.units[0].bytes }, { rows: 3, error: undefined, bytes: 10 });
    assert.equal(details.rejects.length, REJECT_SAMPLE);
    assert.equal(details.rejects_total, REJECT_SAMPLE + 5);
    assert.deepEqual(details.rejects[0], { unit: 'a.csv', position: '2', column: 'amount', reason: 'x is not a number' });
    assert.ok(!('raw' in details.rejects[0]), 'the raw row stays in the warehouse, not in the ledger');
  });

  test('a ledger an earlier version wrote gains the details column, its runs keep working without details', () => {
    const file = path.join(dir, 'old.sqlite');
    const Database = require('better-sqlite3') as typeof BetterSqlite3;
    const old = new Database(file);
    old.exec(`CREATE TABLE runs (id TEXT PRIMARY KEY, job TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL,
      rows_extracted INTEGER NOT NULL DEFAULT 0, rows_loaded INTEGER NOT NULL DEFAULT 0, rows_rejected INTEGER NOT NULL DEFAULT 0,
      files_processed INTEGER NOT NULL DEFAULT 0, files_skipped INTEGER NOT NULL DEFAULT 0, files_failed INTEGER NOT NULL DEFAULT 0,
      bytes INTEGER NOT NULL DEFAULT 0, error TEXT, stages TEXT NOT NULL DEFAULT '{}', pending TEXT, destination TEXT, table_name TEXT,
      strategy TEXT, host TEXT, pid INTEGER)`);
    old.prepare("INSERT INTO runs (id, job, started_at, ended_at, status) VALUES ('r0', 'j', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:02.000Z', 'succeeded')").run();
    old.close();
    const ledger = Ledger.open(file);
    try {
      assert.equal(ledger.details('r0'), undefined);
      assert.equal(ledger.runs()[0].id, 'r0');
      assert.ok(!('details' in ledger.runs()[0]), 'history --json keeps its shape');
      ledger.noteDetails('r0', { stages: [], units: [], rejects: [], rejects_total: 0, errors: ['x'], cursor_after: { value: 7n } });
      assert.deepEqual(ledger.details('r0')?.cursor_after, { value: 7n });
    } finally {
      ledger.close();
    }
  });
});

describe('the report data', () => {
  function seeded(): Ledger {
    const ledger = Ledger.open(':memory:');
    const run = (id: string, job: string, started: string, seconds: number | null, status: string, rows = 0) => ({
      id, job, started_at: started, ended_at: seconds === null ? null : new Date(Date.parse(started) + seconds * 1000).toISOString(), status, rows_loaded: rows, stages: '{}',
    });
    ledger.restore({ job: 'a', runs: [run('a1', 'a', '2026-03-01T01:00:00.000Z', 10, 'succeeded', 5), run('a2', 'a', '2026-03-09T01:00:00.000Z', 30, 'failed'), run('a0', 'a', '2026-01-01T01:00:00.000Z', 1, 'succeeded', 100)], files: [], cursors: [], columns: [], resets: [] });
    ledger.restore({ job: 'b', runs: [run('b1', 'b', '2026-03-05T01:00:00.000Z', 20, 'partial', 7), run('b2', 'b', '2026-03-10T01:00:00.000Z', 0, 'skipped'), run('b3', 'b', '2026-03-10T02:00:00.000Z', null, 'running')], files: [], cursors: [], columns: [], resets: [] });
    return ledger;
  }

  test('the period starts at midnight UTC `days` days back, today included', () => {
    const data = reportData(seeded(), { days: 10, now: new Date('2026-03-10T12:00:00Z') });
    assert.equal(data.from, '2026-03-01');
    assert.equal(data.to, '2026-03-10');
    assert.deepEqual(data.runs.map((run) => run.id), ['b3', 'b2', 'a2', 'b1', 'a1']);
  });

  test('the summary counts finished runs for the rate and durations, and only loaded rows', () => {
    const { summary, jobs } = reportData(seeded(), { days: 10, now: new Date('2026-03-10T12:00:00Z') });
    assert.deepEqual(summary, { jobs: 2, runs: 5, success_rate: 2 / 3, rows_loaded: 12, p50_ms: 20_000, p95_ms: 30_000 });
    assert.deepEqual(jobs.map((job) => [job.job, job.last_status, job.last_success_at, job.runs, job.failed, job.rows_loaded, job.durations]), [
      ['a', 'failed', '2026-03-01T01:00:00.000Z', 2, 1, 5, [10_000, 30_000]],
      ['b', 'running', '2026-03-05T01:00:00.000Z', 3, 0, 7, [20_000]],
    ]);
  });

  test('quantiles by nearest rank', () => {
    assert.equal(quantile([], 0.5), null);
    assert.equal(quantile([5], 0.95), 5);
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2);
    assert.equal(quantile(Array.from({ length: 100 }, (_v, i) => i + 1), 0.95), 95);
  });

  test('the page inlines everything and its data cannot end its script element', () => {
    const ledger = seeded();
    ledger.restore({ job: '</script><script>alert(1)</script>', runs: [{ id: 'x1', job: '</script><script>alert(1)</script>', started_at: '2026-03-09T00:00:00.000Z', ended_at: '2026-03-09T00:00:01.000Z', status: 'succeeded', stages: '{}' }], files: [], cursors: [], columns: [], resets: [] });
    const page = renderReport(reportData(ledger, { days: 10, now: new Date('2026-03-10T12:00:00Z') }));
    assert.equal(page.match(/<script/g)?.length, 4, 'the data, d3, the formatting helpers and the page script');
    assert.doesNotMatch(page, /<script[^>]*src=|<link /);
    assert.doesNotMatch(page, /<\/script><script>alert/);
    assert.match(page, /\\u003c\/script>\\u003cscript>alert\(1\)/);
    assert.match(page, /Content-Security-Policy" content="default-src 'none'/);
  });

  test('durations and sizes read as people say them', () => {
    assert.deepEqual([340, 4_200, 185_000, 7_260_000].map(spanText), ['340 ms', '4.2 s', '3 min 05 s', '2 h 01 min']);
    assert.deepEqual([512, 1536, 5 * 1024 ** 3].map(bytesText), ['512 B', '1.5 KB', '5.0 GB']);
    assert.equal(spanText(null), '');
  });
});
