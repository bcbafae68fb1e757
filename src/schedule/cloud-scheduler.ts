/**
 * The Cloud Scheduler adapter: b2betl's entries in and out of the API through
 * @google-cloud/scheduler (its REST transport), and API errors turned into messages that name
 * the missing permission or API and the gcloud command that fixes it.
 */
import type { protos } from '@google-cloud/scheduler';
import { EtlError, TransientError } from '../core/errors.js';
import { apiFailure } from '../core/google-api.js';
import { redact } from '../core/redact.js';
import { entryName, type Deployment, type SchedulerEntry } from './desired.js';

type ApiJob = protos.google.cloud.scheduler.v1.IJob;

/** An entry as Cloud Scheduler holds it, with what only the service knows. */
export interface ActualEntry extends SchedulerEntry {
  /** ENABLED, PAUSED, DISABLED or UPDATE_FAILED. */
  readonly state: string;
  readonly lastAttemptTime?: string;
  /** The last attempt's status code (0 is OK), when there was one. */
  readonly lastStatus?: number;
}

/** The fields of an entry a plan compares, by the name shown to users. */
const ENTRY_FIELDS = ['description', 'schedule', 'time zone', 'target URI', 'HTTP method', 'body', 'token', 'audience', 'service account', 'retry config', 'deadline'] as const;
export type EntryField = (typeof ENTRY_FIELDS)[number];

/** The API's update-mask path of each field. */
const MASK: Record<EntryField, string> = {
  description: 'description',
  schedule: 'schedule',
  'time zone': 'time_zone',
  'target URI': 'http_target',
  'HTTP method': 'http_target',
  body: 'http_target',
  token: 'http_target',
  audience: 'http_target',
  'service account': 'http_target',
  'retry config': 'retry_config',
  deadline: 'attempt_deadline',
};

/** What b2betl asks of Cloud Scheduler. */
export interface SchedulerApi {
  /** Every entry in the deployment's location, b2betl's or not. */
  list(): Promise<ActualEntry[]>;
  create(entry: SchedulerEntry): Promise<void>;
  update(entry: SchedulerEntry, fields: readonly EntryField[]): Promise<void>;
  remove(id: string): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  close(): Promise<void>;
}

/** Bearer token sent to a test endpoint (`deploy.endpoint`): no credentials leave the machine. */
export const TEST_ACCESS_TOKEN = 'b2betl-test-token';

/** Opens the Cloud Scheduler API for a deployment (Application Default Credentials, or a test endpoint). */
export async function openScheduler(deployment: Deployment): Promise<SchedulerApi> {
  const { CloudSchedulerClient } = await import('@google-cloud/scheduler');
  let options: ConstructorParameters<typeof CloudSchedulerClient>[0] = { fallback: true, projectId: deployment.project };
  if (deployment.endpoint) {
    const url = new URL(deployment.endpoint);
    const { OAuth2Client } = await import('google-auth-library');
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: TEST_ACCESS_TOKEN, expiry_date: Date.now() + 24 * 3_600_000 });
    options = { ...options, apiEndpoint: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), protocol: url.protocol.slice(0, -1), authClient: auth as never };
  }
  const client = new CloudSchedulerClient(options);
  const parent = `projects/${deployment.project}/locations/${deployment.region}`;
  const name = (id: string) => entryName(deployment, id);
  const call = async <T>(action: string, request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      throw schedulerError(error, action, deployment);
    }
  };
  return {
    list: () =>
      call(`list the entries of ${parent}`, async () => {
        const entries: ActualEntry[] = [];
        for await (const job of client.listJobsAsync({ parent, pageSize: 500 }, { autoPaginate: false })) entries.push(fromApi(job));
        return entries;
      }),
    create: (entry) => call(`create ${entry.id}`, async () => void (await client.createJob({ parent, job: toApi(entry, name(entry.id)) }))),
    update: (entry, fields) =>
      call(`update ${entry.id}`, async () => void (await client.updateJob({ job: toApi(entry, name(entry.id)), updateMask: { paths: [...new Set(fields.map((field) => MASK[field]))] } }))),
    remove: (id) => call(`delete ${id}`, async () => void (await client.deleteJob({ name: name(id) }))),
    pause: (id) => call(`pause ${id}`, async () => void (await client.pauseJob({ name: name(id) }))),
    resume: (id) => call(`resume ${id}`, async () => void (await client.resumeJob({ name: name(id) }))),
    close: () => client.close(),
  };
}

const durationSeconds = (duration: protos.google.protobuf.IDuration | null | undefined): number => Number(duration?.seconds ?? 0) + Number(duration?.nanos ?? 0) / 1e9;

/** An API job as b2betl compares it. */
function fromApi(job: ApiJob): ActualEntry {
  const target = job.httpTarget;
  const oidc = target?.oidcToken;
  const oauth = target?.oauthToken;
  const token = oidc?.serviceAccountEmail
    ? { kind: 'oidc' as const, serviceAccountEmail: oidc.serviceAccountEmail, audience: oidc.audience ?? undefined }
    : oauth?.serviceAccountEmail
      ? { kind: 'oauth' as const, serviceAccountEmail: oauth.serviceAccountEmail, scope: oauth.scope ?? undefined }
      : undefined;
  const state = String(job.state ?? 'STATE_UNSPECIFIED');
  const lastAttempt = job.lastAttemptTime?.seconds ? new Date(Number(job.lastAttemptTime.seconds) * 1000).toISOString() : undefined;
  return {
    id: String(job.name ?? '').split('/').pop() ?? '',
    description: job.description ?? '',
    schedule: job.schedule ?? '',
    timeZone: job.timeZone ?? '',
    paused: state === 'PAUSED',
    state,
    uri: target?.uri ?? '',
    httpMethod: String(target?.httpMethod ?? ''),
    body: target?.body ? Buffer.from(target.body).toString('utf8') : '',
    token,
    retry: {
      count: job.retryConfig?.retryCount ?? 0,
      minBackoffS: durationSeconds(job.retryConfig?.minBackoffDuration),
      maxBackoffS: durationSeconds(job.retryConfig?.maxBackoffDuration),
    },
    attemptDeadlineS: durationSeconds(job.attemptDeadline),
    ...(lastAttempt ? { lastAttemptTime: lastAttempt, lastStatus: job.status?.code ?? 0 } : {}),
  };
}

/** An entry as the API takes it. */
function toApi(entry: SchedulerEntry, name: string): ApiJob {
  const token = entry.token;
  return {
    name,
    description: entry.description,
    schedule: entry.schedule,
    timeZone: entry.timeZone,
    httpTarget: {
      uri: entry.uri,
      httpMethod: entry.httpMethod as never,
      ...(entry.body ? { body: Buffer.from(entry.body), headers: { 'Content-Type': 'application/json' } } : {}),
      ...(token?.kind === 'oidc' ? { oidcToken: { serviceAccountEmail: token.serviceAccountEmail, audience: token.audience } } : {}),
      ...(token?.kind === 'oauth' ? { oauthToken: { serviceAccountEmail: token.serviceAccountEmail, scope: token.scope } } : {}),
    },
    retryConfig: {
      retryCount: entry.retry.count,
      minBackoffDuration: { seconds: entry.retry.minBackoffS },
      maxBackoffDuration: { seconds: entry.retry.maxBackoffS },
    },
    attemptDeadline: { seconds: entry.attemptDeadlineS },
  };
}

/** The error body Google APIs answer with. */
/** A Cloud Scheduler failure as a message naming the fix. */
export function schedulerError(error: unknown, action: string, deployment: Pick<Deployment, 'project' | 'region' | 'serviceAccount'>): EtlError {
  if (error instanceof EtlError) return error;
  const { http, body, text } = apiFailure(error);
  const message = redact(text);
  const project = deployment.project;
  const where = `Cloud Scheduler (project ${project}, region ${deployment.region})`;
  const reason = body.details?.find((detail) => detail.reason)?.reason;
  if (http === undefined && /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EAI_AGAIN|fetch failed|socket hang up/i.test(text)) {
    return new TransientError(`cannot reach ${where} to ${action}: ${message}`, 'check the network (and deploy.endpoint, if set)');
  }
  if (reason === 'SERVICE_DISABLED' || /has not been used in project|API has not been used|is disabled/i.test(text)) {
    return new EtlError(`the Cloud Scheduler API is not enabled in project ${project} (while trying to ${action})`, `gcloud services enable cloudscheduler.googleapis.com --project ${project}`);
  }
  if (http === 401) {
    return new EtlError(`${where} refused the credentials while trying to ${action}: ${message}`, 'gcloud auth application-default login (or run where a service account with roles/cloudscheduler.admin is attached)');
  }
  if (http === 403) {
    if (/iam\.serviceAccounts\.actAs/.test(text)) {
      const account = deployment.serviceAccount ?? 'SCHEDULER_ACCOUNT';
      return new EtlError(
        `permission iam.serviceAccounts.actAs on ${account} is missing: Cloud Scheduler entries call as that account (while trying to ${action})`,
        `gcloud iam service-accounts add-iam-policy-binding ${account} --project ${project} --member=user:YOU@example.com --role=roles/iam.serviceAccountUser`,
      );
    }
    const permission = /(cloudscheduler\.[a-zA-Z.]+)/.exec(text)?.[1] ?? 'cloudscheduler.jobs.*';
    return new EtlError(
      `permission ${permission} is missing in project ${project} (while trying to ${action}): ${message}`,
      `gcloud projects add-iam-policy-binding ${project} --member=user:YOU@example.com --role=roles/cloudscheduler.admin`,
    );
  }
  if (http === 404 && /locations/.test(text)) {
    return new EtlError(`${where} has no such location (while trying to ${action}): ${message}`, 'set deploy.region to a Cloud Scheduler region, e.g. europe-central2');
  }
  if (http === 429 || (http !== undefined && http >= 500)) {
    return new TransientError(`${where} is busy (${http}) while trying to ${action}: ${message}`, 'run the command again in a moment');
  }
  return new EtlError(`${where} could not ${action} (${body.status ?? http ?? 'error'}): ${message}`);
}
