/**
 * A strict in-process test double of the Dataflow v1b3 REST API, served on 127.0.0.1 for the
 * real `@google-cloud/dataflow` client (REST transport, `apiEndpoint`). It serves
 * `flexTemplates.launch` for Google's provided `PostgreSQL_to_BigQuery` and `MySQL_to_BigQuery`
 * templates (container path, every parameter and the runtime environment checked as the API
 * does), `jobs.get` walking QUEUED → RUNNING → DONE (or FAILED / CANCELLED as a test asks),
 * `jobs.list` filtered by name, `jobs.update` with a requested state, `messages.list` and
 * `jobs.getMetrics`. And it EXECUTES the launched template: its launcher parses the partition
 * bounds (a job whose bounds do not parse fails before it runs), the query (or the partitioned
 * table read, split as JdbcIO splits it, on a `long` or a `datetime` column, each range's bounds
 * bound as the JDBC driver of a worker in UTC sends them) runs on the real PostgreSQL or MariaDB
 * of this machine, rows are converted as the template's row mapper converts them and loaded into
 * the BigQuery double's existing output table with a load job, as BigQueryIO's file loads do.
 */
import { randomUUID } from 'node:crypto';
import { startBigQueryDouble, type BigQueryDouble } from './bigquery-double/index.js';
import { startGcsDouble } from './gcs-double.js';
import { ApiFailure, errorBody, invalid, serveRest, type SeenRequest } from './google-rest-double.js';
import { parseTimestamp } from '../../src/core/time.js';
import { datetimeBound, datetimeRanges, launcherFailure, longRanges, parameterProblems, TEMPLATES, type TemplateSpec } from './dataflow-templates.js';

export const JOB_STATES = [
  'JOB_STATE_UNKNOWN', 'JOB_STATE_STOPPED', 'JOB_STATE_RUNNING', 'JOB_STATE_DONE', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_UPDATED',
  'JOB_STATE_DRAINING', 'JOB_STATE_DRAINED', 'JOB_STATE_PENDING', 'JOB_STATE_CANCELLING', 'JOB_STATE_QUEUED', 'JOB_STATE_RESOURCE_CLEANING_UP',
] as const;
export type JobState = (typeof JOB_STATES)[number];
const IMPORTANCE = ['JOB_MESSAGE_IMPORTANCE_UNKNOWN', 'JOB_MESSAGE_DEBUG', 'JOB_MESSAGE_DETAILED', 'JOB_MESSAGE_WARNING', 'JOB_MESSAGE_ERROR', 'JOB_MESSAGE_BASIC'] as const;
const TERMINAL = new Set<JobState>(['JOB_STATE_DONE', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_DRAINED', 'JOB_STATE_UPDATED', 'JOB_STATE_STOPPED']);
const CONTAINER = /^gs:\/\/dataflow-templates-([a-z]+-[a-z]+\d+)\/latest\/flex\/([A-Za-z_]+)$/;
/** Dataflow job names: lowercase letters, digits and hyphens, starting with a letter. */
const JOB_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SERVICE_ACCOUNT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$|^\d+-compute@developer\.gserviceaccount\.com$/;
const MACHINE_TYPE = /^(e2|n1|n2|n2d|c2|c2d|c3|t2d|m1|m2)-(standard|highmem|highcpu|medium|small|micro)(-\d+)?$/;

/** A job as the double keeps it (REST JSON shape, enums as names). */
export interface StoredJob {
  id: string;
  projectId: string;
  location: string;
  name: string;
  type: 'JOB_TYPE_BATCH';
  currentState: JobState;
  currentStateTime: string;
  createTime: string;
  requestedState?: JobState;
  environment: Record<string, unknown>;
  /** Not part of the API's job: what was launched. */
  readonly launch: { readonly template: TemplateSpec; readonly parameters: Record<string, string> };
  /** Workers the job holds while it runs. */
  workers: number;
  /** Rows the job wrote, once it wrote them. */
  rowsWritten?: number;
  messages: { id: string; time: string; messageText: string; messageImportance: (typeof IMPORTANCE)[number] }[];
}

export type { SeenRequest };

export interface DataflowDoubleOptions {
  /** The BigQuery double the template writes into (its endpoint). */
  readonly bigquery: string;
  /** Secret Manager versions (`projects/p/secrets/s/versions/1`) the template may read, with their values. */
  readonly secrets?: Readonly<Record<string, string>>;
  /** jobs.get answers a job stays QUEUED for (default 1). */
  readonly queuedPolls?: number;
}

export interface DataflowDouble {
  /** `http://127.0.0.1:<port>`, for the client's apiEndpoint. */
  readonly endpoint: string;
  readonly requests: SeenRequest[];
  jobs(): StoredJob[];
  /** The next job launched ends in this state with this error message instead of running to DONE. */
  endNext(state: 'JOB_STATE_FAILED' | 'JOB_STATE_CANCELLED', message: string): void;
  /** Keeps every job RUNNING (its rows not yet written) until `release()`; `running` resolves when one is. */
  hold(): { running: Promise<StoredJob>; release(): void };
  /** Answers every request with this HTTP status and message until called with undefined. */
  refuse(failure: { status: number; message: string } | undefined): void;
  stop(): Promise<void>;
}

/** Checks the runtime environment as the launcher does; returns it as stored on the job. */
function checkEnvironment(environment: Record<string, unknown>, project: string): Record<string, unknown> {
  const known = new Set(['numWorkers', 'maxWorkers', 'zone', 'serviceAccountEmail', 'tempLocation', 'machineType', 'additionalExperiments', 'network', 'subnetwork', 'additionalUserLabels', 'kmsKeyName', 'ipConfiguration', 'workerRegion', 'workerZone', 'enableStreamingEngine', 'flexrsGoal', 'stagingLocation', 'sdkContainerImage', 'diskSizeGb', 'autoscalingAlgorithm', 'dumpHeapOnOom', 'saveHeapDumpsToGcsPath', 'launcherMachineType', 'enableLauncherVmSerialPortLogging', 'streamingMode']);
  for (const key of Object.keys(environment)) {
    if (!known.has(key)) throw invalid(`Invalid JSON payload received. Unknown name "${key}" at 'launch_parameter.environment': Cannot find field.`);
  }
  const text = (key: string): string | undefined => {
    const value = environment[key];
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') throw invalid(`Invalid value at 'launch_parameter.environment.${key}' (TYPE_STRING), ${JSON.stringify(value)}`);
    return value;
  };
  const count = (key: string): number | undefined => {
    const value = environment[key];
    if (value === undefined || value === 0) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw invalid(`Invalid value at 'launch_parameter.environment.${key}' (TYPE_INT32), ${JSON.stringify(value)}`);
    if (value < 0 || value > 1000) throw invalid(`The workflow could not be created. ${key} must be between 1 and 1000, got ${value}.`);
    return value;
  };
  const account = text('serviceAccountEmail');
  if (account !== undefined && !SERVICE_ACCOUNT.test(account)) throw invalid(`Invalid service account email: ${account}.`);
  const temp = text('tempLocation');
  if (temp !== undefined && !/^gs:\/\/[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](\/.*)?$/.test(temp)) throw invalid(`Invalid tempLocation ${temp}: it must be a Cloud Storage path gs://bucket/path.`);
  const machine = text('machineType');
  if (machine !== undefined && !MACHINE_TYPE.test(machine)) throw invalid(`Invalid machine type: ${machine}.`);
  const network = text('network');
  if (network !== undefined && !/^([a-z]([-a-z0-9]*[a-z0-9])?|(https:\/\/www\.googleapis\.com\/compute\/v1\/)?projects\/[^/]+\/global\/networks\/[a-z]([-a-z0-9]*[a-z0-9])?)$/.test(network)) throw invalid(`Invalid network: ${network}.`);
  const subnetwork = text('subnetwork');
  if (subnetwork !== undefined && !/^(https:\/\/www\.googleapis\.com\/compute\/v1\/)?(projects\/[^/]+\/)?regions\/[a-z]+-[a-z]+\d+\/subnetworks\/[a-z]([-a-z0-9]*[a-z0-9])?$/.test(subnetwork)) {
    throw invalid(`Invalid subnetwork: ${subnetwork}. Give regions/REGION/subnetworks/SUBNETWORK or its full URL.`);
  }
  const max = count('maxWorkers');
  const workers = count('numWorkers');
  if (max !== undefined && workers !== undefined && workers > max) throw invalid(`numWorkers (${workers}) must not exceed maxWorkers (${max}).`);
  return { ...environment, ...(account === undefined ? { serviceAccountEmail: `123456789-compute@developer.gserviceaccount.com` } : {}), projectId: project };
}

/** Starts the double on 127.0.0.1 at a free port. */
export async function startDataflowDouble(options: DataflowDoubleOptions): Promise<DataflowDouble> {
  const requests: SeenRequest[] = [];
  const store = new Map<string, StoredJob>();
  const polls = new Map<string, number>();
  const ending: { state: 'JOB_STATE_FAILED' | 'JOB_STATE_CANCELLED'; message: string }[] = [];
  const executions = new Map<string, Promise<void>>();
  let held: { release: () => void; gate: Promise<void>; reached: (job: StoredJob) => void } | undefined;
  let refusal: { status: number; message: string } | undefined;

  const now = () => new Date().toISOString();
  const setState = (job: StoredJob, state: JobState) => {
    job.currentState = state;
    job.currentStateTime = now();
  };
  const message = (job: StoredJob, importance: StoredJob['messages'][number]['messageImportance'], text: string) => {
    job.messages.push({ id: String(job.messages.length + 1), time: now(), messageText: text, messageImportance: importance });
  };

  const find = (project: string, location: string, id: string): StoredJob => {
    const job = store.get(id);
    if (!job || job.projectId !== project || job.location !== location) throw new ApiFailure(404, `(${id.slice(0, 16)}): Could not find job with id ${id} in location ${location} of project ${project}.`);
    return job;
  };

  const launch = (project: string, location: string, body: Record<string, unknown>): StoredJob => {
    const parameter = body.launchParameter as Record<string, unknown> | undefined;
    if (!parameter || typeof parameter !== 'object') throw invalid('launch_parameter is required.');
    const jobName = String(parameter.jobName ?? '');
    if (!JOB_NAME.test(jobName)) throw invalid(`(jobName) The job name "${jobName}" is invalid: it must consist of only [-a-z0-9], starting with a letter and ending with a letter or number, at most 63 characters.`);
    if (parameter.containerSpec !== undefined) throw invalid('This double launches Google-provided templates only: give containerSpecGcsPath.');
    const path = String(parameter.containerSpecGcsPath ?? '');
    const match = CONTAINER.exec(path);
    if (!match) throw invalid(`Invalid containerSpecGcsPath "${path}": expected gs://dataflow-templates-REGION/latest/flex/TEMPLATE.`);
    if (match[1] !== location) throw invalid(`The template bucket gs://dataflow-templates-${match[1]} is not in the job's region ${location}.`);
    const template = TEMPLATES[match[2]];
    if (!template) throw new ApiFailure(404, `Unable to open template file: ${path}. No such object.`);
    const parameters = (parameter.parameters ?? {}) as Record<string, unknown>;
    if (typeof parameters !== 'object' || Array.isArray(parameters)) throw invalid("Invalid value at 'launch_parameter.parameters' (map).");
    const problems = parameterProblems(template, parameters as Record<string, string>);
    const strings = parameters as Record<string, string>;
    if (strings.query === undefined && (strings.table === undefined || strings.partitionColumn === undefined)) problems.push('Either query, or table with partitionColumn, must be given.');
    if (problems.length) throw invalid(`The template parameters are invalid. Details: ${problems.join('; ')}`);
    for (const key of Object.keys(parameter)) {
      if (!['jobName', 'containerSpecGcsPath', 'parameters', 'environment', 'launchOptions', 'update', 'transformNameMappings'].includes(key)) throw invalid(`Invalid JSON payload received. Unknown name "${key}" at 'launch_parameter': Cannot find field.`);
    }
    const environment = checkEnvironment((parameter.environment ?? {}) as Record<string, unknown>, project);
    if (body.validateOnly === true) return undefined as never;
    const time = now();
    const job: StoredJob = {
      id: `${time.slice(0, 10).replace(/-/g, '_')}_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      projectId: project,
      location,
      name: jobName,
      type: 'JOB_TYPE_BATCH',
      currentState: 'JOB_STATE_QUEUED',
      currentStateTime: time,
      createTime: time,
      environment,
      launch: { template, parameters: { ...strings } },
      workers: 0,
      messages: [],
    };
    store.set(job.id, job);
    polls.set(job.id, 0);
    return job;
  };

  /** One jobs.get: QUEUED for a poll or so, then RUNNING while the template executes, then its end. */
  const advance = (job: StoredJob) => {
    if (job.currentState === 'JOB_STATE_QUEUED') {
      const seen = (polls.get(job.id) ?? 0) + 1;
      polls.set(job.id, seen);
      if (seen <= (options.queuedPolls ?? 1)) return;
      const failure = launcherFailure(job.launch.parameters);
      if (failure) {
        message(job, 'JOB_MESSAGE_ERROR', `Error occurred in the launcher container: Template launch failed. ${failure}`);
        setState(job, 'JOB_STATE_FAILED');
        return;
      }
      setState(job, 'JOB_STATE_RUNNING');
      job.workers = Math.min(Number(job.environment.maxWorkers ?? 4) || 4, 4);
      const end = ending.shift();
      if (end) {
        message(job, 'JOB_MESSAGE_ERROR', end.message);
        setState(job, end.state);
        job.workers = 0;
        return;
      }
      executions.set(job.id, execute(job));
    }
  };

  const execute = async (job: StoredJob): Promise<void> => {
    if (held) {
      held.reached(job);
      await held.gate;
    }
    try {
      const rows = await runTemplate(job.launch.template, job.launch.parameters, options);
      if (job.currentState !== 'JOB_STATE_RUNNING') return;
      job.rowsWritten = rows;
      message(job, 'JOB_MESSAGE_BASIC', `Workflow succeeded: ${rows} rows written to ${job.launch.parameters.outputTable}.`);
      setState(job, 'JOB_STATE_DONE');
    } catch (error) {
      if (job.currentState !== 'JOB_STATE_RUNNING') return;
      message(job, 'JOB_MESSAGE_ERROR', `Error message from worker: ${error instanceof Error ? error.message : String(error)}`);
      message(job, 'JOB_MESSAGE_ERROR', 'Workflow failed.');
      setState(job, 'JOB_STATE_FAILED');
    } finally {
      job.workers = 0;
    }
  };

  const present = (job: StoredJob, numericEnums: boolean): Record<string, unknown> => {
    const state = (name: JobState) => (numericEnums ? JOB_STATES.indexOf(name) : name);
    return {
      id: job.id,
      projectId: job.projectId,
      location: job.location,
      name: job.name,
      type: numericEnums ? 1 : job.type,
      currentState: state(job.currentState),
      currentStateTime: job.currentStateTime,
      createTime: job.createTime,
      ...(job.requestedState ? { requestedState: state(job.requestedState) } : {}),
      ...(job.environment.additionalUserLabels ? { labels: job.environment.additionalUserLabels } : {}),
      environment: { serviceAccountEmail: job.environment.serviceAccountEmail, ...(job.environment.tempLocation ? { tempStoragePrefix: job.environment.tempLocation } : {}) },
    };
  };

  const serve = async (method: string, path: string, query: Record<string, string>, body: Record<string, unknown>, numericEnums: boolean): Promise<unknown> => {
    const route = /^projects\/([^/]+)\/locations\/([^/]+)\/(flexTemplates:launch|jobs)(?:\/([^/:]+))?(?:\/(messages|metrics))?$/.exec(path);
    if (!route) throw new ApiFailure(404, `No such method or resource: ${method} /v1b3/${path}.`);
    const [, project, location, collection, id, sub] = route;
    if (collection === 'flexTemplates:launch' && method === 'POST') {
      if (body.projectId !== undefined && body.projectId !== project) throw invalid('projectId in the body does not match the URL.');
      const job = launch(project, location, body);
      return job ? { job: present(job, numericEnums) } : {};
    }
    if (collection === 'jobs' && !id && method === 'GET') {
      const filter = query.filter ?? 'UNKNOWN';
      const which = ['UNKNOWN', 'ALL', 'TERMINATED', 'ACTIVE', '0', '1', '2', '3'].indexOf(filter) % 4;
      if (which < 0) throw invalid(`Invalid value at 'filter' (type.googleapis.com/google.dataflow.v1beta3.ListJobsRequest.Filter), "${filter}"`);
      const jobs = [...store.values()]
        .filter((job) => job.projectId === project && job.location === location)
        .filter((job) => query.name === undefined || job.name === query.name)
        .filter((job) => (which === 2 ? TERMINAL.has(job.currentState) : which === 3 ? !TERMINAL.has(job.currentState) : true))
        .sort((a, b) => (a.createTime < b.createTime ? 1 : -1));
      return { jobs: jobs.map((job) => present(job, numericEnums)) };
    }
    if (collection === 'jobs' && id) {
      const job = find(project, location, id);
      if (sub === 'messages' && method === 'GET') {
        const minimum = query.minimumImportance ?? 'JOB_MESSAGE_IMPORTANCE_UNKNOWN';
        const level = (name: string) => ['JOB_MESSAGE_IMPORTANCE_UNKNOWN', 'JOB_MESSAGE_DEBUG', 'JOB_MESSAGE_DETAILED', 'JOB_MESSAGE_BASIC', 'JOB_MESSAGE_WARNING', 'JOB_MESSAGE_ERROR'].indexOf(name);
        const floor = /^\d+$/.test(minimum) ? level(IMPORTANCE[Number(minimum)] ?? 'JOB_MESSAGE_IMPORTANCE_UNKNOWN') : level(minimum);
        if (floor < 0) throw invalid(`Invalid value at 'minimum_importance', "${minimum}"`);
        const shown = job.messages.filter((m) => level(m.messageImportance) >= floor);
        return { jobMessages: shown.map((m) => ({ ...m, messageImportance: numericEnums ? IMPORTANCE.indexOf(m.messageImportance) : m.messageImportance })) };
      }
      if (sub === 'metrics' && method === 'GET') {
        const metrics = job.rowsWritten === undefined ? [] : [{ name: { origin: 'dataflow/v1b3', name: 'ElementCount', context: { output_user_name: 'Write to BigQuery' } }, scalar: job.rowsWritten, updateTime: now() }];
        return { metricTime: now(), metrics: [...metrics, { name: { origin: 'dataflow/v1b3', name: 'CurrentWorkers' }, scalar: job.workers, updateTime: now() }] };
      }
      if (!sub && method === 'GET') {
        advance(job);
        return present(job, numericEnums);
      }
      if (!sub && method === 'PUT') {
        const requested = body.requestedState;
        const state = typeof requested === 'number' ? JOB_STATES[requested] : (requested as JobState | undefined);
        if (!state || !JOB_STATES.includes(state)) throw invalid(`Invalid value at 'job.requested_state', ${JSON.stringify(requested)}`);
        if (state !== 'JOB_STATE_CANCELLED') throw invalid(`Requested state ${state} is not supported for a batch job; only JOB_STATE_CANCELLED is.`);
        if (TERMINAL.has(job.currentState)) throw new ApiFailure(400, `(${job.id}): Job has terminated in state ${job.currentState}: Workflow modification failed.`);
        job.requestedState = state;
        message(job, 'JOB_MESSAGE_BASIC', 'Cancel request is committed for workflow job.');
        setState(job, 'JOB_STATE_CANCELLED');
        job.workers = 0;
        return present(job, numericEnums);
      }
    }
    throw new ApiFailure(404, `No such method or resource: ${method} /v1b3/${path}.`);
  };

  const server = await serveRest({
    prefix: '/v1b3/',
    requests,
    intercept: () => refusal && { status: refusal.status, body: errorBody(refusal.status, refusal.message) },
    serve,
  });
  return {
    endpoint: server.endpoint,
    requests,
    jobs: () => [...store.values()],
    endNext: (state, text) => void ending.push({ state, message: text }),
    hold: () => {
      let release!: () => void;
      let reached!: (job: StoredJob) => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const running = new Promise<StoredJob>((resolve) => (reached = resolve));
      held = { gate, release, reached };
      return {
        running,
        release: () => {
          held = undefined;
          release();
        },
      };
    },
    refuse: (failure) => (refusal = failure),
    stop: async () => {
      held?.release();
      await Promise.allSettled(executions.values());
      await server.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The template at work

/** A credential parameter as the template reads it: a Secret Manager version, else the text itself. */
function credential(value: string | undefined, secrets: Readonly<Record<string, string>>, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (!value.startsWith('projects/')) return value;
  const secret = secrets[value];
  if (secret === undefined) throw new Error(`PERMISSION_DENIED: Permission 'secretmanager.versions.access' denied for resource '${value}' (or it may not exist), reading the ${what}.`);
  return secret;
}

/** Runs the template: reads the rows as JdbcIO does and loads them into the output table. Returns rows written. */
async function runTemplate(template: TemplateSpec, parameters: Record<string, string>, options: DataflowDoubleOptions): Promise<number> {
  const secrets = options.secrets ?? {};
  const url = /^jdbc:(postgresql|mysql):\/\/([^/:]+)(?::(\d+))?\/([^?]*)/.exec(parameters.connectionURL);
  if (!url || url[1] !== template.scheme) throw new Error(`Cannot parse connectionURL for ${template.name}.`);
  const connection = { host: url[2], port: Number(url[3] ?? (url[1] === 'postgresql' ? 5432 : 3306)), database: url[4], user: credential(parameters.username, secrets, 'username'), password: credential(parameters.password, secrets, 'password') };
  const statements = await readStatements(parameters, template.scheme, connection);
  const properties = Object.fromEntries((parameters.connectionProperties ?? '').split(';').filter(Boolean).map((pair) => pair.split('=') as [string, string]));
  const byAlias = parameters.useColumnAlias === 'true';
  const rows = template.scheme === 'postgresql' ? await readPostgres(connection, statements) : await readMysql(connection, statements, { properties, byAlias });
  await loadRows(options.bigquery, parameters, rows);
  return rows.length;
}

export interface Connection {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user?: string;
  readonly password?: string;
}

/** A statement with its two range parameters (`?`), or none. */
export interface Statement {
  readonly sql: string;
  readonly values: readonly unknown[];
}

/** The statements JdbcIO runs: the query once, or `select * from <table> where col >= ? and col < ?` per range. */
export async function readStatements(parameters: Record<string, string>, scheme: 'postgresql' | 'mysql', connection: Connection): Promise<Statement[]> {
  if (parameters.partitionColumn === undefined) return [{ sql: parameters.query, values: [] }];
  const table = parameters.table;
  const column = parameters.partitionColumn;
  const datetime = (parameters.partitionColumnType ?? 'long') === 'datetime';
  let lower = parameters.lowerBound;
  let upper = parameters.upperBound;
  if (lower === undefined || upper === undefined) {
    const bounds = `select min(${column}) as lo, max(${column}) as hi from ${table}`;
    const [row] = scheme === 'postgresql' ? await readPostgres(connection, [{ sql: bounds, values: [] }]) : await readMysql(connection, [{ sql: bounds, values: [] }], { properties: {}, byAlias: true });
    lower ??= String(row?.lo ?? 0);
    upper ??= String(row?.hi ?? 0);
  }
  const partitions = Math.max(1, Number(parameters.numPartitions ?? 1));
  const sql = `select * from ${table} where ${column} >= ${scheme === 'postgresql' ? '$1' : '?'} and ${column} < ${scheme === 'postgresql' ? '$2' : '?'}`;
  if (datetime) {
    // Given bounds passed the launcher; inferred ones are read as JdbcIO reads them, to the millisecond.
    const millis = (text: string) => {
      const given = datetimeBound(text);
      return typeof given === 'number' ? given : Math.floor(Number(parseTimestamp(text)) / 1000);
    };
    return datetimeRanges(millis(lower), millis(upper), partitions).map(([from, to]) => ({ sql, values: [jdbcTimestamp(from, scheme), jdbcTimestamp(to, scheme)] }));
  }
  return longRanges(BigInt(lower), BigInt(upper), BigInt(partitions)).map(([from, to]) => ({ sql, values: [from.toString(), to.toString()] }));
}

/**
 * A range bound as `PreparedStatement.setTimestamp` sends it from a worker (whose JVM runs in
 * UTC): PostgreSQL's driver as text with the JVM's offset and no type, which the server reads as
 * the type of the column it is compared with; MySQL's, with `connectionTimeZone=UTC`, as the UTC
 * wall clock.
 */
function jdbcTimestamp(millis: number, scheme: 'postgresql' | 'mysql'): string {
  const wall = new Date(millis).toISOString().replace('T', ' ').slice(0, 23);
  return scheme === 'postgresql' ? `${wall}+00` : wall;
}

/** `yyyy-MM-dd HH:mm:ss.SSSSSS` of a database's wall-clock text, as the template's formatters print it. */
function micros(text: string): string {
  return text.includes('.') ? text.padEnd(26, '0') : `${text}.000000`;
}

/** A row as the template's mapper builds it: column label → JSON value. */
type TableRow = Record<string, unknown>;

/** Text of a number kept exact in the NDJSON (a JSON number token). */
class NumberToken {
  constructor(readonly text: string) {}
}

async function readPostgres(connection: Connection, statements: readonly Statement[]): Promise<TableRow[]> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ ...connection, options: '-c TimeZone=UTC', types: { getTypeParser: () => (text: string) => text } });
  await client.connect();
  try {
    const out: TableRow[] = [];
    for (const statement of statements) {
      const result = await client.query({ text: statement.sql, values: [...statement.values] });
      const numeric = new Set([20, 21, 23, 26, 700, 701, 1700]);
      for (const raw of result.rows as Record<string, string | null>[]) {
        const row: TableRow = {};
        for (const field of result.fields) {
          const value = raw[field.name];
          if (value === null || value === undefined) row[field.name] = null;
          else if (field.dataTypeID === 16) row[field.name] = value === 't';
          else if (numeric.has(field.dataTypeID)) row[field.name] = new NumberToken(value);
          // timestamp → yyyy-MM-dd HH:mm:ss.SSSSSSXXX in the worker's zone (UTC): `Z` for its offset
          else if (field.dataTypeID === 1114) row[field.name] = `${micros(value)}Z`;
          else row[field.name] = value;
        }
        out.push(row);
      }
    }
    return out;
  } finally {
    await client.end();
  }
}

/**
 * MySQL as Connector/J reads it: the session keeps the server's time zone unless the connection
 * properties force one; without useColumnAlias a column is named by its source column, not its alias.
 */
async function readMysql(connection: Connection, statements: readonly Statement[], options: { properties: Record<string, string>; byAlias: boolean }): Promise<TableRow[]> {
  const mysql = await import('mysql2/promise');
  const client = await mysql.createConnection({ ...connection, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, decimalNumbers: false });
  try {
    const zone = options.properties.connectionTimeZone;
    if (zone && options.properties.forceConnectionTimeZoneToSession === 'true') await client.query('SET time_zone = ?', [zone === 'UTC' ? '+00:00' : zone]);
    const out: TableRow[] = [];
    for (const statement of statements) {
      const [rows, fields] = await client.query({ sql: statement.sql, values: [...statement.values], rowsAsArray: true });
      for (const values of rows as unknown[][]) {
        const row: TableRow = {};
        fields.forEach((field, i) => {
          const value = values[i];
          const name = options.byAlias ? field.name : field.orgName || field.name;
          const type = field.columnType ?? 0;
          if (value === null || value === undefined) row[name] = null;
          // Connector/J reads TINYINT(1) and BIT(1) as Boolean
          else if ((type === 1 || type === 16) && field.columnLength === 1) row[name] = value instanceof Buffer ? value[0] === 1 : Number(value) !== 0;
          else if ([1, 2, 3, 4, 5, 8, 9, 13, 0, 246].includes(type)) row[name] = new NumberToken(String(value));
          // DATETIME arrives as a LocalDateTime: yyyy-MM-dd HH:mm:ss.SSSSSS
          else if (type === 12) row[name] = micros(String(value));
          else if (value instanceof Buffer) row[name] = value.toString('base64');
          else row[name] = String(value);
        });
        out.push(row);
      }
    }
    return out;
  } finally {
    await client.end();
  }
}

/** NDJSON of the rows, numbers kept as their exact digits. */
function ndjson(rows: readonly TableRow[]): string {
  return rows
    .map((row) => `{${Object.entries(row).map(([key, value]) => `${JSON.stringify(key)}:${value instanceof NumberToken ? value.text : JSON.stringify(value)}`).join(',')}}`)
    .join('\n');
}

/** BigQueryIO's file loads: one load job appending the rows to the existing output table. */
async function loadRows(endpoint: string, parameters: Record<string, string>, rows: readonly TableRow[]): Promise<void> {
  const spec = /^([^:]+):([^.]+)\.(.+)$/.exec(parameters.outputTable)!;
  const { BigQuery } = await import('@google-cloud/bigquery');
  const client = new BigQuery({
    projectId: spec[1],
    apiEndpoint: endpoint,
    authClient: { getRequestHeaders: async () => new Headers({ authorization: 'Bearer dataflow-worker' }), getAccessToken: async () => ({ token: 'dataflow-worker' }), getProjectId: async () => spec[1] } as never,
  });
  const table = client.dataset(spec[2]).table(spec[3]);
  const [exists] = await table.exists();
  if (!exists) throw new Error(`Table ${parameters.outputTable} not found, and createDisposition is CREATE_NEVER.`);
  if (rows.length === 0) return;
  const { mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const folder = await mkdtemp(path.join(tmpdir(), 'dataflow-double-'));
  try {
    const file = path.join(folder, 'rows.json');
    await writeFile(file, ndjson(rows));
    await table.load(file, {
      sourceFormat: 'NEWLINE_DELIMITED_JSON',
      writeDisposition: parameters.isTruncate === 'true' ? 'WRITE_TRUNCATE' : 'WRITE_APPEND',
      createDisposition: 'CREATE_NEVER',
    });
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** The clouds a Dataflow run talks to: BigQuery, Dataflow running its templates into it, and Secret Manager. */
export interface DataflowClouds {
  readonly bigquery: BigQueryDouble;
  readonly dataflow: DataflowDouble;
  /** The environment that points the binary's Dataflow and Secret Manager clients at the doubles. */
  readonly env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function startDataflowClouds(project: string, secrets: Readonly<Record<string, string>>): Promise<DataflowClouds> {
  const bigquery = await startBigQueryDouble({ project });
  const dataflow = await startDataflowDouble({ bigquery: bigquery.endpoint, secrets });
  const manager = await startGcsDouble({ buckets: [] });
  for (const [name, value] of Object.entries(secrets)) manager.setSecret(name, value);
  return {
    bigquery,
    dataflow,
    env: { B2BETL_DATAFLOW_ENDPOINT: dataflow.endpoint, B2BETL_SECRET_MANAGER_ENDPOINT: manager.endpoint },
    async stop() {
      await dataflow.stop();
      await bigquery.stop();
      await manager.stop();
    },
  };
}
