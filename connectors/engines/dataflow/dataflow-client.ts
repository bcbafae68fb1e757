/**
 * The Dataflow API as the Dataflow engine uses it: launch a Flex Template, read, find and cancel
 * jobs, read their error messages and metrics. Calls go through @google-cloud/dataflow's REST
 * transport with Application Default Credentials, or to a test endpoint with a fixed token.
 */
import { EtlError, TransientError } from '../../../src/core/errors.js';
import { apiFailure } from '../../../src/core/google-api.js';
import { redact } from '../../../src/core/redact.js';
import { withRetry } from '../../../src/core/retry.js';

/** A Dataflow job as the engine follows it. */
export interface DataflowJob {
  readonly id: string;
  readonly name: string;
  /** `JOB_STATE_QUEUED`, `JOB_STATE_RUNNING`, `JOB_STATE_DONE`… */
  readonly state: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly createTime?: string;
}

/** The launch request body of `projects.locations.flexTemplates.launch`. */
export interface LaunchRequest {
  readonly projectId: string;
  readonly location: string;
  readonly launchParameter: {
    readonly jobName: string;
    readonly containerSpecGcsPath: string;
    readonly parameters: Readonly<Record<string, string>>;
    readonly environment: Readonly<Record<string, unknown>>;
  };
}

export interface DataflowApi {
  launch(request: LaunchRequest): Promise<DataflowJob>;
  get(id: string): Promise<DataflowJob>;
  /** Jobs of the region not yet in a terminal state. */
  active(): Promise<DataflowJob[]>;
  /** The region's most recent jobs in a terminal state (the API's first page, newest first). */
  ended(): Promise<DataflowJob[]>;
  cancel(id: string): Promise<void>;
  /** The job's error messages, oldest first. */
  errors(id: string): Promise<string[]>;
  /** Workers and rows written, when the API reports them. */
  progress(id: string): Promise<{ workers?: number; rows?: number }>;
  /** The job's page in the Cloud console. */
  consoleUrl(id: string): string;
  close(): Promise<void>;
}

/** States after which a job does nothing more. */
export const TERMINAL_STATES = new Set(['JOB_STATE_DONE', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_DRAINED', 'JOB_STATE_UPDATED', 'JOB_STATE_STOPPED']);

/** Bearer token sent to a test endpoint: no credentials leave the machine. */
const TEST_ACCESS_TOKEN = 'b2betl-test-token';

interface RawJob {
  id?: string | null;
  name?: string | null;
  currentState?: string | number | null;
  labels?: Record<string, string> | null;
  createTime?: { seconds?: string | number | null } | null;
}

const JOB_STATES = [
  'JOB_STATE_UNKNOWN', 'JOB_STATE_STOPPED', 'JOB_STATE_RUNNING', 'JOB_STATE_DONE', 'JOB_STATE_FAILED', 'JOB_STATE_CANCELLED', 'JOB_STATE_UPDATED',
  'JOB_STATE_DRAINING', 'JOB_STATE_DRAINED', 'JOB_STATE_PENDING', 'JOB_STATE_CANCELLING', 'JOB_STATE_QUEUED', 'JOB_STATE_RESOURCE_CLEANING_UP',
];

function jobOf(raw: RawJob): DataflowJob {
  const state = typeof raw.currentState === 'number' ? (JOB_STATES[raw.currentState] ?? 'JOB_STATE_UNKNOWN') : String(raw.currentState ?? 'JOB_STATE_UNKNOWN');
  return { id: String(raw.id ?? ''), name: String(raw.name ?? ''), state, labels: raw.labels ?? {}, createTime: raw.createTime?.seconds ? new Date(Number(raw.createTime.seconds) * 1000).toISOString() : undefined };
}

/** A Dataflow API failure as a message naming the API, permission or quota and the fix. */
export function dataflowError(error: unknown, action: string, where: { project: string; region: string }): EtlError {
  if (error instanceof EtlError) return error;
  const { http, body, text } = apiFailure(error);
  const message = redact(text);
  const place = `Dataflow (project ${where.project}, region ${where.region})`;
  const reason = body.details?.find((detail) => detail.reason)?.reason;
  if (http === undefined && /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EAI_AGAIN|fetch failed|socket hang up/i.test(text)) {
    return new TransientError(`cannot reach ${place} to ${action}: ${message}`, 'check the network, then run the job again');
  }
  if (reason === 'SERVICE_DISABLED' || /has not been used in project|API has not been used|is disabled/i.test(text)) {
    return new EtlError(`the Dataflow API is not enabled in project ${where.project} (while trying to ${action})`, `gcloud services enable dataflow.googleapis.com --project ${where.project}`);
  }
  if (http === 401) return new EtlError(`${place} refused the credentials while trying to ${action}: ${message}`, 'gcloud auth application-default login (or run as a service account with roles/dataflow.developer)');
  if (http === 403) {
    if (/iam\.serviceAccounts\.actAs/.test(text)) {
      return new EtlError(
        `permission iam.serviceAccounts.actAs on the workers' service account is missing (while trying to ${action}): ${message}`,
        'grant roles/iam.serviceAccountUser on dataflow.service_account to the account b2betl runs as',
      );
    }
    const permission = /(dataflow\.[a-zA-Z.]+)/.exec(text)?.[1] ?? 'dataflow.jobs.create';
    return new EtlError(
      `permission ${permission} is missing in project ${where.project} (while trying to ${action}): ${message}`,
      `gcloud projects add-iam-policy-binding ${where.project} --member=user:YOU@example.com --role=roles/dataflow.developer`,
    );
  }
  if (http === 429 || body.status === 'RESOURCE_EXHAUSTED' || /quota/i.test(text)) {
    return new EtlError(
      `${place} is out of quota while trying to ${action}: ${message}`,
      'lower dataflow.max_workers, pick another dataflow.region, or ask for more quota (IAM & Admin → Quotas: Dataflow and Compute Engine CPUs)',
    );
  }
  if (http !== undefined && http >= 500) return new TransientError(`${place} failed (${http}) while trying to ${action}: ${message}`, 'run the job again in a moment');
  return new EtlError(`${place} could not ${action} (${body.status ?? http ?? 'error'}): ${message}`);
}

/** Opens the Dataflow API of a project and region; `endpoint` is a test double's URL. */
export async function openDataflow(settings: { project: string; region: string; endpoint?: string }): Promise<DataflowApi> {
  const { v1beta3 } = await import('@google-cloud/dataflow');
  let options: Record<string, unknown> = { fallback: true, projectId: settings.project };
  if (settings.endpoint) {
    const url = new URL(settings.endpoint);
    const { OAuth2Client } = await import('google-auth-library');
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: TEST_ACCESS_TOKEN, expiry_date: Date.now() + 24 * 3_600_000 });
    options = { ...options, apiEndpoint: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), protocol: url.protocol.slice(0, -1), authClient: auth };
  }
  const templates = new v1beta3.FlexTemplatesServiceClient(options as never);
  const jobs = new v1beta3.JobsV1Beta3Client(options as never);
  const messages = new v1beta3.MessagesV1Beta3Client(options as never);
  const metrics = new v1beta3.MetricsV1Beta3Client(options as never);
  const at = { projectId: settings.project, location: settings.region };
  const call = async <T>(action: string, request: () => Promise<T>): Promise<T> => {
    try {
      return await request();
    } catch (error) {
      throw dataflowError(error, action, settings);
    }
  };
  // Reads and the cancel may be sent again after a network blip or a 5xx; a launch is not (it would start a second job).
  const again = <T>(action: string, request: () => Promise<T>): Promise<T> => withRetry(() => call(action, request), { attempts: 6 });
  const list = async (filter: 'ACTIVE'): Promise<DataflowJob[]> => {
    const found: DataflowJob[] = [];
    for await (const job of jobs.listJobsAsync({ ...at, filter } as never)) found.push(jobOf(job as RawJob));
    return found;
  };
  return {
    launch: (request) =>
      call(`launch ${request.launchParameter.jobName}`, async () => {
        const [response] = await templates.launchFlexTemplate(request as never);
        return jobOf((response.job ?? {}) as RawJob);
      }),
    get: (id) => again(`read job ${id}`, async () => jobOf((await jobs.getJob({ ...at, jobId: id }))[0] as RawJob)),
    active: () => again('list the active jobs', () => list('ACTIVE')),
    ended: () =>
      again('list the ended jobs', async () => {
        const [page] = await jobs.listJobs({ ...at, filter: 'TERMINATED', pageSize: 100 } as never, { autoPaginate: false });
        return (page as RawJob[]).map(jobOf);
      }),
    cancel: (id) =>
      again(`cancel job ${id}`, async () => {
        await jobs.updateJob({ ...at, jobId: id, job: { requestedState: 'JOB_STATE_CANCELLED' } } as never);
      }),
    errors: (id) =>
      again(`read the messages of job ${id}`, async () => {
        const texts: string[] = [];
        for await (const message of messages.listJobMessagesAsync({ ...at, jobId: id, minimumImportance: 'JOB_MESSAGE_ERROR' } as never)) {
          if (message.messageText) texts.push(message.messageText);
        }
        return texts;
      }),
    progress: (id) =>
      again(`read the metrics of job ${id}`, async () => {
        const [result] = await metrics.getJobMetrics({ ...at, jobId: id });
        let workers: number | undefined;
        let rows: number | undefined;
        for (const metric of result.metrics ?? []) {
          const value = Number((metric.scalar as { numberValue?: number } | null)?.numberValue ?? metric.scalar ?? NaN);
          if (!Number.isFinite(value)) continue;
          if (metric.name?.name === 'CurrentWorkers') workers = value;
          if (metric.name?.name === 'ElementCount' && /BigQuery/i.test(String(metric.name.context?.output_user_name ?? ''))) rows = value;
        }
        return { workers, rows };
      }),
    consoleUrl: (id) => `https://console.cloud.google.com/dataflow/jobs/${settings.region}/${id}?project=${settings.project}`,
    close: async () => {
      await Promise.all([templates.close(), jobs.close(), messages.close(), metrics.close()]);
    },
  };
}
