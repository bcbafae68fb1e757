/**
 * Large PostgreSQL and MySQL windows loaded into BigQuery by Google Cloud Dataflow: Google's
 * provided JDBC Flex Template reads the run's window (the same query a local run reads, split
 * on an integer or timestamp column) into a staging table b2betl created with the run's exact
 * columns (and the timestamp it splits on, which the commit leaves behind); once
 * the job is done, the staging table is committed with the marker as a local run's stage is.
 * A run killed while its job runs finds the job on the next run and waits for it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BeforeCommit, Column, Engine, EngineDecline, EngineRequest, EngineRun, LoadMarker, TableStage, WorkUnit } from '../../../src/core/connector.js';
import { describeEstimate } from '../../../src/core/engine-choice.js';
import { EtlError, Interruption, messageOf } from '../../../src/core/errors.js';
import { markerWith } from '../../../src/core/marker-state.js';
import type { DataflowSettings } from '../../../src/core/spec.js';
import type { SqlExport } from '../../sources/sql/sql-source.js';
import type { SqlConnectionConfig } from '../../sources/sql/sql-endpoint.js';
import { fitColumns } from '../engine-columns.js';
import { openDataflow, TERMINAL_STATES, type DataflowApi, type DataflowJob, type LaunchRequest } from './dataflow-client.js';
import { hasTemplate, jobSlug, launchRequest, type Partitioning } from './dataflow-launch.js';

/** A source that can say its window as one SELECT (the SQL sources). */
interface Exporting {
  exportUnits(job: EngineRequest['job'], units: readonly WorkUnit[], aliases: ReadonlyMap<string, string>): Promise<SqlExport | { readonly reason: string }>;
}

/** How often the job is read: fast at first, then every 10 s. */
const FIRST_POLL_MS = 200;
const LAST_POLL_MS = 10_000;

/** What the engine decides the Dataflow job will do, before any launch. */
interface Launch {
  readonly request: LaunchRequest;
  readonly partitioning: Partitioning;
  readonly fingerprint: string;
  readonly columns: Column[];
  /** Columns the staging table holds for the template alone: the timestamp it splits on. */
  readonly extra: Column[];
}

/** The Dataflow API endpoint: a test double's when the destination itself is one. */
function endpointOf(request: EngineRequest): string | undefined {
  const destination = request.destination.config as { endpoint?: string };
  return destination.endpoint ? process.env.B2BETL_DATAFLOW_ENDPOINT : undefined;
}

async function plan(request: EngineRequest): Promise<EngineRun | EngineDecline | undefined> {
  const settings = request.dataflow;
  const source = request.source;
  const destination = request.destination.connector;
  if (!settings || request.destination.config.type !== 'bigquery' || !destination.tableStage || !destination.stagingLocation || !hasTemplate(source.config.type)) return undefined;
  const exporting = source.connector as Partial<Exporting>;
  if (typeof exporting.exportUnits !== 'function') return undefined;
  const mode = request.job.engine ?? 'auto';
  const threshold = settings.threshold_rows;
  const estimate = describeEstimate(request);
  if (mode === 'auto' && (!request.estimate || request.estimate.rows < threshold)) {
    return { declined: `the estimate, ${estimate}, is under dataflow.threshold_rows (${threshold.toLocaleString('en-US')})` };
  }
  if (request.job.load.max_bad_records > 0) return { declined: 'load.max_bad_records sets bad rows aside, which needs the rows to pass through b2betl' };
  const discovered = await source.connector.discover(request.job, request.log);
  const fit = await fitColumns(request, discovered);
  if (!fit) return { declined: "the source's types do not fit the table without widening a column, which only a local run does" };
  const nested = fit.columns.find((column) => column.type === 'JSON' || column.repeated);
  if (nested) return { declined: `column ${nested.name} is ${nested.repeated ? 'REPEATED' : nested.type}, which the template's rows carry only as text` };
  const aliases = new Map(fit.columns.map((column) => [column.source, column.name]));
  const read = await exporting.exportUnits(request.job, request.plan.units, aliases);
  if ('reason' in read) return { declined: read.reason };
  const built = launchRequest({
    job: request.job.name,
    runId: request.runId,
    connection: { name: source.name, type: source.config.type, config: source.config as SqlConnectionConfig },
    read,
    partitions: request.job.source.parallelism,
    estimatedRows: request.estimate?.rows,
    output: destination.stagingLocation(request.job.name, request.runId),
    settings,
  });
  const parameters = built.request.launchParameter.parameters;
  // A timestamp split column reaches the staging table too, as the template writes it.
  const extra: Column[] = parameters.partitionColumnType === 'datetime' ? [{ name: parameters.partitionColumn, source: parameters.partitionColumn, type: 'STRING', nullable: true }] : [];
  const launch: Launch = { ...built, columns: fit.columns, extra };
  return {
    description: `launch the Dataflow template ${launch.request.launchParameter.containerSpecGcsPath.split('/').pop()} as job ${launch.request.launchParameter.jobName} in ${settings.project}/${settings.region} into staging table ${parameters.outputTable}, then commit it into ${request.destination.connector.locate(request.table)} (no rows pass through this machine)`,
    reason: mode === 'dataflow' ? `engine: dataflow (${estimate})` : `the estimate, ${estimate}, reaches dataflow.threshold_rows (${threshold.toLocaleString('en-US')})`,
    details: {
      launch: launch.request,
      partitioning: launch.partitioning,
      staging: { table: parameters.outputTable, columns: [...fit.columns, ...extra].map((c) => `${c.name} ${c.type}${c.nullable ? '' : ' NOT NULL'}`) },
    },
    run: (marker, signal, committing) => runLaunch(request, settings, launch, marker, signal, committing),
  };
}

/** Staging tables live a day: an ended job older than that has left nothing to commit. */
const STAGING_LIFE_MS = 20 * 3_600_000;

/**
 * The job of an earlier, interrupted run of this job over the same window: one still at work,
 * or one done whose staging table is still there (it was never committed: a committed run's
 * window is behind this one's).
 */
async function earlier(api: DataflowApi, request: EngineRequest, fingerprint: string): Promise<{ job: DataflowJob; runId: string } | undefined> {
  const slug = jobSlug(request.job.name);
  const ours = (job: DataflowJob) => job.labels['b2betl-job'] === slug && Boolean(job.labels['b2betl-run']);
  for (const job of (await api.active()).filter(ours)) {
    if (job.labels['b2betl-window'] === fingerprint) return { job, runId: job.labels['b2betl-run'] };
    request.log.warn(`Dataflow job ${job.name} (${job.id}) of an earlier run of ${request.job.name} still runs over another window; it is not used (its staging table expires within a day)`);
  }
  const recent = (job: DataflowJob) => job.state === 'JOB_STATE_DONE' && job.labels['b2betl-window'] === fingerprint && (!job.createTime || Date.now() - Date.parse(job.createTime) < STAGING_LIFE_MS);
  for (const job of (await api.ended()).filter((job) => ours(job) && recent(job))) {
    const runId = job.labels['b2betl-run'];
    const staging = request.destination.connector.stagingLocation!(request.job.name, runId);
    if (await request.destination.connector.describe(staging.table)) return { job, runId };
  }
  return undefined;
}

async function runLaunch(
  request: EngineRequest,
  settings: DataflowSettings,
  launch: Launch,
  marker: LoadMarker,
  signal: AbortSignal,
  committing: BeforeCommit,
): Promise<{ rows: number; columns: readonly Column[] }> {
  const { log } = request;
  const api = await openDataflow({ project: settings.project, region: settings.region, endpoint: endpointOf(request) });
  try {
    const found = await earlier(api, request, launch.fingerprint);
    const runId = found?.runId ?? request.runId;
    const stage = await request.destination.connector.tableStage!({
      runId,
      job: request.job,
      table: request.table,
      strategy: request.strategy,
      primaryKey: request.primaryKey,
      columns: launch.columns,
      extra: launch.extra,
      replace: request.replace,
      log,
    });
    let keepStage = false;
    try {
      let job: DataflowJob;
      if (found) {
        job = found.job;
        log.warn(`Dataflow job ${job.name} (${job.id}) of interrupted run ${runId} loads this window: ${TERMINAL_STATES.has(job.state) ? 'committing what it loaded' : 'waiting for it'} instead of launching another`);
      } else {
        const request = withOutput(launch.request, stage);
        job = await api.launch(request);
        log.info(`launched Dataflow job ${job.name} (${job.id}): ${api.consoleUrl(job.id)}`);
      }
      job = await wait(api, job, signal, log);
      if (!TERMINAL_STATES.has(job.state)) {
        const reason: unknown = signal.reason;
        const what = `Dataflow job ${job.name} (${job.id})`;
        // On a terminal the answer is the next key: the question goes where the progress shows.
        if (reason instanceof Interruption && reason.asks) log.info(`Ctrl-C: press y to cancel ${what}, any other key to leave it running for the next run of this job`);
        if (reason instanceof Interruption && (await reason.cancelRemote(what))) {
          await api.cancel(job.id);
          throw new EtlError(`interrupted: ${what} is cancelled; nothing was committed`, 'run the job again to load this window');
        }
        // The job goes on and its staging table stays, for the next run to pick up.
        keepStage = true;
        throw new EtlError(
          `interrupted while ${what} runs; the job goes on, and the next run of this job waits for it instead of launching another`,
          `to stop it: gcloud dataflow jobs cancel ${job.id} --region ${settings.region} --project ${settings.project}`,
        );
      }
      if (job.state !== 'JOB_STATE_DONE') {
        const messages = await api.errors(job.id).catch(() => [] as string[]);
        throw new EtlError(
          `Dataflow job ${job.name} (${job.id}) ended ${job.state.replace('JOB_STATE_', '').toLowerCase()}${messages.length ? `: ${messages.join(' | ')}` : ''}; nothing was committed`,
          `see ${api.consoleUrl(job.id)}; fix the cause and run the job again (it reads the same window)`,
        );
      }
      // The job's work stays until it has committed: a run stopped or failed before then leaves
      // the staging table for the next run, which commits it instead of launching again.
      keepStage = true;
      const rows = await stage.count();
      await committing(rows, stage.columns);
      await stage.commit(markerWith(marker, rows, stage.columns));
      keepStage = false;
      return { rows, columns: stage.columns };
    } finally {
      if (!keepStage) await stage.abort();
    }
  } finally {
    await api.close();
  }
}

function withOutput(request: LaunchRequest, stage: TableStage): LaunchRequest {
  const { project, dataset, table } = stage.location;
  return { ...request, launchParameter: { ...request.launchParameter, parameters: { ...request.launchParameter.parameters, outputTable: `${project}:${dataset}.${table}` } } };
}

/** Polls the job until it ends (or `signal` aborts), logging its state, elapsed time, workers and rows. */
async function wait(api: DataflowApi, launched: DataflowJob, signal: AbortSignal, log: EngineRequest['log']): Promise<DataflowJob> {
  const started = Date.now();
  let job = launched;
  let said = '';
  let delay = FIRST_POLL_MS;
  for (;;) {
    if (signal.aborted) return job;
    job = await api.get(job.id);
    if (TERMINAL_STATES.has(job.state)) return job;
    const progress = job.state === 'JOB_STATE_RUNNING' ? await api.progress(job.id).catch((error: unknown) => (log.debug(`metrics of ${job.id}: ${messageOf(error)}`), {} as { workers?: number; rows?: number })) : {};
    const line = `Dataflow job ${job.name}: ${job.state.replace('JOB_STATE_', '').toLowerCase()}${progress.workers !== undefined ? `, ${progress.workers} worker(s)` : ''}${progress.rows !== undefined ? `, ${progress.rows.toLocaleString('en-US')} rows written` : ''}`;
    if (line !== said) {
      log.info(`${line} (${Math.round((Date.now() - started) / 1000)} s)`);
      said = line;
    }
    // An abort ends the pause early; the loop then returns the job as it stands.
    await sleep(delay, undefined, { signal }).catch(() => undefined);
    delay = Math.min(LAST_POLL_MS, Math.round(delay * 1.5));
  }
}

/** The engine that launches Dataflow's JDBC templates for large database windows. */
export const dataflowEngine: Engine = { name: 'dataflow', plan };
