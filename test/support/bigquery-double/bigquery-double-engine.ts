/**
 * The double's engine: jobs (queries, scripts and loads) run over the catalog of datasets and
 * tables in DuckDB, their statements interleaved, with BigQuery's rules (transactions that
 * conflict abort) enforced by the modules it composes.
 */
import { randomUUID } from 'node:crypto';
import { BqFailure, invalid, type BqField } from './bigquery-double-types.js';
import type { TablePath } from './bigquery-double-sql.js';
import { TableCatalog } from './bigquery-double-catalog.js';
import { DuckSession } from './bigquery-double-duck.js';
import { LoadRunner } from './bigquery-double-load.js';
import { QueryRunner } from './bigquery-double-query.js';
import { TableUpdateLimiter } from './bigquery-double-rate-limit.js';
import { readRows } from './bigquery-double-rows.js';
import type { JobState, Json, ObjectReader } from './bigquery-double-state.js';

/** The longest GoogleSQL query text BigQuery takes: 1024K characters, comments and white space included. */
const MAX_QUERY_CHARACTERS = 1024 * 1024;

/** Options of the engine: the rate limit to enforce and where gs:// objects come from. */
export interface EngineOptions {
  /** Table update operations allowed per table in `windowMs` (BigQuery: 5 per 10 s). */
  tableUpdateLimit?: { operations: number; windowMs: number };
  /** Reads gs:// objects for load jobs from URIs. */
  objects?: ObjectReader;
}

/** The double's state and behaviour, independent of HTTP. */
export class Engine {
  readonly jobs = new Map<string, JobState>();
  readonly catalog: TableCatalog;
  readonly limiter: TableUpdateLimiter;
  private readonly queries: QueryRunner;
  private readonly loads: LoadRunner;

  private constructor(
    private readonly duck: DuckSession,
    options: EngineOptions,
  ) {
    this.limiter = new TableUpdateLimiter(options.tableUpdateLimit ?? { operations: 5, windowMs: 10_000 });
    this.catalog = new TableCatalog(duck, this.limiter);
    this.queries = new QueryRunner(duck, this.catalog);
    this.loads = new LoadRunner(duck, this.catalog, options.objects);
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    return new Engine(await DuckSession.create(), options);
  }

  async close(): Promise<void> {
    await this.duck.close();
  }

  private jobKey(project: string, jobId: string): string {
    return `${project}:${jobId}`;
  }

  /** jobs.insert: registers the job and starts it; 409 for a job id already used. */
  insertJob(project: string, body: Json, upload?: Buffer, fault?: BqFailure): JobState {
    const ref = body.jobReference ?? {};
    const jobId = String(ref.jobId ?? `job_${randomUUID().replace(/-/g, '_')}`);
    if (!/^[A-Za-z0-9_-]{1,1024}$/.test(jobId)) {
      throw invalid(`Invalid job ID "${jobId}". Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 characters long.`);
    }
    const jobProject = String(ref.projectId ?? project);
    const key = this.jobKey(jobProject, jobId);
    const existing = this.jobs.get(key);
    if (existing) throw new BqFailure(409, 'duplicate', `Already Exists: Job ${jobProject}:${existing.location}.${jobId}`);
    const configuration = body.configuration ?? {};
    if (configuration.query) checkQueryLength(String(configuration.query.query ?? ''));
    const location = ref.location ?? body.location ?? this.defaultLocation(configuration, jobProject);
    const job: JobState = {
      project: jobProject,
      jobId,
      location,
      configuration,
      state: 'RUNNING',
      statistics: { creationTime: String(Date.now()), startTime: String(Date.now()) },
      done: Promise.resolve(),
      upload,
    };
    this.jobs.set(key, job);
    job.done = (fault ? Promise.reject(fault) : this.execute(job)).then(
      () => {
        job.state = 'DONE';
        job.statistics.endTime = String(Date.now());
      },
      (error: unknown) => {
        const failure = error instanceof BqFailure ? error : new BqFailure(400, 'invalidQuery', error instanceof Error ? error.message : String(error));
        job.errorResult = failure.proto();
        job.errors = [failure.proto(), ...failure.errors];
        job.state = 'DONE';
        job.statistics.endTime = String(Date.now());
      },
    );
    return job;
  }

  /**
   * jobs.insert with `configuration.dryRun`: the query is checked (names resolved, run and its
   * result dropped) but no job is kept, as BigQuery answers a dry run at once. Only a single
   * SELECT is dry-run here; an invalid query fails the insert itself with HTTP 400.
   */
  async dryRun(project: string, body: Json): Promise<Json> {
    const configuration = body.configuration ?? {};
    if (!configuration.query) throw invalid('the test double dry-runs query jobs only');
    checkQueryLength(String(configuration.query.query ?? ''));
    const text = String(configuration.query.query ?? '').trim();
    if (!/^(SELECT|WITH)\b/i.test(text) || text.replace(/;\s*$/, '').includes(';')) throw invalid('the test double dry-runs a single SELECT only');
    const location = body.jobReference?.location ?? this.defaultLocation(configuration, project);
    const job: JobState = { project, jobId: '', location, configuration, state: 'RUNNING', statistics: {}, done: Promise.resolve() };
    await this.queries.runQueryJob(job);
    return {
      kind: 'bigquery#job',
      jobReference: { projectId: project, location },
      configuration: { ...configuration, jobType: 'QUERY' },
      status: { state: 'DONE' },
      statistics: { creationTime: String(Date.now()), totalBytesProcessed: '0', query: { totalBytesProcessed: '0', statementType: 'SELECT' } },
    };
  }

  private defaultLocation(configuration: Json, project: string): string {
    const table = configuration.load?.destinationTable ?? configuration.query?.defaultDataset;
    const dataset = table ? this.catalog.datasets.get(this.catalog.datasetKey(table.projectId ?? project, table.datasetId)) : undefined;
    return dataset?.location ?? 'US';
  }

  /**
   * Pauses the next query job whose id starts with `prefix` just before its COMMIT TRANSACTION:
   * `reached` resolves when it gets there, and it goes on when `release` is called.
   */
  holdBeforeCommit(prefix: string): { reached: Promise<void>; release(): void } {
    let reached!: () => void;
    let release!: () => void;
    const hold = { prefix, reached: () => reached(), released: new Promise<void>((resolve) => (release = resolve)) };
    const promise = new Promise<void>((resolve) => (reached = resolve));
    this.queries.holds.push(hold);
    return { reached: promise, release: () => release() };
  }

  job(project: string, jobId: string, location?: string): JobState {
    const job = this.jobs.get(this.jobKey(project, jobId));
    if (!job || (location && location.toUpperCase() !== job.location.toUpperCase())) {
      throw new BqFailure(404, 'notFound', `Not found: Job ${project}:${location ?? 'US'}.${jobId}`);
    }
    return job;
  }

  jobResource(job: JobState): Json {
    const type = job.configuration.load ? 'LOAD' : job.configuration.query ? 'QUERY' : 'UNKNOWN';
    return {
      kind: 'bigquery#job',
      etag: randomUUID(),
      id: `${job.project}:${job.location}.${job.jobId}`,
      selfLink: `/projects/${job.project}/jobs/${job.jobId}?location=${job.location}`,
      user_email: 'test@double.local',
      jobReference: { projectId: job.project, jobId: job.jobId, location: job.location },
      configuration: { ...job.configuration, jobType: type },
      status: {
        state: job.state,
        ...(job.errorResult ? { errorResult: job.errorResult, errors: job.errors } : {}),
      },
      statistics: job.statistics,
    };
  }

  /** Runs a job: a load at once (one at a time on DuckDB), a query statement by statement. */
  private async execute(job: JobState): Promise<void> {
    // The job runs after jobs.insert has answered, as in BigQuery.
    await new Promise((resolve) => setImmediate(resolve));
    if (job.configuration.load) return this.duck.mutex.run(() => this.loads.runLoad(job));
    if (job.configuration.query) return this.queries.runQueryJob(job);
    throw invalid('the test double runs query and load jobs only');
  }

  /** Rows of a job's result or a table, in BigQuery's `{f:[{v}]}` wire form. */
  readRows(
    relation: { table: string; schema?: string } | TablePath,
    fields: readonly BqField[],
    startIndex: number,
    maxResults: number,
    int64Timestamps: boolean,
  ): Promise<Json[]> {
    return readRows(this.duck, relation, fields, startIndex, maxResults, int64Timestamps);
  }

  /** Fields of a table for reading (its schema) or of a job's result. */
  resultFields(job: JobState): BqField[] {
    return job.result?.fields ?? [];
  }
}

/** Refuses a query text longer than BigQuery takes, as jobs.insert and jobs.query do (HTTP 400). */
function checkQueryLength(text: string): void {
  if (text.length <= MAX_QUERY_CHARACTERS) return;
  // Characters, not UTF-16 units: a pair of surrogates is one.
  let characters = 0;
  for (const _ of text) characters++;
  if (characters <= MAX_QUERY_CHARACTERS) return;
  throw invalid(
    `The query is too large (${(characters / 1024).toFixed(2)}K characters, ${characters - MAX_QUERY_CHARACTERS} characters over the limit). The maximum standard SQL query length is 1024.00K characters, including comments and white space characters.`,
  );
}
