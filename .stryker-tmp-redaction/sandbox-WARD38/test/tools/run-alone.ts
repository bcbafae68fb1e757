/**
 * `npm run test:alone`: proves the tests do not lean on each other. Each test file runs alone,
 * in its own process; with `--each-test`, each test of each file runs alone too (named by
 * `--test-name-pattern`, its suites and hooks around it). Prints what failed alone; exit 1 if any.
 * File arguments narrow the run.
 */
import { spawnSync } from 'node:child_process';
import { testFiles } from './test-files.js';

const args = process.argv.slice(2);
const eachTest = args.includes('--each-test');
const files = testFiles(args.filter((arg) => !arg.startsWith('-') && arg.endsWith('.js')));
const failures: string[] = [];

function run(file: string, pattern?: string): { ok: boolean; output: string } {
  const result = spawnSync(
    process.execPath,
    ['--test', '--test-concurrency=1', '--test-reporter=tap', ...(pattern ? [`--test-name-pattern=${pattern}`] : []), file],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

/** The names of a file's leaf tests, from its TAP output (suites are the lines followed by their subtests). */
function leafTests(tap: string): string[] {
  const names: string[] = [];
  const lines = tap.split('\n');
  lines.forEach((line, index) => {
    const match = /^(\s*)# Subtest: (.*)$/.exec(line);
    if (!match) return;
    const next = lines.slice(index + 1).find((candidate) => /^\s*(# Subtest:|(not )?ok )/.test(candidate)) ?? '';
    // A suite's next line is its first child's subtest header, one level deeper.
    if (!/^\s*# Subtest:/.test(next) || next.indexOf('#') <= match[1].length) names.push(match[2]);
  });
  return [...new Set(names)];
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

for (const file of files) {
  const whole = run(file);
  process.stdout.write(`${whole.ok ? 'ok    ' : 'FAIL  '}${file}\n`);
  if (!whole.ok) failures.push(file);
  if (!eachTest) continue;
  for (const name of leafTests(whole.output)) {
    const alone = run(file, `^${escape(name)}$`);
    process.stdout.write(`  ${alone.ok ? 'ok    ' : 'FAIL  '}${name}\n`);
    if (!alone.ok) failures.push(`${file} › ${name}`);
  }
}
if (failures.length) {
  process.stdout.write(`\n${failures.length} failed alone:\n${failures.map((failure) => `  ${failure}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`\nall ${files.length} file(s) pass alone${eachTest ? ', and each of their tests' : ''}\n`);
