/** A clock tests move by hand: sleepers wake in time order, and the code they wake runs before time moves on. */
import type { Clock } from '../../src/schedule/local-runner.js';

/** Lets pending promise chains and timers of zero delay run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

export class FakeClock implements Clock {
  private time: number;
  private sleepers: { until: number; wake: () => void }[] = [];

  constructor(start: Date) {
    this.time = start.getTime();
  }

  now(): Date {
    return new Date(this.time);
  }

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const sleeper = {
        until: this.time + Math.max(0, ms),
        wake: () => {
          this.sleepers = this.sleepers.filter((other) => other !== sleeper);
          signal.removeEventListener('abort', sleeper.wake);
          resolve();
        },
      };
      this.sleepers.push(sleeper);
      signal.addEventListener('abort', sleeper.wake, { once: true });
    });
  }

  /** Moves time to `until`, waking every sleeper due on the way, in order. */
  async advanceTo(until: Date): Promise<void> {
    for (;;) {
      await settle();
      const due = this.sleepers.filter((sleeper) => sleeper.until <= until.getTime()).sort((a, b) => a.until - b.until)[0];
      if (!due) break;
      this.time = Math.max(this.time, due.until);
      for (const sleeper of this.sleepers.filter((other) => other.until <= this.time)) sleeper.wake();
    }
    this.time = Math.max(this.time, until.getTime());
    await settle();
  }

  /** Moves time forward without waking anyone on the way, as a suspended laptop does; then wakes sleepers now due. */
  async jump(ms: number): Promise<void> {
    this.time += ms;
    for (const sleeper of this.sleepers.filter((other) => other.until <= this.time)) sleeper.wake();
    await settle();
  }
}
