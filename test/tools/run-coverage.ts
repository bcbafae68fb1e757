/**
 * `npm run test:coverage`: the suite (or the test files named) in a shuffled order, with Node's
 * built-in V8 coverage written by every process it starts (`NODE_V8_COVERAGE`), so the binaries
 * the end-to-end tests run and the servers they start count too. c8 then maps the compiled
 * JavaScript back to the TypeScript through the source maps, counts the product files no test
 * loaded as uncovered, and writes an HTML report to `coverage/`; the table printed here sums it
 * per folder (coverage-by-folder.ts). The exit code is the suite's.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FileSummary, table } from './coverage-by-folder.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = process.cwd();
const out = path.join(root, 'coverage');
const raw = mkdtempSync(path.join(os.tmpdir(), 'b2betl-v8-coverage-'));

const suite = spawnSync(process.execPath, [path.join(here, 'run-shuffled.js'), ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, NODE_V8_COVERAGE: raw },
});
const c8 = spawnSync(
  'npx',
  [
    '--no-install', 'c8', 'report',
    `--temp-directory=${raw}`,
    `--reports-dir=${out}`,
    '--reporter=json-summary',
    '--reporter=html',
    '--all',
    '--include=dist/src/**', '--include=dist/connectors/**', '--include=bin/**',
    '--merge-async',
  ],
  { stdio: 'inherit' },
);
rmSync(raw, { recursive: true, force: true });
if (c8.status !== 0) process.exit(c8.status ?? 1);

const summary = JSON.parse(readFileSync(path.join(out, 'coverage-summary.json'), 'utf8')) as Record<string, FileSummary>;
process.stdout.write(`\ncoverage by folder (Node's V8 coverage of every process, mapped to the TypeScript by c8)\n${table(root, summary)}\n`);
process.stdout.write(`per file: ${path.relative(root, path.join(out, 'index.html'))}\n`);
if (suite.status !== 0) process.stdout.write('some tests failed: the figures above miss what they would have run\n');
process.exit(suite.status ?? 1);
