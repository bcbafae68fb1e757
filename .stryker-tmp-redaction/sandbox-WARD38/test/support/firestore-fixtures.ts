/**
 * Helpers for Firestore source tests: a source on the emulator, jobs, and reading every unit
 * of a plan into plain records.
 */
import type { Firestore } from '@google-cloud/firestore';
import type { PlanContext, SourceConnector, SourcePlan } from '../../src/core/connector.js';
import type { Logger } from '../../src/core/log.js';
import { jobSchema, type JobSpec } from '../../src/core/spec.js';
import type { RecordBatch } from '../../src/core/types.js';
import { source as firestoreSource } from '../../connectors/sources/firestore/index.js';
import { startFirestoreEmulator } from './firestore-emulator.js';

/** A logger that keeps what it was told, for assertions. */
export function recordingLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), debug: () => undefined };
}

/** A client for seeding the emulator (integers as bigint, as the source reads them). */
export async function seedingClient(host: string, project: string): Promise<Firestore> {
  const { Firestore } = await import('@google-cloud/firestore');
  return new Firestore({ projectId: project, host, ssl: false, universeDomain: 'googleapis.com', useBigInt: true });
}

/** A Firestore source on the emulator. */
export function openSource(host: string, project: string, log: Logger = recordingLogger()): Promise<SourceConnector> {
  return firestoreSource({ name: 'fs', config: { type: 'firestore', project, emulator_host: host }, baseDir: process.cwd(), log });
}

/** A running emulator with a seeding client and a Firestore source on it. */
export interface FirestoreFixture {
  readonly db: Firestore;
  readonly source: SourceConnector;
  /** Closes the source and the client, then stops the emulator. */
  stop(): Promise<void>;
}

/** Starts the emulator, a seeding client and a source for `project` (what a test file's `before` needs). */
export async function startFirestoreFixture(project: string): Promise<FirestoreFixture> {
  const emulator = await startFirestoreEmulator();
  let db: Firestore | undefined;
  try {
    db = await seedingClient(emulator.host, project);
    const source = await openSource(emulator.host, project);
    const client = db;
    return {
      db: client,
      source,
      async stop() {
        await source.close();
        await client.terminate();
        await emulator.stop();
      },
    };
  } catch (error) {
    await db?.terminate();
    await emulator.stop();
    throw error;
  }
}

/** A validated job spec with a Firestore source. */
export function firestoreJob(source: Record<string, unknown>, load: Record<string, unknown> = { strategy: 'catalog' }): JobSpec {
  return jobSchema.parse({ name: 'fs_job', source: { connection: 'fs', ...source }, load });
}

/** Rows of batches as records keyed by column name (absent columns are left out). */
export function recordsOf(batches: readonly RecordBatch[]): Record<string, unknown>[] {
  return batches.flatMap((batch) =>
    batch.rows.map((row) => Object.fromEntries(batch.columns.map((column, i) => [column.name, row[i]] as const).filter(([, v]) => v !== undefined))),
  );
}

/** Plans and reads every unit. */
export async function runSource(
  source: SourceConnector,
  job: JobSpec,
  options: { cursor?: unknown; fullRefresh?: boolean; window?: PlanContext['window']; log?: Logger; between?: () => Promise<void> } = {},
): Promise<{ plan: SourcePlan; batches: RecordBatch[]; records: Record<string, unknown>[] }> {
  const log = options.log ?? recordingLogger();
  const plan = await source.plan({ job, state: { cursor: options.cursor, files: new Map() }, fullRefresh: options.fullRefresh ?? false, window: options.window, log });
  await options.between?.();
  const batches: RecordBatch[] = [];
  const signal = new AbortController().signal;
  for (const unit of plan.units) for await (const batch of source.read(unit, { job, log, signal })) batches.push(batch);
  return { plan, batches, records: recordsOf(batches) };
}

/** The cursor a run leaves: that of its last unit carrying one, else the one it started from. */
export function cursorAfter(plan: SourcePlan, before?: unknown): unknown {
  return [...plan.units].reverse().find((unit) => unit.cursorAfter !== undefined)?.cursorAfter ?? before;
}
