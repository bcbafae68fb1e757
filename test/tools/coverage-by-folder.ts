/**
 * A `node --test` reporter for `npm run test:coverage`: Node's built-in coverage summed per
 * folder of the product (src/core, connectors/sources/postgres, …), test code left out. Lines,
 * branches and functions, each as covered/total and a percentage, and the total (see
 * run-coverage.ts).
 */
import path from 'node:path';
import type { TestEvent } from 'node:test/reporters';

interface FileCoverage {
  path: string;
  totalLineCount: number;
  coveredLineCount: number;
  totalBranchCount: number;
  coveredBranchCount: number;
  totalFunctionCount: number;
  coveredFunctionCount: number;
}

interface Sums {
  files: number;
  lines: [number, number];
  branches: [number, number];
  functions: [number, number];
}

const root = process.cwd();
const PRODUCT = /^(src|connectors|bin)\//;

/** `dist/src/core/x.js` → `src/core`; undefined for test, bench and dependency files. */
export function folderOf(file: string): string | undefined {
  const relative = path.relative(root, file).split(path.sep).join('/').replace(/^dist\//, '');
  if (!PRODUCT.test(relative)) return undefined;
  return path.posix.dirname(relative);
}

const percent = ([covered, total]: [number, number]) => (total ? `${((covered / total) * 100).toFixed(1)}%` : '-');
const cell = (pair: [number, number]) => `${percent(pair).padStart(6)} ${`${pair[0]}/${pair[1]}`.padStart(11)}`;

/** The per-folder table. */
export function table(files: readonly FileCoverage[]): string {
  const folders = new Map<string, Sums>();
  const total: Sums = { files: 0, lines: [0, 0], branches: [0, 0], functions: [0, 0] };
  for (const file of files) {
    const folder = folderOf(file.path);
    if (!folder) continue;
    const sums = folders.get(folder) ?? { files: 0, lines: [0, 0], branches: [0, 0], functions: [0, 0] };
    folders.set(folder, sums);
    for (const into of [sums, total]) {
      into.files++;
      into.lines[0] += file.coveredLineCount;
      into.lines[1] += file.totalLineCount;
      into.branches[0] += file.coveredBranchCount;
      into.branches[1] += file.totalBranchCount;
      into.functions[0] += file.coveredFunctionCount;
      into.functions[1] += file.totalFunctionCount;
    }
  }
  const width = Math.max(6, ...[...folders.keys()].map((folder) => folder.length));
  const row = (name: string, sums: Sums) => `${name.padEnd(width)}  ${String(sums.files).padStart(5)}  ${cell(sums.lines)}  ${cell(sums.branches)}  ${cell(sums.functions)}`;
  const head = `${'folder'.padEnd(width)}  files  ${'lines'.padStart(18)}  ${'branches'.padStart(18)}  ${'functions'.padStart(18)}`;
  return [head, '-'.repeat(head.length), ...[...folders.keys()].sort().map((folder) => row(folder, folders.get(folder)!)), '-'.repeat(head.length), row('total', total)].join('\n');
}

export default async function* coverageByFolder(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  let failed = 0;
  for await (const event of source) {
    const data = event.data as { details?: { type?: string }; todo?: unknown };
    if (event.type === 'test:fail' && data.details?.type !== 'suite' && data.todo === undefined) failed++;
    if (event.type === 'test:coverage') {
      const { files } = (event.data as { summary: { files: FileCoverage[] } }).summary;
      yield `\ncoverage by folder (Node's built-in coverage; product code only)\n${table(files)}\n`;
    }
  }
  if (failed) yield `\n${failed} test(s) failed: the figures above miss what they would have run\n`;
}
