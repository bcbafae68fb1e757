/**
 * The launch request of Google's provided JDBC Flex Templates (`PostgreSQL_to_BigQuery`,
 * `MySQL_to_BigQuery`) for one run: its window as one query, split on an integer or timestamp
 * column when it is large, credentials as Secret Manager references only, the runtime
 * environment from the config's `dataflow:` block. Pure: everything it needs is given.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from '../../../src/core/errors.js';
import { formatDatetime, parseTimestamp } from '../../../src/core/time.js';
import type { SqlExport } from '../../sources/sql/sql-source.js';
import { resolveEndpoint, type SqlConnectionConfig } from '../../sources/sql/sql-endpoint.js';
import { secretName } from '../../storage/gcs/secret.js';
import type { LaunchRequest } from './dataflow-client.js';

/** Rows one partition of the read aims at when the job does not ask for a number. */
export const ROWS_PER_PARTITION = 500_000;
/** JdbcIO opens one connection per partition: more would flood the database. */
const MAX_PARTITIONS = 1000;

/** The `dataflow:` settings a launch uses. */
export interface LaunchSettings {
  readonly project: string;
  readonly region: string;
  readonly temp_location: string;
  readonly service_account?: string;
  readonly network?: string;
  readonly subnetwork?: string;
  readonly max_workers?: number;
  readonly machine_type?: string;
}

/** Everything one launch is made of. */
export interface LaunchInput {
  readonly job: string;
  readonly runId: string;
  /** The source connection's name and block. */
  readonly connection: { readonly name: string; readonly type: string; readonly config: SqlConnectionConfig };
  readonly read: SqlExport;
  /** Partitions the job asks for (`source.parallelism`), if it does. */
  readonly partitions?: number;
  /** Rows estimated in the window, which sets the partitions when the job does not. */
  readonly estimatedRows?: number;
  /** The staging table the template appends to. */
  readonly output: { readonly project: string; readonly dataset: string; readonly table: string };
  readonly settings: LaunchSettings;
}

/** How the read is split, for --dry-run. */
export interface Partitioning {
  /** The source column the read is split on. */
  readonly column?: string;
  /** The template's `partitionColumnType`: `long`, or `datetime` for a timestamp. */
  readonly type?: 'long' | 'datetime';
  readonly partitions: number;
  /** The bounds as the template takes them. */
  readonly lowerBound?: string;
  readonly upperBound?: string;
  readonly note?: string;
}

const TEMPLATES: Record<string, { readonly template: string; readonly scheme: string; readonly port: number; readonly user: string }> = {
  postgres: { template: 'PostgreSQL_to_BigQuery', scheme: 'postgresql', port: 5432, user: 'postgres' },
  mysql: { template: 'MySQL_to_BigQuery', scheme: 'mysql', port: 3306, user: 'root' },
};

/** Whether a connection type has a Dataflow template. */
export function hasTemplate(type: string): boolean {
  return type in TEMPLATES;
}

/** A Dataflow job name (lowercase letters, digits, `-`; at most 63) derived from the run id. */
export function dataflowJobName(job: string, runId: string): string {
  const run = runId.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const slug = job.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, 62 - 'b2betl-'.length - run.length - 1).replace(/-+$/, '');
  return `b2betl-${slug}-${run}`.replace(/--+/g, '-');
}

/** The job's name as a label value (lowercase letters, digits, `_`, `-`; at most 63). */
export function jobSlug(job: string): string {
  return job.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+/, '').slice(0, 63) || 'job';
}

/**
 * The Secret Manager version a credential names (`secret://projects/P/secrets/S/versions/V`),
 * as the template takes it. Plain text is refused: a job's parameters are readable by anyone
 * with the Dataflow Viewer role.
 */
export function credentialReference(value: string | undefined, key: 'user' | 'password', connection: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.startsWith('secret://')) return secretName(value);
  throw ConfigError.of(
    `connection ${connection}: ${key} is given in plain text, which a Dataflow job would show in its parameters to anyone who can view the job`,
    `store it in Secret Manager and write ${key}: secret://projects/PROJECT/secrets/NAME/versions/VERSION (b2betl reads it there too)`,
  );
}

/** The JDBC URL of a connection, without credentials. */
function jdbcUrl(connection: LaunchInput['connection']): { url: string; properties?: string } {
  const kind = TEMPLATES[connection.type]!;
  const config = connection.config;
  if (config.url) {
    const url = new URL(config.url);
    if (url.password) credentialReference(decodeURIComponent(url.password), 'password', connection.name);
  }
  const endpoint = resolveEndpoint(connection.name, kind.template, config, { port: kind.port, user: kind.user });
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  const mode = config.ssl?.mode;
  if (config.ssl?.ca) {
    throw ConfigError.of(
      `connection ${connection.name}: ssl.ca is a file on this machine, which Dataflow's workers cannot read`,
      'use a server certificate signed by a public authority (ssl.mode: verify-full without ssl.ca), or engine: local for this job',
    );
  }
  const properties: string[] = [];
  // Window bounds of DATETIME-like cursors are wall-clock literals: the session must be in UTC, as b2betl's own is.
  if (connection.type === 'mysql') properties.push('connectionTimeZone=UTC', 'forceConnectionTimeZoneToSession=true');
  if (mode && mode !== 'disable') {
    if (connection.type === 'postgres') properties.push('ssl=true', `sslmode=${mode}`);
    else properties.push(`sslMode=${{ require: 'REQUIRED', 'verify-ca': 'VERIFY_CA', 'verify-full': 'VERIFY_IDENTITY' }[mode] ?? 'REQUIRED'}`);
  }
  return { url: `jdbc:${kind.scheme}://${host}:${endpoint.port}/${encodeURIComponent(endpoint.database ?? '')}`, properties: properties.length ? properties.join(';') : undefined };
}

/** How many partitions, on which column: or why the read stays one query. */
export function partitioning(input: Pick<LaunchInput, 'read' | 'partitions' | 'estimatedRows'>): Partitioning {
  const { read } = input;
  const wanted = input.partitions ?? Math.min(MAX_PARTITIONS, Math.max(1, Math.ceil((input.estimatedRows ?? 0) / ROWS_PER_PARTITION)));
  if (!read.split) {
    if (input.partitions !== undefined && input.partitions > 1) {
      throw ConfigError.of(
        `source.parallelism asks for ${input.partitions} partitions, but ${read.unsplit ?? 'no column can split the read'}`,
        'remove source.parallelism (the read then runs as one query), or read a table with an integer primary key or a timestamp cursor',
      );
    }
    return { partitions: 1, note: `one query: ${read.unsplit ?? 'no column to split on'}` };
  }
  if (!/^[a-z_][a-z0-9_]*$/.test(read.split.alias)) {
    return { partitions: 1, note: `one query: the split column's name ${read.split.alias} needs quoting, which the template's generated WHERE clause does not do` };
  }
  if (wanted <= 1) return { partitions: 1, note: 'one query: the window fits one partition' };
  const bound = read.split.type === 'datetime' ? datetimeBound : (text: string) => text;
  return { column: read.split.column, type: read.split.type, partitions: wanted, lowerBound: bound(read.split.min), upperBound: bound(read.split.max) };
}

/**
 * A timestamp's state text as the template's `datetime` bound, `yyyy-MM-dd HH:mm:ss.SSSZ` in UTC,
 * floored to the millisecond (the template keeps no more). The template's ranges then start at or
 * before the smallest value and its last range ends a millisecond past the largest bound, so
 * every value between, microseconds included, falls in exactly one of them.
 */
function datetimeBound(text: string): string {
  const micros = parseTimestamp(text);
  if (micros === undefined) throw new Error(`split bound ${text} is not a timestamp`);
  const millis = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  return `${formatDatetime(millis * 1000n).slice(0, 23)}+00:00`;
}

/** The launch request, and what --dry-run tells of it. */
export function launchRequest(input: LaunchInput): { request: LaunchRequest; partitioning: Partitioning; fingerprint: string } {
  const kind = TEMPLATES[input.connection.type];
  if (!kind) throw new Error(`no Dataflow template reads ${input.connection.type}`);
  const { settings } = input;
  const { url, properties } = jdbcUrl(input.connection);
  const username = credentialReference(input.connection.config.user, 'user', input.connection.name);
  const password = credentialReference(input.connection.config.password, 'password', input.connection.name);
  if (!username) {
    throw ConfigError.of(
      `connection ${input.connection.name}: a Dataflow job needs user, as a Secret Manager reference`,
      'write user: secret://projects/PROJECT/secrets/NAME/versions/VERSION in the connection',
    );
  }
  const split = partitioning(input);
  const by = split.column ? input.read.split : undefined;
  const read: Record<string, string> = by
    ? { table: `(${by.sql}) AS b2betl_window`, partitionColumn: by.alias, partitionColumnType: by.type, numPartitions: String(split.partitions), lowerBound: split.lowerBound!, upperBound: split.upperBound! }
    : { query: input.read.sql };
  const temp = settings.temp_location.replace(/\/+$/, '');
  const parameters: Record<string, string> = {
    connectionURL: url,
    ...(properties ? { connectionProperties: properties } : {}),
    username,
    ...(password ? { password } : {}),
    ...read,
    // The SELECT names each column as the staging table does: map rows by alias, not by source name.
    useColumnAlias: 'true',
    bigQueryLoadingTemporaryDirectory: `${temp}/bigquery`,
  };
  // What the job reads and how, without the run's own names: equal for two runs of one window.
  const fingerprint = createHash('sha256').update(JSON.stringify([kind.template, parameters])).digest('hex').slice(0, 20);
  parameters.outputTable = `${input.output.project}:${input.output.dataset}.${input.output.table}`;
  const environment: Record<string, unknown> = {
    tempLocation: `${temp}/temp`,
    ...(settings.service_account ? { serviceAccountEmail: settings.service_account } : {}),
    ...(settings.network ? { network: settings.network } : {}),
    ...(settings.subnetwork ? { subnetwork: settings.subnetwork } : {}),
    ...(settings.max_workers ? { maxWorkers: settings.max_workers } : {}),
    ...(settings.machine_type ? { machineType: settings.machine_type } : {}),
    additionalUserLabels: { 'b2betl-job': jobSlug(input.job), 'b2betl-run': input.runId.toLowerCase().replace(/[^a-z0-9_-]/g, '-').slice(0, 63), 'b2betl-window': fingerprint },
  };
  return {
    request: {
      projectId: settings.project,
      location: settings.region,
      launchParameter: { jobName: dataflowJobName(input.job, input.runId), containerSpecGcsPath: `gs://dataflow-templates-${settings.region}/latest/flex/${kind.template}`, parameters, environment },
    },
    partitioning: split,
    fingerprint,
  };
}
