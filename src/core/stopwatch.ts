/** Time spent in each stage of a run. */
import type { StageTimes } from '../ledger/ledger.js';

/** Accumulates milliseconds per stage. */
export class Stopwatch {
  readonly times: StageTimes = {};
  /** When each stage first began (epoch milliseconds). */
  readonly firsts: Partial<Record<keyof StageTimes, number>> = {};
  add(stage: keyof StageTimes, since: number): void {
    this.firsts[stage] ??= Math.round(performance.timeOrigin + since);
    this.times[stage] = Math.round((this.times[stage] ?? 0) + (performance.now() - since));
  }
  async time<T>(stage: keyof StageTimes, action: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await action();
    } finally {
      this.add(stage, start);
    }
  }
}
