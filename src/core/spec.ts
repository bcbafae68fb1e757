/**
 * The shapes of `etl.config.yaml` and of job specs, validated with every problem reported at
 * once (file, YAML path, line, fix).
 */
import { z } from 'zod';
import { isDateFormat } from './time.js';

const duration = z
  .string()
  .regex(/^\d+\s*(ms|s|m|h|d)$/, 'expected a duration such as 90s, 15m, 6h or 2d');

const sslSchema = z
  .object({
    mode: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).optional(),
    ca: z.string().optional(),
  })
  .strict();

const dbFields = {
  url: z.string().regex(/^[a-z][a-z0-9+.-]*:\/\/\S+$/i, 'expected a URL such as postgres://user:password@host:5432/database (mysql://… for MySQL)').optional(),
  host: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  user: z.string().optional(),
  password: z.string().optional(),
  database: z.string().optional(),
  ssl: sslSchema.optional(),
};

const storeFields = { prefix: z.string().optional() };

/** A list of `item`, where a single value stands for a list of one (`primary_key: id`). */
function listOf<T extends z.ZodType>(item: T, min = 0) {
  return z.preprocess((value) => (value === undefined || value === null || Array.isArray(value) || typeof value === 'object' ? value : [value]), z.array(item).min(min));
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** The five unix-cron fields as Cloud Scheduler reads them: name, range, and names it accepts. */
const CRON_FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 7, names: WEEKDAYS },
] as const;

/**
 * Why `expression` is not a unix-cron schedule Cloud Scheduler accepts (five fields of `*`,
 * numbers, `a-b` ranges, `/n` steps and `,` lists; JAN…DEC and SUN…SAT in capitals), or
 * undefined when it is one. `L`, `W`, `#`, `?`, seconds and `@daily` are refused: Cloud
 * Scheduler has none of them.
 */
export function unixCronProblem(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) {
    return `"${expression}" has ${fields.length} field(s); unix-cron has five: minute hour day-of-month month day-of-week (e.g. "0 9 * * *" is 09:00 every day)`;
  }
  for (const [index, field] of fields.entries()) {
    const spec = CRON_FIELDS[index];
    const names: readonly string[] = 'names' in spec ? spec.names : [];
    const value = (text: string): number | undefined => {
      if (/^\d+$/.test(text)) return Number(text);
      const named = names.indexOf(text);
      return named >= 0 ? named + (spec.min === 1 ? 1 : 0) : undefined;
    };
    for (const item of field.split(',')) {
      const match = /^(\*|[A-Z0-9]+(?:-[A-Z0-9]+)?)(?:\/(\d+))?$/.exec(item);
      const bounds = match && match[1] !== '*' ? match[1].split('-').map(value) : [];
      const outside = bounds.some((bound) => bound === undefined || bound < spec.min || bound > spec.max);
      const step = match?.[2] === undefined ? 1 : Number(match[2]);
      if (!match || outside || step < 1 || (bounds.length === 2 && bounds[0]! > bounds[1]!) || (match[2] !== undefined && bounds.length === 1)) {
        const allowed = `${spec.min}-${spec.max}${names.length ? ` or ${names[0]}…${names.at(-1)}` : ''}`;
        return `"${item}" is not a valid ${spec.name} in "${expression}": use *, a number ${allowed}, a range a-b, a step */n or a-b/n, or a list of these`;
      }
    }
  }
  return undefined;
}

/** Why `zone` is not an IANA time zone name (Europe/Kyiv, America/New_York, UTC), or undefined. */
export function timeZoneProblem(zone: string): string | undefined {
  if (/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone)) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return undefined;
    } catch {
      // fall through: not a zone this runtime's tz database knows
    }
  }
  return `"${zone}" is not an IANA time zone name: use one such as UTC, Europe/Kyiv or America/New_York`;
}

/** A zod check from a problem finder. */
function checked(problem: (value: string) => string | undefined) {
  return z.string().superRefine((value, ctx) => {
    const message = problem(value);
    if (message) ctx.addIssue({ code: 'custom', message });
  });
}

/** Cloud Scheduler's limits on a retry config and an attempt deadline. */
const SCHEDULER_LIMITS = { maxRetries: 5, minDeadlineMs: 15_000, maxDeadlineMs: 30 * 60_000 } as const;

/** Where a scheduled job runs: the Cloud Run service (`serve`) or a Cloud Run Job execution. */
export const SCHEDULE_TARGETS = ['service', 'job'] as const;

const scheduleSchema = z
  .object({
    cron: checked(unixCronProblem),
    timezone: checked(timeZoneProblem).default('UTC'),
    paused: z.boolean().optional(),
    target: z.enum(SCHEDULE_TARGETS).optional(),
    retry: z
      .object({
        count: z.number().int().min(0).max(SCHEDULER_LIMITS.maxRetries).optional(),
        min_backoff: duration.optional(),
        max_backoff: duration.optional(),
      })
      .strict()
      .optional(),
    attempt_deadline: duration.optional(),
  })
  .strict()
  .superRefine((schedule, ctx) => {
    const { min_backoff: min, max_backoff: max } = schedule.retry ?? {};
    if (min && max && parseDuration(min) > parseDuration(max)) {
      ctx.addIssue({ code: 'custom', path: ['retry', 'min_backoff'], message: `min_backoff ${min} is longer than max_backoff ${max}` });
    }
    const deadline = schedule.attempt_deadline ? parseDuration(schedule.attempt_deadline) : undefined;
    if (deadline !== undefined && (deadline < SCHEDULER_LIMITS.minDeadlineMs || deadline > SCHEDULER_LIMITS.maxDeadlineMs)) {
      ctx.addIssue({ code: 'custom', path: ['attempt_deadline'], message: `Cloud Scheduler waits between 15s and 30m for an attempt; ${schedule.attempt_deadline} is outside that` });
    }
  });

/** A job's `schedule:` block. */
export type ScheduleSpec = z.infer<typeof scheduleSchema>;

/** A Google Cloud region (Cloud Run's, Dataflow's): `europe-west1`, `us-central1`, `northamerica-northeast2`. */
const gcpRegion = z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'expected a region such as europe-central2 or us-central1');
const serviceAccount = z.string().regex(/^[^@\s]+@[^@\s]+\.[a-z]+$/, 'expected a service account email, e.g. etl-scheduler@my-proj.iam.gserviceaccount.com');
const httpsUrl = z.string().regex(/^https?:\/\/[^/\s]+/, 'expected a URL such as https://b2betl-abc123-ew.a.run.app');
/** An API endpoint other than Google's or Amazon's own (an emulator, MinIO, R2). */
const httpUrl = z.string().regex(/^https?:\/\/[^/\s]+/, 'expected a URL such as http://127.0.0.1:9000');

/** The `deploy:` block: where the Cloud Run deployment lives and who may call it. */
export const deploySchema = z
  .object({
    project: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[a-z0-9.-]+:[a-z][a-z0-9-]+$/, 'expected a Google Cloud project id, e.g. my-proj-123').optional(),
    region: gcpRegion.optional(),
    service: z.string().regex(/^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$/, 'a Cloud Run name: lowercase letters, digits and -, at most 49 characters').optional(),
    job: z.string().regex(/^[a-z]([a-z0-9-]{0,47}[a-z0-9])?$/, 'a Cloud Run name: lowercase letters, digits and -, at most 49 characters').optional(),
    service_url: httpsUrl.optional(),
    audience: z.string().min(1).optional(),
    service_account: serviceAccount.optional(),
    runtime_service_account: serviceAccount.optional(),
    invokers: listOf(serviceAccount, 1).optional(),
    target: z.enum(SCHEDULE_TARGETS).optional(),
    image: z.string().regex(/^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)+(:[\w][\w.-]{0,127})?(@sha256:[a-f0-9]{64})?$/, 'expected an image reference such as europe-central2-docker.pkg.dev/my-proj/b2betl/b2betl:latest').optional(),
    endpoint: httpsUrl.optional(),
  })
  .strict();

/** The `deploy:` block of the config. */
export type DeployConfig = z.infer<typeof deploySchema>;

/** Every connection type and its keys (README "Connections"). */
export const connectionSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('postgres'), ...dbFields }).strict(),
  z.object({ type: z.literal('mysql'), ...dbFields }).strict(),
  z
    .object({
      type: z.literal('bigquery'),
      project: z.string(),
      dataset: z.string().regex(/^[A-Za-z0-9_]{1,1024}$/, 'a BigQuery dataset name: letters, digits and _'),
      location: z.string().regex(/^(US|EU|[a-z]+-[a-z]+\d+)$/i, 'a BigQuery location such as US, EU or europe-central2').optional(),
      credentials: z.string().optional(),
      staging: z.string().regex(/^gs:\/\/[^/]+/, 'expected gs://bucket/prefix').optional(),
      endpoint: httpUrl.optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('firestore'),
      project: z.string(),
      database: z.string().optional(),
      credentials: z.string().optional(),
      emulator_host: z.string().regex(/^(\[[0-9a-f:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8080').optional(),
    })
    .strict(),
  z.object({ type: z.literal('local'), path: z.string() }).strict(),
  z
    .object({
      type: z.literal('gcs'),
      bucket: z.string(),
      credentials: z.string().optional(),
      endpoint: httpUrl.optional(),
      project: z.string().optional(),
      ...storeFields,
    })
    .strict(),
  z
    .object({
      type: z.literal('s3'),
      bucket: z.string(),
      region: z.string().regex(/^([a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+|auto|us-east-1)$/, 'an S3 region such as eu-central-1 (auto for stores that ignore it)').optional(),
      access_key_id: z.string().optional(),
      secret_access_key: z.string().optional(),
      session_token: z.string().optional(),
      profile: z.string().optional(),
      endpoint: httpUrl.optional(),
      force_path_style: z.boolean().optional(),
      ...storeFields,
    })
    .strict(),
  z
    .object({
      type: z.literal('azure'),
      container: z.string(),
      connection_string: z.string().optional(),
      account: z.string().optional(),
      account_key: z.string().optional(),
      sas_url: z.string().regex(/^https?:\/\/[^/\s]+\/[^?\s]+\?\S+$/, 'expected the container URL with its SAS token: https://<account>.blob.core.windows.net/<container>?sv=…').optional(),
      endpoint: httpUrl.optional(),
      ...storeFields,
    })
    .strict(),
  z
    .object({
      type: z.literal('duckdb'),
      path: z.string(),
      schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a schema name: letters, digits and _, not starting with a digit').optional(),
      memory_limit: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i, 'expected a size such as 64MB or 2GB').optional(),
      threads: z.number().int().min(1).max(256).optional(),
    })
    .strict(),
]);

/** Connection types b2betl has built in (plugins add others). */
export const BUILTIN_CONNECTION_TYPES = connectionSchema.options.map((option) => option.shape.type.value);

/** A connection block of the config, discriminated by `type`. */
export type ConnectionConfig = z.infer<typeof connectionSchema>;
/** Connection types b2betl knows. */
export type ConnectionType = ConnectionConfig['type'];

/** Rows in a run's window from which `engine: auto` hands it to an engine that scales (`dataflow.threshold_rows`). */
export const DEFAULT_THRESHOLD_ROWS = 1_000_000;

/** Where large runs go: Google Cloud Dataflow (and Firestore managed export), see docs/scale.md. */
export const dataflowSchema = z
  .object({
    project: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'a Google Cloud project id: 6 to 30 lowercase letters, digits and -, starting with a letter'),
    region: gcpRegion,
    temp_location: z.string().regex(/^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](\/\S*)?$/, 'a gs://bucket/path the jobs write temporary files to, e.g. gs://my-bucket/b2betl-tmp'),
    threshold_rows: z.number().int().min(1).default(DEFAULT_THRESHOLD_ROWS),
    service_account: serviceAccount.optional(),
    network: z.string().regex(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a VPC network name such as default: lowercase letters, digits and -').optional(),
    subnetwork: z
      .string()
      .regex(
        /^(https:\/\/www\.googleapis\.com\/compute\/v1\/projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/)?regions\/[a-z]+-[a-z]+\d+\/subnetworks\/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/,
        'regions/REGION/subnetworks/NAME, or its full https://www.googleapis.com/compute/v1/projects/PROJECT/regions/REGION/subnetworks/NAME URL',
      )
      .optional(),
    max_workers: z.number().int().min(1).max(1000).optional(),
    machine_type: z.string().regex(/^([a-z][a-z0-9]*-[a-z0-9]+(-[a-z0-9]+)*)$/, 'a Compute Engine machine type such as n1-standard-4 or e2-standard-8').optional(),
  })
  .strict();

/** The config's `dataflow:` block, validated, with its defaults. */
export type DataflowSettings = z.infer<typeof dataflowSchema>;

const configFields = {
  defaults: z.object({ destination: z.string().optional() }).strict().default({}),
  ledger: z
    .string()
    .min(1)
    .refine((value) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^gs:\/\/[^/]+\/[^/].*/.test(value), 'expected a file path (./.b2betl/ledger.sqlite) or gs://bucket/path/ledger.sqlite; no other URL scheme is supported')
    .optional(),
  plugins: listOf(z.string().min(1)).default([]),
  deploy: deploySchema.optional(),
  dataflow: dataflowSchema.optional(),
};
const connectionName = z.string().regex(/^[A-Za-z0-9_-]+$/, 'use letters, digits, _ and - in connection names');

/**
 * The config with each connection block left unchecked: blocks are checked one by one against
 * their type's shape (built in or from a plugin), so one block's problems never hide another's.
 */
export const configOutlineSchema = z.object({ connections: z.record(connectionName, z.unknown()).default({}), ...configFields, deploy: z.unknown().optional() }).strict();

export const configSchema = z
  .object({
    connections: z.record(connectionName, connectionSchema).default({}),
    ...configFields,
  })
  .strict();

/** `etl.config.yaml`, validated. */
export type EtlConfig = z.infer<typeof configSchema>;

const csvSchema = z
  .object({
    delimiter: z.string().min(1).max(4).optional(),
    quote: z.string().length(1).optional(),
    escape: z.string().length(1).optional(),
    encoding: z.enum(['utf-8', 'utf8', 'latin1', 'iso-8859-1', 'windows-1252', 'utf-16', 'utf-16le', 'utf-16be']).optional(),
    header: z.boolean().optional(),
    date_format: z
      .string()
      .refine(isDateFormat, 'expected DD, MM and YYYY in some order, joined by one of / . - (DD/MM/YYYY, MM/DD/YYYY, DD.MM.YYYY)')
      .optional(),
    decimal: z.enum(['.', ','], { message: 'expected "." or "," (the decimal separator of the numbers, as in 1,50)' }).optional(),
  })
  .strict();

/** `engine:` of a job: `auto` (the default) lets the estimate decide; see docs/scale.md. */
export const ENGINE_MODES = ['auto', 'local', 'dataflow'] as const;

export const FILE_FORMATS = ['csv', 'json', 'jsonl', 'ndjson', 'parquet'] as const;

export const jobSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9_-]+$/, 'use lowercase letters, digits, _ and - only'),
    source: z
      .object({
        connection: z.string(),
        table: z.string().optional(),
        query: z.string().optional(),
        collection: z.string().optional(),
        collection_group: z.string().optional(),
        pattern: z.string().optional(),
        format: z.enum(FILE_FORMATS).optional(),
        csv: csvSchema.optional(),
        columns: listOf(z.string(), 1).optional(),
        sample_size: z.number().int().positive().optional(),
        parallelism: z.number().int().min(1).max(64).optional(),
        nested: z.enum(['string', 'json']).optional(),
        keep_missing: z.boolean().optional(),
      })
      .strict(),
    load: z
      .object({
        strategy: z.enum(['transactional', 'catalog', 'merge']).default('transactional'),
        cursor: z.string().optional(),
        start: z.union([z.string(), z.date(), z.number()]).optional(),
        primary_key: listOf(z.string(), 1).optional(),
        lookback: duration.optional(),
        max_bad_records: z.number().int().min(0).default(0),
        fill_required_defaults: z.boolean().default(false),
      })
      .strict()
      .default({ strategy: 'transactional', max_bad_records: 0, fill_required_defaults: false }),
    destination: z
      .object({
        connection: z.string().optional(),
        table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'use letters, digits and _ only, not starting with a digit').optional(),
      })
      .strict()
      .default({}),
    schedule: scheduleSchema.optional(),
    engine: z.enum(ENGINE_MODES).optional(),
  })
  .strict()
  .superRefine((job, ctx) => {
    const add = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const s = job.source;
    if (s.table && s.query) add(['source', 'query'], 'give either source.table or source.query, not both');
    if (s.collection && s.collection_group) add(['source', 'collection_group'], 'give either collection or collection_group, not both');
    if (job.load.strategy === 'merge' && !job.load.primary_key) {
      add(['load', 'primary_key'], 'merge needs load.primary_key, e.g. primary_key: [id]');
    }
    if (job.load.lookback && job.load.strategy !== 'merge') {
      add(['load', 'lookback'], 'lookback re-reads rows already loaded, so it needs strategy: merge to deduplicate them');
    }
    if (job.load.lookback && !job.load.cursor) add(['load', 'lookback'], 'lookback needs load.cursor');
  });

/** A job spec as written (before defaults from the config are applied). */
export type JobSpec = z.infer<typeof jobSchema>;

/** Formats a duration such as `6h` in milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new Error(`invalid duration ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}
