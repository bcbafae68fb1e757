/**
 * What a new user meets in the first hour, through the real binary: variables required only by
 * the connection that uses them, errors as JSON with --json, runs that say why they loaded
 * nothing, dry-run plans, and history/state that find the ledger or say where they looked.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const UNSET = 'B2BETL_TEST_NEVER_SET_PG_URL';

describe('a connection whose variable is unset blocks only the jobs that use it', () => {
  let project: Project;
  before(async () => {
    delete process.env[UNSET];
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  inbox: { type: local, path: ./inbox }\n  shop_pg: { type: postgres, url: "\${${UNSET}}" }\n`,
      'jobs/files.yaml': 'name: files\nsource: { connection: inbox, pattern: "*.csv" }\n',
      'jobs/orders.yaml': 'name: orders\nsource: { connection: shop_pg, table: public.orders }\nload: { strategy: catalog }\n',
      'inbox/a.csv': 'id,name\n1,a\n2,b\n',
    });
  });
  after(() => project.cleanup());

  test('validate passes, warning about the variable and naming the connection and its job', async () => {
    const result = await runCli(['validate', 'jobs'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, new RegExp(`^warning: .*etl\\.config\\.yaml:3: connections\\.shop_pg\\.url: environment variable ${UNSET} is not set: connection shop_pg needs it when it opens \\(jobs orders\\)`, 'm'));
    const json = JSON.parse((await runCli(['validate', 'jobs', '--json'], project.dir)).stdout) as { valid: boolean; warnings: { path: string; message: string }[] };
    assert.equal(json.valid, true);
    assert.deepEqual(json.warnings.map((w) => w.path), ['connections.shop_pg.url']);
  });

  test('run loads the other job, fails the one that needs the variable, and exits 2', async () => {
    const result = await runCli(['run', 'jobs', '--json'], project.dir);
    assert.equal(result.code, 2, result.stderr);
    const results = JSON.parse(result.stdout) as { job: string; status: string; rows_loaded: number; error: string | null }[];
    assert.deepEqual(results.map((r) => [r.job, r.status, r.rows_loaded]), [['files', 'succeeded', 2], ['orders', 'failed', 0]]);
    assert.match(results[1].error!, new RegExp(`connections\\.shop_pg\\.url: environment variable ${UNSET} is not set; connection shop_pg needs it`));
    assert.deepEqual(await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT id::INTEGER AS id FROM main.files ORDER BY id'), [{ id: 1 }, { id: 2 }]);
  });

  test('history and state work without it', async () => {
    const history = await runCli(['history'], project.dir);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /\sfiles\s.*succeeded\s+2\s/);
    assert.match(history.stdout, /\sorders\s.*failed\s/);
    const state = await runCli(['state', 'show', 'files'], project.dir);
    assert.equal(state.code, 0, state.stderr);
    assert.match(state.stdout, /processed files \(1\):/);
  });

  test('the job runs once the variable is set', async () => {
    const result = await runCli(['run', 'jobs/orders.yaml', '--dry-run', '--json'], project.dir, { [UNSET]: 'postgres://postgres@127.0.0.1:5432/test' });
    // The connection opened with the variable's URL: PostgreSQL answers (this table is not there).
    assert.doesNotMatch(result.stdout, /is not set/);
    assert.match(result.stdout, /orders not found in database test at 127\.0\.0\.1:5432/);
  });
});

describe('--json: every outcome on stdout as JSON', () => {
  let project: Project;
  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
      'jobs/empty.yaml': 'name: empty\nsource: { connection: inbox, pattern: "exports/*.parquet" }\n',
      'jobs/some.yaml': 'name: some\nsource: { connection: inbox, pattern: "*.csv" }\n',
      'bad/broken.yaml': 'name: broken\nsource: { connection: nowhere, pattern: "*.csv" }\nload: { strategy: upsert }\n',
      'inbox/a.csv': 'id\n1\n',
    });
  });
  after(() => project.cleanup());

  for (const [what, args, message] of [
    ['a missing argument', ['run', '--json'], /missing required argument 'jobs'/],
    ['an unknown option', ['run', 'jobs', '--json', '--bogus'], /unknown option '--bogus'/],
    ['a missing job file', ['run', 'nope.yaml', '--json'], /nope\.yaml: no such file or folder/],
    ['an invalid spec', ['run', 'bad', '--json'], /2 problems found/],
    ['an unknown command', ['frobnicate', '--json'], /unknown command 'frobnicate'/],
  ] as const) {
    test(`${what}: {"error", "exit_code": 2} on stdout, text on stderr`, async () => {
      const result = await runCli(args, project.dir);
      assert.equal(result.code, 2);
      const parsed = JSON.parse(result.stdout) as { error: string; exit_code: number; problems?: { path: string; line: number }[] };
      assert.equal(parsed.exit_code, 2);
      assert.match(parsed.error, message);
      assert.ok(result.stderr.trim().length > 0);
      if (what === 'an invalid spec') assert.deepEqual(parsed.problems!.map((p) => [p.path, p.line]).sort(), [['load.strategy', 3], ['source.connection', 2]]);
    });
  }

  test('validate --json of an invalid spec carries the exit code too', async () => {
    const result = await runCli(['validate', 'bad', '--json'], project.dir);
    assert.equal(result.code, 2);
    const parsed = JSON.parse(result.stdout) as { valid: boolean; exit_code: number; problems: unknown[] };
    assert.deepEqual([parsed.valid, parsed.exit_code, parsed.problems.length], [false, 2, 2]);
  });

  test('a glob that matches nothing is said in the run output, in text and JSON', async () => {
    const text = await runCli(['run', 'jobs/empty.yaml'], project.dir);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^empty\s+skipped\s/m);
    assert.match(text.stdout, /^empty \(skipped\): no files match exports\/\*\.parquet under .*inbox\/exports/m);
    assert.match(text.stderr, /empty: skipped, 0 row\(s\) loaded in .*: no files match exports\/\*\.parquet/);
    const json = await runCli(['run', 'jobs/empty.yaml', '--json'], project.dir);
    const [result] = JSON.parse(json.stdout) as { status: string; note: string }[];
    assert.equal(result.status, 'skipped');
    assert.match(result.note, /no files match exports\/\*\.parquet/);
  });

  test('--dry-run --json carries each job its plan', async () => {
    const result = await runCli(['run', 'jobs', '--dry-run', '--json'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    const plans = JSON.parse(result.stdout) as { job: string; plan: { strategy: string; units: { id: string; path?: string }[]; notes: string[] } | null }[];
    assert.deepEqual(plans.map((p) => p.job), ['empty', 'some']);
    assert.deepEqual(plans[0].plan!.units, []);
    assert.match(plans[0].plan!.notes[0], /no files match/);
    assert.deepEqual(plans[1].plan!.units.map((u) => [u.id, u.path]), [['a.csv', 'streamed']]);
    assert.equal(plans[1].plan!.strategy, 'transactional');
  });
});

describe('history and state without a config where they run', () => {
  let project: Project;
  before(async () => {
    project = await scratchProject({
      'one/etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
      'one/jobs/a.yaml': 'name: a\nsource: { connection: inbox, pattern: "*.csv" }\n',
      'one/inbox/a.csv': 'id\n1\n',
      'two/etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
      'two/jobs/b.yaml': 'name: b\nsource: { connection: inbox, pattern: "*.csv" }\n',
      'two/inbox/b.csv': 'id\n2\n',
    });
  });
  after(() => project.cleanup());

  test('nothing ran anywhere: they say where they looked and how to point them, exit 2', async () => {
    for (const args of [['history'], ['state', 'show', 'a']]) {
      const result = await runCli(args, project.dir);
      assert.equal(result.code, 2, result.stdout);
      assert.match(result.stderr, new RegExp(`no etl\\.config\\.yaml in ${project.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} or any folder above it, and no ledger at \\./\\.b2betl/ledger\\.sqlite`));
      assert.match(result.stderr, /one\/etl\.config\.yaml \(no ledger yet: none of its jobs has run\)/);
      assert.match(result.stderr, /--config/);
      assert.doesNotMatch(result.stdout, /no runs recorded|no state recorded/);
    }
  });

  test('the one config below with a ledger is used, and said', async () => {
    assert.equal((await runCli(['run', 'one/jobs'], project.dir)).code, 0);
    const result = await runCli(['history'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /using one\/etl\.config\.yaml/);
    assert.match(result.stdout, /\sa\s.*succeeded\s+1\s/);
    const state = await runCli(['state', 'show', 'a'], project.dir);
    assert.equal(state.code, 0, state.stderr);
    assert.match(state.stdout, /^job: a$/m);
    const typo = await runCli(['state', 'show', 'aa'], project.dir);
    assert.equal(typo.code, 0, typo.stderr);
    assert.match(typo.stdout, /^no state recorded for job aa in one\/\.b2betl\/ledger\.sqlite \(the ledger of one\/etl\.config\.yaml\)\njobs it has runs of: a$/m);
  });

  test('several with a ledger: they are named, and --config picks one', async () => {
    assert.equal((await runCli(['run', 'two/jobs'], project.dir)).code, 0);
    const result = await runCli(['history'], project.dir);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /several configs have a ledger: one\/etl\.config\.yaml, two\/etl\.config\.yaml/);
    assert.match(result.stderr, /--config one\/etl\.config\.yaml/);
    const picked = await runCli(['history', '--config', 'two/etl.config.yaml'], project.dir);
    assert.equal(picked.code, 0, picked.stderr);
    assert.match(picked.stdout, /\sb\s.*succeeded/);
    assert.doesNotMatch(picked.stdout, /\sa\s.*succeeded/);
  });

  test('a config found but no run yet: an empty history names its ledger', async () => {
    const fresh = await scratchProject({ 'etl.config.yaml': 'connections: {}\n' });
    try {
      const result = await runCli(['history'], fresh.dir);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^no runs recorded in \.b2betl\/ledger\.sqlite \(the ledger of etl\.config\.yaml\)$/m);
    } finally {
      await fresh.cleanup();
    }
  });
});
