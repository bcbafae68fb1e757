/**
 * `npm test`: every test file, in an order shuffled from a seed that is printed first, so a test
 * that leans on another file's leftovers fails sooner or later and the failing order can be
 * replayed: `B2BETL_TEST_SEED=<seed> npm test`. Arguments are passed to `node --test`
 * (`--test-name-pattern=…`); file arguments replace the full list.
 */
import { spawn } from 'node:child_process';
import { seedFromEnv, shuffle, testFiles } from './test-files.js';

const args = process.argv.slice(2);
const isFile = (arg: string) => !arg.startsWith('-') && arg.endsWith('.js');
const files = testFiles(args.filter(isFile));
const options = args.filter((arg) => !isFile(arg));
const seed = seedFromEnv();
const order = shuffle(files, seed);
process.stdout.write(`# test files in shuffled order, seed ${seed} (repeat with B2BETL_TEST_SEED=${seed})\n`);
const concurrency = process.env.B2BETL_TEST_CONCURRENCY ?? '2';
const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...options, ...order], { stdio: 'inherit' });
child.on('close', (code, signal) => {
  if (code !== 0) process.stdout.write(`# failed with seed ${seed}: B2BETL_TEST_SEED=${seed} npm test\n`);
  process.exit(code ?? (signal ? 1 : 0));
});
