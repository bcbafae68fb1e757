/**
 * Named fault points for the exactly-once tests. `B2BETL_FAULT=<point>` kills the process (as a
 * power cut would) the first time the run passes that point; `<point>@<n>` the n-th time, and for
 * `after-rows`, once n rows have been read. The line `fault point <point> hit` goes to stderr
 * first, so that a test knows where the kill landed.
 *
 * Points, in the order a run passes them:
 * - `after-lock`: the job's lock taken, the run not yet opened in the ledger
 * - `after-reconcile`: runs left in flight by earlier processes settled
 * - `after-plan`: the units planned, nothing read
 * - `after-rows`: n rows read (all units of the run together)
 * - `after-unit-staged`: a unit's rows all staged (the n-th unit to finish)
 * - `before-commit`: the ledger says `committing`, the destination commit not started
 * - `during-commit`: inside the destination's commit transaction, its rows and marker written, not committed
 * - `after-commit`: the destination commit done, nothing recorded yet
 * - `before-record`: just before the ledger records the commit
 * - `after-record`: the ledger has recorded the commit, the lock still held
 */
// @ts-nocheck

import { writeSync } from 'node:fs';

export const FAULT_POINTS = [
  'after-lock',
  'after-reconcile',
  'after-plan',
  'after-rows',
  'after-unit-staged',
  'before-commit',
  'during-commit',
  'after-commit',
  'before-record',
  'after-record',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

interface Armed {
  readonly point: FaultPoint;
  readonly count: number;
}

function armed(): Armed | undefined {
  const spec = process.env.B2BETL_FAULT;
  if (!spec) return undefined;
  const match = /^([a-z-]+)(?:@(\d+))?$/.exec(spec.trim());
  if (!match || !(FAULT_POINTS as readonly string[]).includes(match[1]!)) {
    throw new Error(`B2BETL_FAULT=${spec} names no fault point; known: ${FAULT_POINTS.join(', ')} (optionally @n)`);
  }
  return { point: match[1] as FaultPoint, count: Number(match[2] ?? 1) };
}

const target = armed();
const passes = new Map<FaultPoint, number>();

/**
 * Passes a fault point: kills the process when it is the armed one. `amount` is how far the
 * point has come (rows read for `after-rows`); by default each pass counts one.
 */
export function faultPoint(point: FaultPoint, amount?: number): void {
  if (!target || target.point !== point) return;
  const reached = amount ?? (passes.get(point) ?? 0) + 1;
  passes.set(point, reached);
  if (reached < target.count) return;
  writeSync(2, `fault point ${point} hit${point === 'after-rows' ? ` (${reached} rows read)` : ''}\n`);
  process.kill(process.pid, 'SIGKILL');
}
