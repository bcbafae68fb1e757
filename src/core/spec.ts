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
  url: z.string().optional(),
  host: z.string().optional(),
  port: z.number().int().positive().optional(),
  user: z.string().optional(),
  password: z.string().optional(),
  database: z.string().optional(),
  ssl: sslSchema.optional(),
};

const storeFields = { prefix: z.string().optional() };

/** Every connection type and its keys (README "Connections"). */
export const connectionSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('postgres'), ...dbFields }).strict(),
  z.object({ type: z.literal('mysql'), ...dbFields }).strict(),
  z
    .object({
      type: z.literal('bigquery'),
      project: z.string(),
      dataset: z.string(),
      location: z.string().optional(),
      credentials: z.string().optional(),
      staging: z.string().regex(/^gs:\/\/[^/]+/, 'expected gs://bucket/prefix').optional(),
      endpoint: z.string().optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('firestore'),
      project: z.string(),
      database: z.string().optional(),
      credentials: z.string().optional(),
      emulator_host: z.string().optional(),
    })
    .strict(),
  z.object({ type: z.literal('local'), path: z.string() }).strict(),
  z
    .object({
      type: z.literal('gcs'),
      bucket: z.string(),
      credentials: z.string().optional(),
      endpoint: z.string().optional(),
      project: z.string().optional(),
      ...storeFields,
    })
    .strict(),
  z
    .object({
      type: z.literal('s3'),
      bucket: z.string(),
      region: z.string().optional(),
      access_key_id: z.string().optional(),
      secret_access_key: z.string().optional(),
      session_token: z.string().optional(),
      profile: z.string().optional(),
      endpoint: z.string().optional(),
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
      sas_url: z.string().optional(),
      endpoint: z.string().optional(),
      ...storeFields,
    })
    .strict(),
  z
    .object({
      type: z.literal('duckdb'),
      path: z.string(),
      schema: z.string().optional(),
      memory_limit: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i, 'expected a size such as 64MB or 2GB').optional(),
      threads: z.number().int().min(1).max(256).optional(),
    })
    .strict(),
]);

/** A connection block of the config, discriminated by `type`. */
export type ConnectionConfig = z.infer<typeof connectionSchema>;
/** Connection types b2betl knows. */
export type ConnectionType = ConnectionConfig['type'];

export const configSchema = z
  .object({
    connections: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), connectionSchema).default({}),
    defaults: z.object({ destination: z.string().optional() }).strict().default({}),
    ledger: z.string().optional(),
    plugins: z.array(z.string()).default([]),
    dataflow: z
      .object({
        project: z.string().optional(),
        region: z.string().optional(),
        temp_location: z.string().optional(),
        threshold_rows: z.number().int().positive().optional(),
        endpoint: z.string().optional(),
      })
      .strict()
      .optional(),
    deploy: z
      .object({
        project: z.string().optional(),
        region: z.string().optional(),
        service_url: z.string().optional(),
        service_account: z.string().optional(),
        endpoint: z.string().optional(),
      })
      .strict()
      .optional(),
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
  })
  .strict();

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
        columns: z.array(z.string()).min(1).optional(),
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
        primary_key: z.array(z.string()).min(1).optional(),
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
    schedule: z
      .object({ cron: z.string(), timezone: z.string().default('UTC'), paused: z.boolean().optional() })
      .strict()
      .optional(),
    engine: z.enum(['auto', 'local', 'dataflow']).default('auto'),
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
