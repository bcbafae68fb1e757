/**
 * Runs jobs for `serve` exactly as `b2betl run` does (the ledger opened and written back around
 * the same `runJob`), and keeps track of the runs in flight so that a shutdown can stop them at
 * a safe point.
 */
// @ts-nocheck

import type { LoadedJob } from '../core/config.js';
import type { Logger } from '../core/log.js';
import { runWithLedger, type RunResult } from '../core/pipeline.js';

/** How one triggered run reads: a full refresh or a backfill window. */
export interface RunRequest {
  readonly runId: string;
  readonly log: Logger;
  readonly fullRefresh?: boolean;
  readonly since?: string;
  readonly until?: string;
}

/** The runs of one `serve` process. */
export class JobRunner {
  private readonly active = new Map<string, { controller: AbortController; done: Promise<unknown> }>();

  /** Runs a job; throws LockedError while another run (on any instance sharing the ledger) holds it. */
  async run(job: LoadedJob, request: RunRequest): Promise<RunResult & { stopped: boolean }> {
    const controller = new AbortController();
    const done = runWithLedger(job, {
      log: request.log,
      runId: request.runId,
      ifLocked: 'throw',
      signal: controller.signal,
      fullRefresh: request.fullRefresh,
      since: request.since,
      until: request.until,
    });
    this.active.set(request.runId, { controller, done: done.catch(() => undefined) });
    try {
      return { ...(await done), stopped: controller.signal.aborted };
    } finally {
      this.active.delete(request.runId);
    }
  }

  /** Runs in flight. */
  get running(): number {
    return this.active.size;
  }

  /** Asks every run to stop at its next safe point; a run already committing finishes its commit. */
  stopAll(reason: string): void {
    for (const { controller } of this.active.values()) controller.abort(new Error(reason));
  }

  /** Resolves true when every run has ended, or false once `ms` have passed. */
  async drain(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const ended = Promise.all([...this.active.values()].map((run) => run.done)).then(() => true as const);
    try {
      return await Promise.race([ended, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
