/**
 * The per-folder table `npm run test:coverage` prints: an istanbul `coverage-summary.json`
 * (as c8 writes it) summed per folder of the product (src/core, connectors/sources/postgres, …),
 * test, bench and dependency files left out. Lines, branches and functions, each as
 * covered/total and a percentage, and the total (see run-coverage.ts).
 */
import path from 'node:path';

interface Count {
  total: number;
  covered: number;
}

/** One file's entry in istanbul's json-summary report. */
export interface FileSummary {
  lines: Count;
  branches: Count;
  functions: Count;
}

interface Sums {
  files: number;
  lines: [number, number];
  branches: [number, number];
  functions: [number, number];
}

const PRODUCT = /^(src|connectors|bin)\//;

/** `<root>/src/core/x.ts` (or its `dist/` build) → `src/core`; undefined for test, bench and dependency files. */
export function folderOf(root: string, file: string): string | undefined {
  const relative = path.relative(root, file).split(path.sep).join('/').replace(/^dist\//, '');
  if (!PRODUCT.test(relative)) return undefined;
  return path.posix.dirname(relative);
}

const percent = ([covered, total]: [number, number]) => (total ? `${((covered / total) * 100).toFixed(1)}%` : '-');
const cell = (pair: [number, number]) => `${percent(pair).padStart(6)} ${`${pair[0]}/${pair[1]}`.padStart(11)}`;
const empty = (): Sums => ({ files: 0, lines: [0, 0], branches: [0, 0], functions: [0, 0] });

/** The per-folder table of a json-summary report whose paths are under `root`. */
export function table(root: string, summary: Readonly<Record<string, FileSummary>>): string {
  const folders = new Map<string, Sums>();
  const total = empty();
  for (const [file, counts] of Object.entries(summary)) {
    const folder = file === 'total' ? undefined : folderOf(root, file);
    if (!folder) continue;
    const sums = folders.get(folder) ?? empty();
    folders.set(folder, sums);
    for (const into of [sums, total]) {
      into.files++;
      for (const key of ['lines', 'branches', 'functions'] as const) {
        into[key][0] += counts[key].covered;
        into[key][1] += counts[key].total;
      }
    }
  }
  const width = Math.max(6, ...[...folders.keys()].map((folder) => folder.length));
  const row = (name: string, sums: Sums) => `${name.padEnd(width)}  ${String(sums.files).padStart(5)}  ${cell(sums.lines)}  ${cell(sums.branches)}  ${cell(sums.functions)}`;
  const head = `${'folder'.padEnd(width)}  files  ${'lines'.padStart(18)}  ${'branches'.padStart(18)}  ${'functions'.padStart(18)}`;
  const rule = '-'.repeat(head.length);
  return [head, rule, ...[...folders.keys()].sort().map((folder) => row(folder, folders.get(folder)!)), rule, row('total', total)].join('\n');
}
