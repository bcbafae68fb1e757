/**
 * `npm run test:coverage`: the suite (or the test files named) in a shuffled order with Node's
 * built-in coverage, summed per product folder by `coverage-by-folder.js`. It builds without
 * source maps for the run, because Node 20's coverage fails to map some of our files, and builds
 * again with them after; the figures are of the compiled JavaScript.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const tsc = (...args: string[]) => spawnSync('npx', ['tsc', '-p', 'tsconfig.json', ...args], { stdio: 'inherit' }).status ?? 1;

if (tsc('--sourceMap', 'false') !== 0) process.exit(1);
const run = spawnSync(
  process.execPath,
  [
    path.join(here, 'run-shuffled.js'),
    '--experimental-test-coverage',
    '--test-reporter=dot',
    '--test-reporter-destination=stderr',
    `--test-reporter=${path.join(here, 'coverage-by-folder.js')}`,
    '--test-reporter-destination=stdout',
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
const rebuilt = tsc();
process.exit(run.status === 0 ? rebuilt : (run.status ?? 1));
