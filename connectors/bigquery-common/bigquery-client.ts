/**
 * The BigQuery client as b2betl's BigQuery source and destination use it: authentication from a
 * connection, jobs with ids derived from the run (a retried step finds its job instead of
 * running twice), and errors that say what to do.
 */
import type { Readable } from 'node:stream';
import type { BigQuery, Dataset, Job, JobMetadata, TableField } from '@google-cloud/bigquery';
import type { ConnectorContext } from '../../src/core/connector.js';
import { ConfigError, EtlError, TransientError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/log.js';
import { redact } from '../../src/core/redact.js';

/** The `bigquery` connection block. */
export interface BigQueryConnection {
  readonly type: 'bigquery';
  readonly project: string;
  readonly dataset: string;
  readonly location?: string;
  readonly credentials?: string;
  readonly staging?: string;
  readonly endpoint?: string;
}

/** An open client bound to one connection. */
export interface BigQueryHandle {
  readonly client: BigQuery;
  readonly config: BigQueryConnection;
  /** The connection's name, for messages. */
  readonly name: string;
  readonly project: string;
  readonly location?: string;
  readonly log: Logger;
  /** Folder relative paths (a key file) resolve against. */
  readonly baseDir: string;
  /** Credentials parsed from `credentials`, for other Google clients (staging in GCS). */
  readonly credentials?: Record<string, unknown>;
  dataset(id?: string, project?: string): Dataset;
}

/** Bearer token the client sends to a test endpoint when no credentials are configured. */
export const TEST_TOKEN = 'b2betl-test-token';

/**
 * An auth client that hands out a fixed token. Used only when `endpoint` is set and no
 * credentials are given: emulators and the test double accept any token.
 */
function fixedTokenClient(project: string) {
  return {
    projectId: project,
    async getRequestHeaders() {
      return new Headers({ authorization: `Bearer ${TEST_TOKEN}` });
    },
    async getAccessToken() {
      return { token: TEST_TOKEN };
    },
    async getProjectId() {
      return project;
    },
  };
}

/** Opens a client for a `bigquery` connection: ADC, a key file, inline JSON or a secret:// reference. */
export async function openBigQuery(context: ConnectorContext): Promise<BigQueryHandle> {
  if (context.config.type !== 'bigquery') throw new EtlError(`connection ${context.name} is not a bigquery connection`);
  const config = context.config as BigQueryConnection;
  const { BigQuery } = await import('@google-cloud/bigquery');
  const { googleCredentials } = await import('../storage/gcs/gcs-credentials.js');
  const credentials = await googleCredentials(config.credentials, { connection: context.name, baseDir: context.baseDir });
  const endpoint = config.endpoint?.replace(/\/+$/, '');
  const client = new BigQuery({
    projectId: config.project,
    location: config.location,
    ...(endpoint ? { apiEndpoint: endpoint } : {}),
    ...(credentials ? { credentials: credentials as never } : endpoint ? { authClient: fixedTokenClient(config.project) as never } : {}),
    // Our own job logic retries rate limits; the client's own retries cover plain HTTP blips.
    autoRetry: true,
    maxRetries: 3,
  });
  return {
    client,
    config,
    name: context.name,
    project: config.project,
    location: config.location,
    log: context.log,
    baseDir: context.baseDir,
    credentials,
    dataset: (id = config.dataset, project = config.project) => client.dataset(id, { projectId: project, location: config.location }),
  };
}

/** An error the client raised, as the REST API shaped it. */
interface ApiError {
  code?: number | string;
  message?: string;
  errors?: { reason?: string; message?: string; location?: string }[];
  response?: unknown;
}

/** Reasons BigQuery gives for failures worth retrying. */
const TRANSIENT_REASONS = new Set(['rateLimitExceeded', 'backendError', 'internalError', 'jobBackendError', 'jobInternalError', 'quotaExceeded']);

/** Whether a BigQuery error reason is worth another attempt. */
export function isTransientReason(reason: string | undefined): boolean {
  return reason !== undefined && TRANSIENT_REASONS.has(reason);
}

/** Turns a client error into an EtlError that names the connection and the fix. */
export function bigQueryError(error: unknown, action: string, handle: Pick<BigQueryHandle, 'name' | 'config'>): EtlError {
  if (error instanceof EtlError) return error;
  const api = (error ?? {}) as ApiError & NodeJS.ErrnoException;
  const reason = api.errors?.[0]?.reason;
  const message = redact(api.message ?? String(error));
  const where = `connection ${handle.name}`;
  const network = ['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN'].includes(String(api.code)) || /ECONNREFUSED|ENOTFOUND|socket hang up|fetch failed/.test(message);
  if (network) {
    const target = handle.config.endpoint ?? 'bigquery.googleapis.com';
    return new TransientError(`cannot reach BigQuery at ${target} to ${action}: ${message}`, `check the network${handle.config.endpoint ? `, and endpoint in ${where}` : ''}`);
  }
  if (isTransientReason(reason) || [429, 500, 502, 503, 504].includes(Number(api.code))) {
    return new TransientError(`BigQuery is busy (${reason ?? api.code}) while trying to ${action}: ${message}`, 'b2betl retries this; if it persists, spread the jobs out in time');
  }
  if (Number(api.code) === 401 || /default credentials|invalid_grant|Could not load the default credentials/i.test(message)) {
    return new EtlError(
      `BigQuery refused the credentials of ${where} while trying to ${action}: ${message}`,
      'run `gcloud auth application-default login`, or set credentials to a service account key file, inline JSON or a secret:// reference',
    );
  }
  if (Number(api.code) === 403 || reason === 'accessDenied') {
    return new EtlError(
      `permission denied in BigQuery (${where}) while trying to ${action}: ${message}`,
      `grant the account roles/bigquery.dataEditor on dataset ${handle.config.project}.${handle.config.dataset} and roles/bigquery.jobUser on project ${handle.config.project}`,
    );
  }
  return new EtlError(`BigQuery could not ${action} (${where}): ${message}`);
}

/** Error code of a client error (HTTP status). */
export function errorCode(error: unknown): number | undefined {
  const code = (error as ApiError | undefined)?.code;
  return typeof code === 'number' ? code : code !== undefined && /^\d+$/.test(String(code)) ? Number(code) : undefined;
}

/** A job id BigQuery accepts: letters, digits, `_` and `-`, at most 1024 characters. */
export function jobId(...parts: string[]): string {
  return parts
    .map((part) => part.replace(/[^A-Za-z0-9_-]+/g, '_'))
    .join('_')
    .slice(0, 1000);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls of one job whose answers are lost in a row before waiting gives up. */
const POLL_FAILURES = 8;

/**
 * Waits for a job to finish; returns its final metadata. A poll whose answer is lost (a network
 * blip, a rate limit) is polled again: the job runs on whether or not we hear of it.
 */
export async function waitForJob(job: Job): Promise<JobMetadata> {
  let delay = 50;
  let failures = 0;
  for (;;) {
    let metadata: JobMetadata;
    try {
      [metadata] = await job.getMetadata();
      failures = 0;
    } catch (error) {
      if (!retriableCall(error) || ++failures >= POLL_FAILURES) throw error;
      await sleep(Math.min(2000, 100 * 2 ** failures));
      continue;
    }
    if (metadata.status?.state === 'DONE') return metadata;
    await sleep(delay);
    delay = Math.min(1000, delay * 2);
  }
}

/** Whether a failed API call (not a failed job) is worth making again: network errors, 429 and 5xx. */
function retriableCall(error: unknown): boolean {
  const code = errorCode(error);
  if (code !== undefined) return code === 429 || code >= 500;
  const api = (error ?? {}) as ApiError & NodeJS.ErrnoException;
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN'].includes(String(api.code)) || /socket hang up|ECONNRESET|fetch failed|network/i.test(String(api.message));
}

/** What one job of a step does. */
export interface JobRequest {
  /** The base job id; attempts after a transient failure add `_2`, `_3`, … */
  readonly id: string;
  /** `configuration` of jobs.insert (query or load). */
  readonly configuration: Record<string, unknown>;
  /** For load jobs from local bytes: opens the stream to upload (called once per attempt). */
  readonly upload?: () => Readable | Promise<Readable>;
  /** Table a load job writes to (for uploads). */
  readonly table?: { dataset: string; table: string; project?: string };
  /** What the step does, for messages. */
  readonly action: string;
  /**
   * For steps that must take effect once (a commit): whether the step already took effect, read
   * in the destination (its marker). Asked before the step is submitted under a new id and after
   * it fails; the step is then not run again.
   */
  readonly landed?: () => Promise<boolean>;
  /** Failures beyond the transient ones that another attempt may cure ("concurrent update"). */
  readonly retryable?: (failure: { reason?: string | null; message?: string | null }) => boolean;
}

/** Attempts per step before a rate-limited or backend-failed job gives up. */
const JOB_ATTEMPTS = 6;

/** Metadata standing for a step that had already taken effect under an earlier attempt. */
function landedMetadata(id: string): JobMetadata {
  return { jobReference: { jobId: id }, status: { state: 'DONE' } } as JobMetadata;
}

/**
 * Runs one job to completion, idempotently: a job id that already exists (a retried step) is
 * waited on instead of being run again; a job that failed for a transient reason (rate limit,
 * backend error) is retried under the next attempt id. Throws on a permanent failure.
 *
 * With `landed`, a step is never submitted under a new id before every earlier attempt is known
 * to have ended and the destination says the step did not take effect; if it cannot tell (the
 * answers are lost), it throws rather than risk applying the step twice.
 */
export async function runJob(handle: BigQueryHandle, request: JobRequest): Promise<JobMetadata> {
  let delay = Number(process.env.B2BETL_RETRY_BASE_MS ?? 1000);
  const tried: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const id = attempt === 1 ? request.id : `${request.id}_${attempt}`;
    if (request.landed && tried.length && (await settleAttempts(handle, request, tried))) return landedMetadata(tried.at(-1)!);
    tried.push(id);
    let job: Job;
    try {
      job = await startJob(handle, id, request);
    } catch (error) {
      if (errorCode(error) !== 409) {
        const failure = bigQueryError(error, request.action, handle);
        if (failure instanceof TransientError && attempt < JOB_ATTEMPTS) {
          handle.log.warn(`${failure.message}; retrying in ${Math.round(delay)} ms`);
          await sleep(delay);
          delay = Math.min(20_000, delay * 2);
          continue;
        }
        if (request.landed && (await settleAttempts(handle, request, tried).catch(() => false))) return landedMetadata(id);
        throw failure;
      }
      // The job exists: this step already ran (or is running) under this id.
      job = handle.client.job(id, { location: handle.location });
    }
    let metadata: JobMetadata;
    try {
      metadata = await waitForJob(job);
    } catch (error) {
      throw bigQueryError(error, request.action, handle);
    }
    const failure = metadata.status?.errorResult;
    if (!failure) return metadata;
    const again = isTransientReason(failure.reason ?? undefined) || (request.retryable?.(failure) ?? false);
    if (request.landed && !again && (await request.landed())) return metadata;
    if (again && attempt < JOB_ATTEMPTS) {
      handle.log.warn(`BigQuery job ${id} (${request.action}) failed with ${failure.reason}: ${failure.message}; retrying in ${Math.round(delay)} ms`);
      await sleep(delay);
      delay = Math.min(20_000, delay * 2);
      continue;
    }
    throw jobFailure(metadata, request.action, handle);
  }
}

/**
 * Before a step runs again under a new id: waits for every earlier attempt that BigQuery knows
 * to end, then asks the destination whether the step took effect. Throws when it cannot find out.
 */
async function settleAttempts(handle: BigQueryHandle, request: JobRequest, ids: readonly string[]): Promise<boolean> {
  for (const id of ids) {
    let metadata: JobMetadata | undefined;
    try {
      metadata = await waitForJob(handle.client.job(id, { location: handle.location }));
    } catch (error) {
      if (errorCode(error) === 404) continue; // never created: its answer was not the only thing lost
      throw new TransientError(
        `cannot tell whether BigQuery job ${id} (${request.action}) ran: ${bigQueryError(error, request.action, handle).message}`,
        'nothing was submitted again; the next run checks the destination and records the run if it committed',
      );
    }
    if (metadata.status?.state === 'DONE' && !metadata.status.errorResult) return true;
  }
  try {
    return await request.landed!();
  } catch (error) {
    throw new TransientError(
      `cannot tell whether ${request.action} took effect: ${bigQueryError(error, request.action, handle).message}`,
      'nothing was submitted again; the next run checks the destination and records the run if it committed',
    );
  }
}

async function startJob(handle: BigQueryHandle, id: string, request: JobRequest): Promise<Job> {
  if (!request.upload) {
    const [job] = await handle.client.createJob({ jobId: id, location: handle.location, configuration: request.configuration } as never);
    return job;
  }
  const target = request.table!;
  const table = handle.client.dataset(target.dataset, { projectId: target.project ?? handle.project, location: handle.location }).table(target.table, { location: handle.location } as never);
  const load = { ...(request.configuration.load as Record<string, unknown>), jobId: id };
  delete (load as { destinationTable?: unknown }).destinationTable;
  const source = await request.upload();
  return new Promise<Job>((resolve, reject) => {
    const writable = table.createWriteStream(load as never);
    let settled = false;
    writable.on('job', (job: Job) => {
      settled = true;
      // The client starts polling the job for 'complete'; we wait in our own loop instead.
      job.removeAllListeners('complete');
      job.on('error', () => undefined);
      resolve(job);
    });
    writable.on('error', (error: Error) => {
      source.destroy();
      if (!settled) reject(error);
    });
    source.on('error', (error) => {
      if (!settled) reject(error);
      writable.destroy(error);
    });
    source.pipe(writable);
  });
}

/** A failed job's error, with BigQuery's first row-level errors (they name the field and row). */
export function jobFailure(metadata: JobMetadata, action: string, handle: Pick<BigQueryHandle, 'name' | 'config'>): EtlError {
  const result = metadata.status?.errorResult ?? {};
  const details = (metadata.status?.errors ?? [])
    .filter((e) => e.message !== result.message)
    .slice(0, 5)
    .map((e) => `  ${e.location ? `${e.location}: ` : ''}${e.message}`);
  const message = `BigQuery job ${metadata.jobReference?.jobId} failed to ${action} (connection ${handle.name}): ${redact(result.message ?? 'unknown error')}${details.length ? `\n${details.join('\n')}` : ''}`;
  if (isTransientReason(result.reason ?? undefined)) return new TransientError(message, 'b2betl retries this on the next run; spread jobs writing the same table out in time');
  return new EtlError(message);
}

/** A query parameter value: text (or null) of a scalar type, or an array of texts. */
export type QueryParam = { type: string; value: string | null } | { type: 'ARRAY'; elementType: string; values: string[] };

/** Named query parameters in the REST shape. */
export function queryParameters(params: Record<string, QueryParam>): Record<string, unknown>[] {
  return Object.entries(params).map(([name, param]) =>
    param.type === 'ARRAY' && 'values' in param
      ? { name, parameterType: { type: 'ARRAY', arrayType: { type: param.elementType } }, parameterValue: { arrayValues: param.values.map((value) => ({ value })) } }
      : { name, parameterType: { type: param.type }, parameterValue: { value: (param as { value: string | null }).value } },
  );
}

/** Runs a query job (DML, DDL or a script) to completion. */
export async function runQuery(
  handle: BigQueryHandle,
  id: string,
  sql: string,
  action: string,
  params?: Record<string, QueryParam>,
  once?: Pick<JobRequest, 'landed' | 'retryable'>,
): Promise<JobMetadata> {
  return runJob(handle, {
    id,
    action,
    configuration: {
      query: {
        query: sql,
        useLegacySql: false,
        ...(params ? { queryParameters: queryParameters(params), parameterMode: 'NAMED' } : {}),
      },
    },
    ...once,
  });
}

/** `project.dataset.table` quoted for GoogleSQL. */
export function tablePath(project: string, dataset: string, table: string): string {
  return `\`${project}.${dataset}.${table}\``;
}

/** A column name quoted for GoogleSQL. */
export function ident(name: string): string {
  return `\`${name.replace(/`/g, '\\`')}\``;
}

/** A field of a table schema as the client types it. */
export type { TableField };

/** Fails with a ConfigError when a required connection key is missing. */
export function requireKey(value: string | undefined, key: string, connection: string): string {
  if (!value) throw ConfigError.of(`connection ${connection} needs ${key}`, `add ${key}: to the bigquery connection in etl.config.yaml`);
  return value;
}
