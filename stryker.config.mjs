// Mutation testing of the modules that carry b2betl's promises, one module per Stryker run
// (`npm run test:mutation` runs them all; B2BETL_MUTATION_MODULE=<name> picks one). Each run
// builds the mutated project once and runs only the compiled test files that cover the module,
// through Stryker's command runner (node:test has no Stryker runner of its own).
import { readFileSync, writeFileSync } from 'node:fs';

/** `file:start-end` for each named member of a file: a method or a statement, found by its first line's text. */
function ranges(file, starts) {
  const lines = readFileSync(file, 'utf8').split('\n');
  return starts.map((start) => {
    const first = lines.findIndex((line) => line.includes(start));
    if (first < 0) throw new Error(`${file}: no line with ${start}`);
    // The member ends where its braces and parentheses close again.
    let depth = 0;
    let opened = false;
    for (let index = first; index < lines.length; index++) {
      for (const char of lines[index]) {
        if (char === '{' || char === '(') (depth++, (opened = true));
        else if (char === '}' || char === ')') depth--;
      }
      if (opened && depth <= 0) return `${file}:${first + 1}-${index + 1}`;
    }
    throw new Error(`${file}: ${start} does not close`);
  });
}

export const modules = {
  'reconcile and commit': {
    mutate: ['src/core/run-commit.ts', ...ranges('src/core/run-stream.ts', ['const outcome = await withRetry('])],
    tests: ['dist/test/integration/pipeline-promises.test.js', 'dist/test/integration/row-invariant.test.js'],
  },
  cursor: {
    mutate: ['connectors/sources/sql/sql-cursor.ts'],
    tests: ['dist/test/unit/sql-cursor.test.js', 'dist/test/unit/sql-helpers.test.js'],
  },
  redaction: {
    mutate: ['src/core/redact.ts'],
    tests: ['dist/test/unit/redact.test.js'],
  },
  conversion: {
    mutate: ['src/core/convert.ts'],
    tests: ['dist/test/unit/convert.test.js'],
  },
  'schema widening': {
    mutate: ['src/core/schema.ts', 'src/core/run-schema.ts', ...ranges('src/core/infer.ts', ['export function widenType(']), ...ranges('src/core/names.ts', ['export function knownNames('])],
    tests: ['dist/test/unit/schema.test.js', 'dist/test/unit/run-schema.test.js', 'dist/test/unit/infer.test.js'],
  },
};

const name = process.env.B2BETL_MUTATION_MODULE ?? 'redaction';
const module = modules[name];
if (!module) throw new Error(`B2BETL_MUTATION_MODULE must be one of: ${Object.keys(modules).join(', ')}`);
const slug = name.replace(/\W+/g, '-');

// The checker type-checks each mutant in a program of the mutated files and what they import,
// not the whole project: a mutant is checked in seconds instead of a minute.
const checkerConfig = 'tsconfig.mutation.json';
const mutated = [...new Set(module.mutate.map((entry) => entry.replace(/:\d+-\d+$/, '')))];
writeFileSync(checkerConfig, `${JSON.stringify({ extends: './tsconfig.json', compilerOptions: { incremental: false }, include: [], files: mutated }, null, 2)}\n`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  mutate: module.mutate,
  testRunner: 'command',
  commandRunner: { command: `node --test --test-concurrency=1 --test-reporter=dot ${module.tests.join(' ')}` },
  buildCommand: 'npx tsc -p tsconfig.json',
  checkers: ['typescript'],
  tsconfigFile: checkerConfig,
  // The mutated files are compiled without type checks (the checker above has checked each mutant).
  disableTypeChecks: '{src,connectors}/**/*.ts',
  coverageAnalysis: 'off',
  concurrency: Number(process.env.B2BETL_MUTATION_CONCURRENCY ?? 2),
  timeoutMS: 20_000,
  ignorePatterns: ['dist', 'reports', 'bench/data', 'scratch', '.b2betl', '*.duckdb', 'tmp'],
  tempDirName: '.stryker-tmp',
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: `reports/mutation/${slug}.json` },
  // A later run tests again only the mutants whose code changed: the command runner reports one
  // test, so changed tests go unseen (`--force` tests again, see test/tools/run-mutation.ts).
  incremental: true,
  incrementalFile: `reports/mutation/${slug}.incremental.json`,
  thresholds: { high: 90, low: 75, break: null },
};
