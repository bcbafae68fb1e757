/**
 * A strict in-process test double of the Cloud Scheduler v1 REST API, served on 127.0.0.1 for
 * the real `@google-cloud/scheduler` client (REST transport, `apiEndpoint`). It keeps the
 * service's rules: resource name formats, unix-cron schedules and IANA time zones, http(s)
 * target URIs, a service account for every token, retry and deadline limits, update masks,
 * defaults filled in, paging, `ALREADY_EXISTS` / `NOT_FOUND` / `INVALID_ARGUMENT` answers in
 * the API's error shape, and enums as numbers when the client asks for `enum-encoding=int`.
 */
import { Cron } from 'croner';
import { ApiFailure, invalid, serveRest, type InjectedFailure, type SeenRequest } from './google-rest-double.js';

export type { InjectedFailure, SeenRequest };

/** A Cloud Scheduler job as the double stores it (the REST JSON shape, enums as names). */
export interface StoredJob {
  name: string;
  description: string;
  schedule: string;
  timeZone: string;
  state: 'ENABLED' | 'PAUSED' | 'DISABLED' | 'UPDATE_FAILED';
  httpTarget?: {
    uri: string;
    httpMethod: string;
    headers: Record<string, string>;
    body?: string;
    oidcToken?: { serviceAccountEmail: string; audience?: string };
    oauthToken?: { serviceAccountEmail: string; scope?: string };
  };
  pubsubTarget?: { topicName: string; data?: string };
  retryConfig: { retryCount: number; maxRetryDuration: string; minBackoffDuration: string; maxBackoffDuration: string; maxDoublings: number };
  attemptDeadline: string;
  userUpdateTime: string;
  scheduleTime?: string;
}

export interface SchedulerDouble {
  /** `http://127.0.0.1:<port>`, for `deploy.endpoint`. */
  readonly endpoint: string;
  readonly requests: SeenRequest[];
  /** The stored jobs by full name. */
  jobs(): StoredJob[];
  job(name: string): StoredJob | undefined;
  /** Stores a job directly (someone else's entry), with the API's defaults filled in. */
  seed(job: Partial<StoredJob> & Pick<StoredJob, 'name' | 'schedule'>): void;
  /** Sees each request first; an answer returned is sent instead of serving it. */
  intercept(handler: ((request: SeenRequest) => InjectedFailure | undefined) | undefined): void;
  stop(): Promise<void>;
}

const STATES = ['STATE_UNSPECIFIED', 'ENABLED', 'PAUSED', 'DISABLED', 'UPDATE_FAILED'] as const;
const HTTP_METHODS = ['HTTP_METHOD_UNSPECIFIED', 'POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
const NAME = /^projects\/([^/]+)\/locations\/([^/]+)\/jobs\/([^/]+)$/;
const PARENT = /^projects\/([^/]+)\/locations\/([^/]+)$/;
const JOB_ID = /^[A-Za-z0-9_-]{1,500}$/;
/** Update-mask paths the API accepts (snake_case and camelCase alike). */
const UPDATABLE = new Map([
  ['description', 'description'],
  ['schedule', 'schedule'],
  ['time_zone', 'timeZone'],
  ['timeZone', 'timeZone'],
  ['http_target', 'httpTarget'],
  ['httpTarget', 'httpTarget'],
  ['retry_config', 'retryConfig'],
  ['retryConfig', 'retryConfig'],
  ['attempt_deadline', 'attemptDeadline'],
  ['attemptDeadline', 'attemptDeadline'],
]);
const DEFAULT_RETRY = { retryCount: 0, maxRetryDuration: '0s', minBackoffDuration: '5s', maxBackoffDuration: '3600s', maxDoublings: 5 };

/** Seconds of a protobuf JSON duration (`"30s"`, `"1.5s"`); throws INVALID_ARGUMENT otherwise. */
function durationSeconds(value: unknown, field: string): number {
  if (typeof value !== 'string' || !/^\d+(\.\d{1,9})?s$/.test(value)) throw invalid(`Invalid value at '${field}' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(value)}`);
  return Number(value.slice(0, -1));
}

/** A unix-cron schedule as Cloud Scheduler accepts it: five fields, no Quartz extensions. */
function validSchedule(schedule: string, timeZone: string): boolean {
  const fields = schedule.trim().split(/\s+/);
  const names = /\b(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT)\b/g;
  if (fields.length !== 5 || /[LW#?@]/i.test(schedule.replace(names, ''))) return false;
  try {
    new Cron(schedule, { timezone: timeZone, mode: '5-part' });
    return true;
  } catch {
    return false;
  }
}

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return /^[A-Za-z]/.test(zone);
  } catch {
    return false;
  }
}

function enumName<T extends readonly string[]>(values: T, value: unknown, field: string): T[number] {
  if (typeof value === 'number' && values[value]) return values[value];
  if (typeof value === 'string' && values.includes(value)) return value;
  throw invalid(`Invalid value at '${field}', ${JSON.stringify(value)}`);
}

/** Checks and normalizes an incoming job's target, retry config and deadline (fills defaults). */
function normalizeJob(input: Record<string, unknown>, current?: StoredJob): Omit<StoredJob, 'name' | 'state' | 'userUpdateTime'> {
  const schedule = String(input.schedule ?? current?.schedule ?? '');
  if (!schedule) throw invalid('Job schedule must be specified.');
  const timeZone = String(input.timeZone || current?.timeZone || 'Etc/UTC');
  if (!validTimeZone(timeZone)) throw invalid(`Invalid time zone specified: ${timeZone}.`);
  if (!validSchedule(schedule, timeZone)) throw invalid('Schedule or time zone is invalid.');
  const target = (input.httpTarget ?? current?.httpTarget) as Record<string, unknown> | undefined;
  const pubsub = (input.pubsubTarget ?? current?.pubsubTarget) as StoredJob['pubsubTarget'];
  if (!target && !pubsub) throw invalid('Job must have a target: http_target, pubsub_target or app_engine_http_target.');
  let httpTarget: StoredJob['httpTarget'];
  if (target) {
    const uri = String(target.uri ?? '');
    if (!/^https?:\/\/[^/\s]+/.test(uri)) throw invalid(`HttpTarget.uri must start with 'http://' or 'https://': "${uri}".`);
    const httpMethod = target.httpMethod === undefined ? 'POST' : enumName(HTTP_METHODS, target.httpMethod, 'job.http_target.http_method');
    if (httpMethod === 'HTTP_METHOD_UNSPECIFIED') throw invalid('HttpTarget.http_method must be specified.');
    const body = typeof target.body === 'string' && target.body ? target.body : undefined;
    if (body && !['POST', 'PUT', 'PATCH'].includes(httpMethod)) throw invalid('HttpTarget.body is allowed only for POST, PUT and PATCH.');
    const oidc = target.oidcToken as Record<string, unknown> | undefined;
    const oauth = target.oauthToken as Record<string, unknown> | undefined;
    if (oidc && oauth) throw invalid('HttpTarget may specify only one of oidc_token and oauth_token.');
    for (const [token, label] of [[oidc, 'oidc_token'], [oauth, 'oauth_token']] as const) {
      if (token && !(typeof token.serviceAccountEmail === 'string' && /^[^@\s]+@[^@\s]+$/.test(token.serviceAccountEmail))) {
        throw invalid(`HttpTarget.${label}.service_account_email must be a service account email.`);
      }
    }
    httpTarget = {
      uri,
      httpMethod,
      headers: (target.headers as Record<string, string> | undefined) ?? {},
      ...(body ? { body } : {}),
      ...(oidc ? { oidcToken: { serviceAccountEmail: String(oidc.serviceAccountEmail), ...(oidc.audience ? { audience: String(oidc.audience) } : {}) } } : {}),
      ...(oauth ? { oauthToken: { serviceAccountEmail: String(oauth.serviceAccountEmail), scope: String(oauth.scope || 'https://www.googleapis.com/auth/cloud-platform') } } : {}),
    };
  }
  const retryInput = (input.retryConfig ?? current?.retryConfig ?? {}) as Record<string, unknown>;
  const retryConfig = { ...DEFAULT_RETRY, ...Object.fromEntries(Object.entries(retryInput).filter(([, value]) => value !== undefined && value !== null)) } as StoredJob['retryConfig'];
  if (!Number.isInteger(retryConfig.retryCount) || retryConfig.retryCount < 0 || retryConfig.retryCount > 5) throw invalid('RetryConfig.retry_count must be between 0 and 5.');
  const min = durationSeconds(retryConfig.minBackoffDuration, 'job.retry_config.min_backoff_duration');
  const max = durationSeconds(retryConfig.maxBackoffDuration, 'job.retry_config.max_backoff_duration');
  durationSeconds(retryConfig.maxRetryDuration, 'job.retry_config.max_retry_duration');
  if (min > max) throw invalid('RetryConfig.min_backoff_duration must not exceed max_backoff_duration.');
  const attemptDeadline = String(input.attemptDeadline ?? current?.attemptDeadline ?? '180s');
  const deadline = durationSeconds(attemptDeadline, 'job.attempt_deadline');
  if (httpTarget && (deadline < 15 || deadline > 1800)) throw invalid('The attempt deadline for an HTTP target must be between 15 seconds and 30 minutes.');
  return {
    description: String(input.description ?? current?.description ?? ''),
    schedule,
    timeZone,
    ...(httpTarget ? { httpTarget } : {}),
    ...(pubsub && !httpTarget ? { pubsubTarget: pubsub } : {}),
    retryConfig,
    attemptDeadline,
  };
}

function nextFire(job: Pick<StoredJob, 'schedule' | 'timeZone'>): string | undefined {
  return new Cron(job.schedule, { timezone: job.timeZone, mode: '5-part' }).nextRun()?.toISOString();
}

/** The job as the API answers: enums as numbers when the client asked for them. */
function present(job: StoredJob, numericEnums: boolean): unknown {
  if (!numericEnums) return job;
  return {
    ...job,
    state: STATES.indexOf(job.state),
    ...(job.httpTarget ? { httpTarget: { ...job.httpTarget, httpMethod: HTTP_METHODS.indexOf(job.httpTarget.httpMethod as (typeof HTTP_METHODS)[number]) } } : {}),
  };
}

/** Starts the double on a free port. `maxPage` caps list pages (the service may return fewer than asked). */
export async function startSchedulerDouble(options: { maxPage?: number } = {}): Promise<SchedulerDouble> {
  const store = new Map<string, StoredJob>();
  const requests: SeenRequest[] = [];
  const maxPage = options.maxPage ?? 500;
  let interceptor: ((request: SeenRequest) => InjectedFailure | undefined) | undefined;

  const find = (name: string): StoredJob => {
    const job = store.get(name);
    if (!job) throw new ApiFailure(404, 'Job not found.');
    return job;
  };

  const serve = (method: string, path: string, query: Record<string, string>, body: Record<string, unknown>): unknown => {
    const action = /^(.*):(pause|resume|run)$/.exec(path);
    if (action && method === 'POST') {
      const job = find(action[1]);
      if (action[2] === 'pause' && job.state === 'ENABLED') job.state = 'PAUSED';
      if (action[2] === 'resume' && job.state !== 'ENABLED') {
        if (job.state === 'UPDATE_FAILED') throw new ApiFailure(412, 'Job is in UPDATE_FAILED state; update it first.');
        job.state = 'ENABLED';
      }
      return job;
    }
    if (PARENT.test(path.replace(/\/jobs$/, '')) && path.endsWith('/jobs')) {
      const parent = path.slice(0, -'/jobs'.length);
      if (method === 'POST') {
        const name = String(body.name ?? '');
        const match = NAME.exec(name);
        if (!match || `projects/${match[1]}/locations/${match[2]}` !== parent) throw invalid(`Job name must be of the form ${parent}/jobs/JOB_ID: "${name}".`);
        if (!JOB_ID.test(match[3])) throw invalid(`Job id must match [A-Za-z0-9_-]{1,500}: "${match[3]}".`);
        if (store.has(name)) throw new ApiFailure(409, `Job ${name} already exists.`);
        if (body.state !== undefined && body.state !== 0 && body.state !== 'STATE_UNSPECIFIED') throw invalid('Job.state is output only.');
        const job: StoredJob = { name, state: 'ENABLED', userUpdateTime: new Date().toISOString(), ...normalizeJob(body) };
        job.scheduleTime = nextFire(job);
        store.set(name, job);
        return job;
      }
      if (method === 'GET') {
        const pageSize = query.pageSize === undefined ? maxPage : Number(query.pageSize);
        if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > 500) throw invalid('page_size must be between 0 and 500.');
        const names = [...store.keys()].filter((name) => name.startsWith(`${parent}/jobs/`)).sort();
        let start = 0;
        if (query.pageToken) {
          const decoded = Buffer.from(query.pageToken, 'base64url').toString('utf8');
          if (!decoded.startsWith('after:')) throw invalid('Invalid page token.');
          start = names.findIndex((name) => name > decoded.slice('after:'.length));
          if (start < 0) start = names.length;
        }
        const page = names.slice(start, start + Math.min(pageSize || maxPage, maxPage));
        const more = start + page.length < names.length;
        return { jobs: page.map((name) => store.get(name)!), ...(more ? { nextPageToken: Buffer.from(`after:${page.at(-1)}`).toString('base64url') } : {}) };
      }
    }
    if (NAME.test(path)) {
      if (method === 'GET') return find(path);
      if (method === 'DELETE') {
        find(path);
        store.delete(path);
        return {};
      }
      if (method === 'PATCH') {
        const current = find(path);
        if (body.name !== undefined && body.name !== path) throw invalid('Job.name does not match the name in the URL.');
        const mask = (query.updateMask ?? '').split(',').filter(Boolean);
        const fields = mask.length ? mask : [...new Set(UPDATABLE.values())].filter((field) => body[field] !== undefined);
        const patch: Record<string, unknown> = {};
        for (const path of fields) {
          const field = UPDATABLE.get(path) ?? (UPDATABLE.has(path.split('.')[0]) ? UPDATABLE.get(path.split('.')[0]) : undefined);
          if (!field) throw invalid(`Invalid update mask path "${path}": it is not a field of Job or cannot be updated.`);
          patch[field] = body[field];
        }
        const next: StoredJob = { ...current, ...normalizeJob(patch, current), name: path, state: current.state, userUpdateTime: new Date().toISOString() };
        next.scheduleTime = nextFire(next);
        store.set(path, next);
        return next;
      }
    }
    throw new ApiFailure(404, `No such method or resource: ${method} /v1/${path}.`);
  };

  const server = await serveRest({
    prefix: '/v1/',
    requests,
    intercept: (seen) => interceptor?.(seen),
    serve: (method, path, query, body, numericEnums) => {
      const result = serve(method, path, query, body);
      const isJob = typeof result === 'object' && result !== null && 'name' in result;
      const list = result as { jobs?: StoredJob[] };
      return isJob ? present(result as StoredJob, numericEnums) : list.jobs ? { ...list, jobs: list.jobs.map((job) => present(job, numericEnums)) } : result;
    },
  });
  return {
    endpoint: server.endpoint,
    requests,
    jobs: () => [...store.values()],
    job: (name) => store.get(name),
    seed: (job) => {
      const stored: StoredJob = { state: 'ENABLED', userUpdateTime: new Date().toISOString(), ...normalizeJob(job as unknown as Record<string, unknown>), name: job.name, ...(job.state ? { state: job.state } : {}) };
      store.set(job.name, stored);
    },
    intercept: (handler) => (interceptor = handler),
    stop: () => server.stop(),
  };
}
