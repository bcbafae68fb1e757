/**
 * `deploy print`: the gcloud commands that take a config to Cloud Run, in the order they must
 * run — APIs, service accounts, IAM, image, service (and Cloud Run Job), then the scheduler
 * entries. Everything is derived from the config; nothing secret is printed (variables are
 * named, never expanded).
 */
import { readFileSync } from 'node:fs';
import { resolveDeploy, type LoadedConfig, type LoadedJob } from '../core/config.js';
import type { ConnectionConfig } from '../core/spec.js';
import { deploymentOf } from './desired.js';

/** One step: what it is for, and its commands (lines starting with `#` are comments). */
export interface DeployStep {
  readonly title: string;
  readonly commands: readonly string[];
}

/** A shell word, quoted when it needs to be. */
function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const command = (...words: string[]) => words.map(sh).join(' ');

/** `${VAR}` names the config file reads (its text, not the interpolated values). */
function configVariables(config: LoadedConfig): string[] {
  if (!config.file) return [];
  const text = readFileSync(config.file, 'utf8');
  const names = [...text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((match) => match[1]);
  return [...new Set(names)].sort();
}

/** `SHOP_PG_URL` → the secret `shop-pg-url`. */
const secretNameOf = (variable: string) => variable.toLowerCase().replace(/_/g, '-');

function secretReferences(connections: readonly ConnectionConfig[]): { project: string; secret: string }[] {
  const found = connections.flatMap((connection) => Object.values(connection).filter((value): value is string => typeof value === 'string' && value.startsWith('secret://')));
  return [...new Set(found)].flatMap((reference) => {
    const match = /^secret:\/\/projects\/([^/]+)\/secrets\/([^/]+)/.exec(reference);
    return match ? [{ project: match[1], secret: match[2] }] : [];
  });
}

/** The steps for a config and its jobs. */
export function deploySteps(config: LoadedConfig, jobs: readonly LoadedJob[]): DeployStep[] {
  const deployment = deploymentOf(config, ['project', 'region']);
  const deploy = resolveDeploy(config) ?? {};
  const { project, region } = deployment;
  const domain = `${project}.iam.gserviceaccount.com`;
  const runtime = deploy.runtime_service_account ?? `b2betl-runtime@${domain}`;
  const scheduler = deploy.service_account ?? `b2betl-scheduler@${domain}`;
  const image = deploy.image ?? `${region}-docker.pkg.dev/${project}/b2betl/${deployment.owner}:latest`;
  const at = ['--project', project];
  const connections = Object.values(config.config.connections);
  const usesJobs = jobs.some((job) => (job.spec.schedule?.target ?? deploy.target ?? 'service') === 'job') || deploy.target === 'job';
  const variables = configVariables(config);
  const secrets = secretReferences(connections);

  const apis = ['run.googleapis.com', 'cloudscheduler.googleapis.com', 'artifactregistry.googleapis.com', 'cloudbuild.googleapis.com', 'iamcredentials.googleapis.com'];
  if (connections.some((c) => c.type === 'bigquery')) apis.push('bigquery.googleapis.com');
  if (secrets.length || variables.length) apis.push('secretmanager.googleapis.com');

  const accounts = [runtime, scheduler].filter((account) => account.endsWith(`@${domain}`));
  const member = (account: string) => `--member=serviceAccount:${account}`;

  const iam: string[] = ['# what b2betl reads and writes, as the runtime account'];
  const bqProjects = new Set<string>();
  for (const connection of connections) {
    if (connection.type === 'bigquery') {
      bqProjects.add(connection.project);
      iam.push(command('bq', 'add-iam-policy-binding', member(runtime), '--role=roles/bigquery.dataEditor', `${connection.project}:${connection.dataset}`));
      if (connection.staging) iam.push(command('gcloud', 'storage', 'buckets', 'add-iam-policy-binding', connection.staging.replace(/^(gs:\/\/[^/]+).*$/, '$1'), member(runtime), '--role=roles/storage.objectAdmin'));
    }
    if (connection.type === 'gcs') iam.push(command('gcloud', 'storage', 'buckets', 'add-iam-policy-binding', `gs://${connection.bucket}`, member(runtime), '--role=roles/storage.objectViewer'));
    if (connection.type === 'firestore') iam.push(command('gcloud', 'projects', 'add-iam-policy-binding', connection.project, member(runtime), '--role=roles/datastore.viewer'));
  }
  for (const bqProject of bqProjects) iam.push(command('gcloud', 'projects', 'add-iam-policy-binding', bqProject, member(runtime), '--role=roles/bigquery.jobUser'));
  const ledgerBucket = config.ledger.startsWith('gs://') ? config.ledger.replace(/^(gs:\/\/[^/]+).*$/, '$1') : undefined;
  if (ledgerBucket) iam.push(command('gcloud', 'storage', 'buckets', 'add-iam-policy-binding', ledgerBucket, member(runtime), '--role=roles/storage.objectAdmin'));
  else iam.push(`# the ledger is ${config.ledger}, a local file: set ledger: gs://<bucket>/b2betl/ledger.sqlite first (serve refuses a local ledger on Cloud Run)`);
  for (const { project: secretProject, secret } of secrets) {
    iam.push(command('gcloud', 'secrets', 'add-iam-policy-binding', secret, '--project', secretProject, member(runtime), '--role=roles/secretmanager.secretAccessor'));
  }
  for (const variable of variables) {
    iam.push(command('gcloud', 'secrets', 'add-iam-policy-binding', secretNameOf(variable), ...at, member(runtime), '--role=roles/secretmanager.secretAccessor'));
  }
  iam.push('# Cloud Scheduler mints the tokens of the scheduler account: its service agent needs Token Creator on it');
  iam.push(`PROJECT_NUMBER=$(gcloud projects describe ${sh(project)} --format='value(projectNumber)')`);
  iam.push(`${command('gcloud', 'iam', 'service-accounts', 'add-iam-policy-binding', scheduler, ...at)} --member="serviceAccount:service-\${PROJECT_NUMBER}@gcp-sa-cloudscheduler.iam.gserviceaccount.com" --role=roles/iam.serviceAccountTokenCreator`);
  iam.push('# you deploy as the runtime account and create entries that call as the scheduler account');
  for (const account of [runtime, scheduler]) {
    iam.push(`${command('gcloud', 'iam', 'service-accounts', 'add-iam-policy-binding', account, ...at)} --member="user:$(gcloud config get-value account)" --role=roles/iam.serviceAccountUser`);
  }

  const secretFlags = variables.length ? [`--set-secrets=${variables.map((variable) => `${variable}=${secretNameOf(variable)}:latest`).join(',')}`] : [];
  const build: string[] = [
    command('gcloud', 'artifacts', 'repositories', 'create', 'b2betl', '--repository-format=docker', '--location', region, ...at),
    '# from the folder holding the Dockerfile (templates/cloudrun/Dockerfile), etl.config.yaml and jobs/',
    command('gcloud', 'builds', 'submit', '.', '--tag', image, ...at),
  ];
  const deployService = [
    command('gcloud', 'run', 'deploy', deployment.owner, '--image', image, '--region', region, ...at, '--service-account', runtime, '--no-allow-unauthenticated', '--timeout=3600', '--memory=2Gi', '--cpu=2', '--concurrency=8', ...secretFlags),
    command('gcloud', 'run', 'services', 'add-iam-policy-binding', deployment.owner, '--region', region, ...at, member(scheduler), '--role=roles/run.invoker'),
    `# put the service URL in the config as deploy.service_url: ${command('gcloud', 'run', 'services', 'describe', deployment.owner, '--region', region, ...at)} --format='value(status.url)'`,
  ];
  const steps: DeployStep[] = [
    ...(variables.length
      ? [{ title: `secrets the config reads (${variables.map((v) => `\${${v}}`).join(', ')})`, commands: variables.map((variable) => `printf %s "$${variable}" | ${command('gcloud', 'secrets', 'create', secretNameOf(variable), '--data-file=-', ...at)}`) }]
      : []),
    { title: 'enable the APIs', commands: [command('gcloud', 'services', 'enable', ...apis, ...at)] },
    {
      title: 'create the runtime and scheduler service accounts',
      commands: accounts.length
        ? accounts.map((account) => command('gcloud', 'iam', 'service-accounts', 'create', account.split('@')[0], '--display-name', account === runtime ? 'b2betl runtime' : 'b2betl scheduler', ...at))
        : ['# both accounts are given in the config and live in another project'],
    },
    { title: 'grant access (IAM)', commands: iam },
    { title: 'build the image', commands: build },
    { title: `deploy the Cloud Run service ${deployment.owner} (private: only invokers' tokens get in)`, commands: deployService },
  ];
  if (usesJobs) {
    steps.push({
      title: `deploy the Cloud Run Job ${deployment.cloudRunJob} (schedule.target: job, for runs longer than 30 minutes)`,
      commands: [
        command('gcloud', 'run', 'jobs', 'deploy', deployment.cloudRunJob, '--image', image, '--region', region, ...at, '--service-account', runtime, '--command=b2betl', '--args=run,jobs/', '--task-timeout=6h', '--max-retries=1', '--memory=2Gi', '--cpu=2', ...secretFlags),
        command('gcloud', 'run', 'jobs', 'add-iam-policy-binding', deployment.cloudRunJob, '--region', region, ...at, member(scheduler), '--role=roles/run.jobsExecutorWithOverrides'),
      ],
    });
  }
  steps.push({ title: 'register the schedules (check first with b2betl schedule plan)', commands: ['npx b2betl schedule apply'] });
  return steps;
}

/** The steps as a shell script with numbered comments. */
export function renderSteps(steps: readonly DeployStep[]): string {
  return steps.map((step, index) => [`# ${index + 1}. ${step.title}`, ...step.commands].join('\n')).join('\n\n');
}
