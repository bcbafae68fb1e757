/**
 * `schedule run-local`: the jobs' `schedule:` entries fired in this process, each in its own
 * time zone (croner computes the fire times; a {@link Clock} waits for them, so tests drive a
 * fake one). One run of a job at a time: a fire while it runs (or waits for a slot) is skipped.
 * Fires missed while the process was down are not replayed; the next incremental run catches up.
 */
// @ts-nocheck

import { messageOf } from '../core/errors.js';
import type { RunResult } from '../core/pipeline.js';
import { cronOf, formatInZone } from './cron.js';

/** Time as the scheduler sees it. */
export interface Clock {
  now(): Date;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The wall clock. Long waits are cut into pieces so that a suspended laptop wakes on time. */
export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, Math.max(0, Math.min(ms, 60_000)));
      function done() {
        signal.removeEventListener('abort', done);
        clearTimeout(timer);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};

/** One scheduled job. */
export interface LocalEntry<J> {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string;
  readonly job: J;
}

/** What the scheduler reports, one event per line. */
export type LocalEvent =
  | { readonly event: 'fire'; readonly job: string; readonly at: string; readonly local: string }
  | { readonly event: 'skipped'; readonly job: string; readonly at: string; readonly local: string; readonly reason: string }
  | { readonly event: 'result'; readonly job: string; readonly at: string; readonly result: RunResult }
  | { readonly event: 'error'; readonly job: string; readonly at: string; readonly error: string };

export interface LocalSchedulerOptions<J> {
  readonly entries: readonly LocalEntry<J>[];
  /** Different jobs running at once. */
  readonly concurrency: number;
  readonly clock: Clock;
  /** Runs one job; `signal` aborts when the user asks running jobs to stop. */
  readonly run: (job: J, signal: AbortSignal) => Promise<RunResult>;
  readonly report: (event: LocalEvent) => void;
}

/** Fires entries until stopped. */
export class LocalScheduler<J> {
  private readonly stopTimers = new AbortController();
  private readonly stopRuns = new AbortController();
  private readonly busy = new Map<string, string>();
  private readonly runs = new Set<Promise<void>>();
  private readonly waiting: (() => void)[] = [];
  private slots: number;

  constructor(private readonly options: LocalSchedulerOptions<J>) {
    this.slots = Math.max(1, options.concurrency);
  }

  /** Runs until {@link stop}; resolves when every started run has ended. */
  async start(): Promise<void> {
    await Promise.all(this.options.entries.map((entry) => this.loop(entry)));
    while (this.runs.size) await Promise.all([...this.runs]);
  }

  /** No more fires; running jobs finish. */
  stop(): void {
    this.stopTimers.abort();
    for (const release of this.waiting.splice(0)) release();
  }

  /** No more fires, and running jobs stop at their next safe point. */
  abort(): void {
    this.stop();
    this.stopRuns.abort();
  }

  /** Jobs running or waiting for a slot. */
  get active(): string[] {
    return [...this.busy.keys()];
  }

  private async loop(entry: LocalEntry<J>): Promise<void> {
    const { clock } = this.options;
    const cron = cronOf(entry.cron, entry.timezone);
    let from = clock.now();
    while (!this.stopTimers.signal.aborted) {
      const next = cron.nextRun(from);
      if (!next) return;
      // wake up as often as needed: a sleep may end early (long waits are cut into pieces)
      while (!this.stopTimers.signal.aborted && clock.now() < next) await clock.sleep(next.getTime() - clock.now().getTime(), this.stopTimers.signal);
      if (this.stopTimers.signal.aborted) return;
      this.fire(entry, next);
      from = new Date(Math.max(next.getTime(), clock.now().getTime()));
    }
  }

  private fire(entry: LocalEntry<J>, at: Date): void {
    const stamp = { job: entry.name, at: at.toISOString(), local: formatInZone(at, entry.timezone) };
    const since = this.busy.get(entry.name);
    if (since) {
      this.options.report({ event: 'skipped', ...stamp, reason: `the run fired at ${since} has not finished` });
      return;
    }
    this.busy.set(entry.name, stamp.local);
    this.options.report({ event: 'fire', ...stamp });
    const run = (async () => {
      try {
        if (!(await this.acquire())) return;
        try {
          const result = await this.options.run(entry.job, this.stopRuns.signal);
          this.options.report({ event: 'result', job: entry.name, at: this.options.clock.now().toISOString(), result });
        } finally {
          this.release();
        }
      } catch (error) {
        this.options.report({ event: 'error', job: entry.name, at: this.options.clock.now().toISOString(), error: messageOf(error) });
      } finally {
        this.busy.delete(entry.name);
      }
    })();
    this.runs.add(run);
    void run.finally(() => this.runs.delete(run));
  }

  /** Takes a slot; false when the scheduler stopped while waiting. */
  private async acquire(): Promise<boolean> {
    while (this.slots === 0 && !this.stopTimers.signal.aborted) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.stopTimers.signal.aborted) return false;
    this.slots--;
    return true;
  }

  private release(): void {
    this.slots++;
    this.waiting.shift()?.();
  }
}
