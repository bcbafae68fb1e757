/**
 * The desired state of Cloud Scheduler: one entry `b2betl-<job>` per job spec with a `schedule:`
 * block, computed from the spec and the config's `deploy:` block alone.
 */
import path from 'node:path';
import { resolveDeploy, type LoadedConfig, type LoadedJob } from '../core/config.js';
import { ConfigError, type ConfigIssue } from '../core/errors.js';
import { parseDuration, type DeployConfig, type ScheduleSpec } from '../core/spec.js';

/** Who calls the target and how the call proves it: an OIDC ID token or an OAuth access token. */
export interface EntryToken {
  readonly kind: 'oidc' | 'oauth';
  readonly serviceAccountEmail: string;
  /** OIDC: the audience the token is minted for. */
  readonly audience?: string;
  /** OAuth: the scope of the access token. */
  readonly scope?: string;
}

/** A Cloud Scheduler entry as b2betl reads and writes it (times in seconds). */
export interface SchedulerEntry {
  /** The entry's id within its location: `b2betl-<job>`. */
  readonly id: string;
  readonly description: string;
  readonly schedule: string;
  readonly timeZone: string;
  readonly paused: boolean;
  readonly uri: string;
  readonly httpMethod: string;
  /** The request body as text (a Cloud Run Job's overrides), or empty. */
  readonly body: string;
  readonly token?: EntryToken;
  readonly retry: { readonly count: number; readonly minBackoffS: number; readonly maxBackoffS: number };
  readonly attemptDeadlineS: number;
}

/** An entry b2betl wants, with the job spec it comes from. */
export interface DesiredEntry extends SchedulerEntry {
  readonly job: string;
  readonly file: string;
  readonly target: 'service' | 'job';
}

/** The deployment a config describes: where entries live and what they call. */
export interface Deployment {
  readonly project: string;
  readonly region: string;
  /** The Cloud Run service's name; it also names the owner in entry descriptions. */
  readonly owner: string;
  /** The Cloud Run Job run for `target: job`. */
  readonly cloudRunJob: string;
  readonly serviceUrl?: string;
  readonly audience?: string;
  readonly serviceAccount?: string;
  readonly defaultTarget: 'service' | 'job';
  readonly endpoint?: string;
  readonly config: LoadedConfig;
}

/** Every description of an entry b2betl manages starts with this. */
const OWNER_MARKER = 'managed by b2betl';
/** Cloud Scheduler entry ids are `b2betl-<job>`. */
export const ENTRY_PREFIX = 'b2betl-';
const DEFAULT_NAME = 'b2betl';
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

/** Defaults of `schedule.retry` and `schedule.attempt_deadline`. */
const SCHEDULE_DEFAULTS = {
  retry: { count: 3, min_backoff: '30s', max_backoff: '10m' },
  /** A service call lasts the whole run: Cloud Scheduler's longest wait. */
  serviceDeadline: '30m',
  /** Starting a Cloud Run Job execution answers at once. */
  jobDeadline: '3m',
} as const;

type DeployKey = 'project' | 'region' | 'service_url' | 'service_account';

/** The description prefix that marks an entry as owned by this deployment. */
export function ownerTag(owner: string): string {
  return `${OWNER_MARKER} [${owner}]`;
}

/** The audience `serve` accepts and OIDC tokens are minted for: `deploy.audience`, else the service URL. */
export function serviceAudience(deploy: DeployConfig | undefined): string | undefined {
  return deploy?.audience ?? deploy?.service_url?.replace(/\/+$/, '');
}

/** The accounts whose tokens `serve` accepts: `deploy.invokers`, else the scheduler's account. */
export function serviceInvokers(deploy: DeployConfig | undefined): string[] {
  return deploy?.invokers ?? (deploy?.service_account ? [deploy.service_account] : []);
}

/** Throws a ConfigError naming every key of `keys` missing from `deploy:`, with the config file. */
function requireDeployKeys(config: LoadedConfig, keys: readonly DeployKey[]): void {
  const deploy = resolveDeploy(config) ?? {};
  const missing = keys.filter((key) => !deploy[key]);
  if (!missing.length) return;
  const file = config.file ?? 'etl.config.yaml (none found)';
  const examples: Record<DeployKey, string> = {
    project: 'my-proj',
    region: 'europe-central2',
    service_url: 'https://b2betl-abc123-ew.a.run.app',
    service_account: 'etl-scheduler@my-proj.iam.gserviceaccount.com',
  };
  throw new ConfigError(
    missing.map((key): ConfigIssue => ({ file, path: `deploy.${key}`, message: `deploy.${key} is not set`, fix: `add deploy: { ${key}: ${examples[key]} } to the config` })),
  );
}

/** The deployment of a config; the keys of `needs` must be set (see {@link requireDeployKeys}). */
export function deploymentOf(config: LoadedConfig, needs: readonly DeployKey[]): Deployment {
  requireDeployKeys(config, needs);
  const deploy = resolveDeploy(config) ?? {};
  const owner = deploy.service ?? DEFAULT_NAME;
  return {
    project: deploy.project!,
    region: deploy.region!,
    owner,
    cloudRunJob: deploy.job ?? owner,
    serviceUrl: deploy.service_url?.replace(/\/+$/, ''),
    audience: serviceAudience(deploy),
    serviceAccount: deploy.service_account,
    defaultTarget: deploy.target ?? 'service',
    endpoint: deploy.endpoint,
    config,
  };
}

/** The one config every scheduled job shares (entries of one run all live in one place). */
export function sharedConfig(jobs: readonly LoadedJob[], fallback: LoadedConfig): LoadedConfig {
  const files = new Set(jobs.map((job) => job.config.file ?? ''));
  if (files.size > 1) {
    throw ConfigError.of(`these jobs use different configs (${[...files].map((file) => file || '(none)').join(', ')})`, 'schedule the jobs of one config at a time, or pass --config');
  }
  return jobs[0]?.config ?? fallback;
}

/** The full resource name of an entry. */
export function entryName(deployment: Pick<Deployment, 'project' | 'region'>, id: string): string {
  return `projects/${deployment.project}/locations/${deployment.region}/jobs/${id}`;
}

/** The job file as the container sees it: relative to the config's folder, with `/`. */
function containerPath(job: LoadedJob): string {
  const relative = path.relative(job.config.baseDir, job.file);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw ConfigError.of(`${job.file} is outside ${job.config.baseDir}, the folder deployed with the config`, 'keep job files under the config file\'s folder (jobs/…)', job.file);
  }
  return relative.split(path.sep).join('/');
}

const seconds = (text: string) => Math.round(parseDuration(text) / 1000);

/** The entry a scheduled job wants. */
export function desiredEntry(job: LoadedJob, schedule: ScheduleSpec, deployment: Deployment): DesiredEntry {
  const target = schedule.target ?? deployment.defaultTarget;
  const file = containerPath(job);
  const name = job.spec.name;
  const retry = { ...SCHEDULE_DEFAULTS.retry, ...schedule.retry };
  const common = {
    id: `${ENTRY_PREFIX}${name}`,
    job: name,
    file,
    target,
    description: `${ownerTag(deployment.owner)}: runs job ${name} (${file})`,
    schedule: schedule.cron.trim().split(/\s+/).join(' '),
    timeZone: schedule.timezone,
    paused: schedule.paused ?? false,
    httpMethod: 'POST',
    retry: { count: retry.count, minBackoffS: seconds(retry.min_backoff), maxBackoffS: seconds(retry.max_backoff) },
    attemptDeadlineS: seconds(schedule.attempt_deadline ?? (target === 'service' ? SCHEDULE_DEFAULTS.serviceDeadline : SCHEDULE_DEFAULTS.jobDeadline)),
  };
  const account = deployment.serviceAccount!;
  if (target === 'service') {
    requireDeployKeys(deployment.config, ['service_url']);
    return {
      ...common,
      uri: `${deployment.serviceUrl!}/jobs/${encodeURIComponent(name)}/run`,
      body: '',
      token: { kind: 'oidc', serviceAccountEmail: account, audience: deployment.audience },
    };
  }
  return {
    ...common,
    uri: `https://run.googleapis.com/v2/projects/${deployment.project}/locations/${deployment.region}/jobs/${deployment.cloudRunJob}:run`,
    body: JSON.stringify({ overrides: { containerOverrides: [{ args: ['run', file] }] } }),
    token: { kind: 'oauth', serviceAccountEmail: account, scope: CLOUD_PLATFORM_SCOPE },
  };
}

/** Every entry the jobs want (jobs without a schedule want none). */
export function desiredEntries(jobs: readonly LoadedJob[], deployment: Deployment): DesiredEntry[] {
  return jobs.flatMap((job) => (job.spec.schedule ? [desiredEntry(job, job.spec.schedule, deployment)] : []));
}
