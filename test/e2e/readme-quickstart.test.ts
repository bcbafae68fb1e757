/**
 * The README's quick start, replayed verbatim in a fresh copy of the repository: its commands
 * are read from the README itself and run through a shell, and what they print is checked.
 *
 * Two things stand in for the network: `npm install` is the repository's installed
 * node_modules and built dist/ linked into the copy (what that command leaves behind), and
 * `npx` is a shim on PATH that runs the copy's own bin as `npx b2betl` does for the package it
 * is run in, without npm's download cache. Anything else `npx` is asked to run fails the test.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryDuckDB, repoRoot } from '../support/cli.js';

interface Shell {
  code: number;
  stdout: string;
  stderr: string;
}

/** The quick start section: its prose, and the commands of each `sh` block (comments dropped). */
async function quickStart(): Promise<{ text: string; blocks: string[][] }> {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const text = readme.split(/^## Quick start$/m)[1]?.split(/^## /m)[0];
  assert.ok(text, 'README has no "## Quick start" section');
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) =>
    match[1]
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').trim())
      .filter(Boolean),
  );
  return { text, blocks };
}

/** The files git tracks, copied as they are in the working tree. */
async function freshCopy(into: string): Promise<void> {
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(listed.status, 0, `git ls-files failed: ${listed.stderr}`);
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    if (file.startsWith('examples/') && /\.(duckdb|sqlite)(-wal|-shm)?$|\/\.b2betl\//.test(file)) continue;
    if (/^(node_modules|dist)(\/|$)/.test(file)) continue; // linked below, whatever the checkout holds
    await cp(path.join(repoRoot, file), path.join(into, file), { recursive: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error; // a tracked file deleted in the working tree
    });
  }
}

describe("the README's quick start, verbatim, in a fresh copy", () => {
  let root: string;
  let copy: string;
  let env: NodeJS.ProcessEnv;
  let blocks: string[][];
  let prose: string;

  const sh = (command: string): Promise<Shell> =>
    new Promise((resolve) => {
      const child = spawn('sh', ['-c', command], { cwd: copy, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
      child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    });
  const count = async (table: string) => Number((await queryDuckDB(path.join(copy, 'examples', 'warehouse.duckdb'), `SELECT count(*)::INTEGER AS n FROM main.${table}`))[0].n);

  before(async () => {
    ({ blocks, text: prose } = await quickStart());
    root = await mkdtemp(path.join(tmpdir(), 'b2betl-readme-'));
    copy = path.join(root, 'b2betl');
    await mkdir(copy);
    await freshCopy(copy);
    await symlink(path.join(repoRoot, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
    await symlink(path.join(repoRoot, 'dist'), path.join(copy, 'dist'), 'dir');
    const bin = path.join(root, 'bin');
    await mkdir(bin);
    await writeFile(
      path.join(bin, 'npx'),
      `#!/bin/sh\nif [ "$1" != "b2betl" ]; then echo "npx shim: only b2betl runs here, not $1" >&2; exit 127; fi\nshift\nexec "${process.execPath}" "$PWD/bin/b2betl.js" "$@"\n`,
    );
    await chmod(path.join(bin, 'npx'), 0o755);
    env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, CI: 'true' };
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('the section has the install, the run and the three looks', () => {
    assert.deepEqual(blocks.map((block) => block.length), [2, 4]);
    assert.equal(blocks[0][0], 'npm install');
    assert.match(prose, /Run the second command again: nothing is loaded twice/);
    assert.match(prose, /Drop a new `\.jsonl` file into\s+`examples\/data\/events\/` and run again: only that file loads/);
  });

  test('the first run loads every sample into examples/warehouse.duckdb', async () => {
    const result = await sh(blocks[0][1]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^events\s+succeeded\s+3\s/m);
    assert.match(result.stdout, /^messy_orders\s+succeeded\s+4\s/m);
    assert.match(result.stdout, /^products\s+succeeded\s+50\s/m);
    assert.deepEqual([await count('events'), await count('orders'), await count('products')], [3, 4, 50]);
  });

  test('run again: nothing is loaded twice, every job skipped', async () => {
    const result = await sh(blocks[0][1]);
    assert.equal(result.code, 0, result.stderr);
    for (const job of ['events', 'messy_orders', 'products']) assert.match(result.stdout, new RegExp(`^${job}\\s+skipped\\s+0\\s`, 'm'));
    assert.match(result.stdout, /products \(skipped\): all 1 file\(s\) matching \*\.parquet are unchanged since the last snapshot/);
    assert.deepEqual([await count('events'), await count('orders'), await count('products')], [3, 4, 50]);
  });

  test('a new .jsonl file in examples/data/events/: only that file loads', async () => {
    await writeFile(path.join(copy, 'examples', 'data', 'events', '2024-03-02.jsonl'), '{"event_id": "e4", "type": "page_view", "user": {"id": 44, "country": "FR"}, "ts": "2024-03-02T09:00:00Z"}\n{"event_id": "e5", "type": "signup", "user": {"id": 44, "country": "FR"}, "ts": "2024-03-02T09:01:00Z", "value": 5}\n');
    const result = await sh(blocks[0][1]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^events\s+succeeded\s+2\s+0\s+1\s/m);
    assert.match(result.stdout, /^messy_orders\s+skipped/m);
    assert.match(result.stdout, /^products\s+skipped/m);
    assert.equal(await count('events'), 5);
  });

  test('history lists those runs, finding the ledger under examples/', async () => {
    const result = await sh(blocks[1][0]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /using examples\/etl\.config\.yaml/);
    const rows = result.stdout.split('\n').filter((line) => /^\d{8}t\d{6}z_/.test(line));
    assert.equal(rows.length, 9, result.stdout);
    assert.equal(rows.filter((line) => /\sevents\s.*\ssucceeded\s+2\s/.test(line)).length, 1, result.stdout);
    assert.doesNotMatch(result.stdout, /no runs recorded/);
  });

  test('state show messy_orders shows its processed file and columns', async () => {
    const result = await sh(blocks[1][1]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^job: messy_orders$/m);
    assert.match(result.stdout, /processed files \(1\):/);
    assert.match(result.stdout, /samples\s+messy_export\.csv/);
    assert.match(result.stdout, /^columns \(\d+\):/m);
    assert.doesNotMatch(result.stdout, /no state recorded/);
  });

  test('report --open writes the page of those runs and hands it to the browser', async () => {
    // xdg-open, with no desktop, gives the page to $BROWSER: a stand-in that notes what it got
    const opened = path.join(root, 'opened.txt');
    const browser = path.join(root, 'bin', 'stand-in-browser');
    await writeFile(browser, `#!/bin/sh\necho "$1" > ${JSON.stringify(opened)}\n`);
    await chmod(browser, 0o755);
    const saved = env;
    env = { ...env, BROWSER: browser, DISPLAY: '', WAYLAND_DISPLAY: '', XDG_CURRENT_DESKTOP: '' };
    try {
      const result = await sh(blocks[1][3]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^wrote b2betl-report\.html: 9 run\(s\) of 3 job\(s\)/m);
      const page = await readFile(path.join(copy, 'b2betl-report.html'), 'utf8');
      const data = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(page)![1]) as { runs: { job: string }[] };
      assert.deepEqual([...new Set(data.runs.map((run) => run.job))].sort(), ['events', 'messy_orders', 'products']);
      let given = '';
      for (let i = 0; i < 100 && !given; i++) {
        given = await readFile(opened, 'utf8').catch(() => '');
        if (!given) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.match(given.trim(), /b2betl-report\.html$/);
    } finally {
      env = saved;
    }
  });

  test('inspect-schema shows the columns and that the table is compatible', async () => {
    const result = await sh(blocks[1][2]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^messy_orders: \d+ column\(s\) → .*warehouse\.duckdb main\.orders$/m);
    assert.match(result.stdout, /→ compatible$/m);
  });
});
