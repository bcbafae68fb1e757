/**
 * `npm run test:mutation`: Stryker over each module that carries a promise (see
 * stryker.config.mjs), one run per module against only the tests that cover it, then a table of
 * mutation scores per module. Module names as arguments run only those; options go to Stryker
 * (`--force`: test every mutant again, as a run reuses the result of every mutant whose code did
 * not change even when tests did; `--mutate=<file>:<lines>` with it: only those lines, keeping
 * the other mutants' results).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Report {
  files: Record<string, { mutants: { status: string }[] }>;
}

const config = (await import(pathToFileURL(path.resolve('stryker.config.mjs')).href)) as { modules: Record<string, unknown> };
const wanted = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
const options = process.argv.slice(2).filter((arg) => arg.startsWith('-'));
const names = wanted.length ? wanted : Object.keys(config.modules);
const rows: string[][] = [];
let failed = false;
for (const name of names) {
  const started = Date.now();
  const run = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs', ...options], { stdio: 'inherit', env: { ...process.env, B2BETL_MUTATION_MODULE: name } });
  if (run.status !== 0) {
    failed = true;
    rows.push([name, 'failed', '', '', '', '', '']);
    continue;
  }
  const report = JSON.parse(readFileSync(`reports/mutation/${name.replace(/\W+/g, '-')}.json`, 'utf8')) as Report;
  const count = (status: string) => Object.values(report.files).reduce((sum, file) => sum + file.mutants.filter((mutant) => mutant.status === status).length, 0);
  const killed = count('Killed') + count('Timeout');
  const survived = count('Survived') + count('NoCoverage');
  const score = killed + survived ? ((killed / (killed + survived)) * 100).toFixed(1) : '-';
  rows.push([name, `${score}%`, String(killed), String(survived), String(count('CompileError')), `${Math.round((Date.now() - started) / 60000)} min`]);
}
const head = ['module', 'score', 'killed', 'survived', 'not compiling', 'took'];
const widths = head.map((title, index) => Math.max(title.length, ...rows.map((row) => (row[index] ?? '').length)));
const line = (row: readonly string[]) => row.map((cell, index) => (cell ?? '').padEnd(widths[index])).join('  ');
process.stdout.write(`\n${[line(head), ...rows.map(line)].join('\n')}\n`);
process.exit(failed ? 1 : 0);
