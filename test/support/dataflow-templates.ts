/**
 * The parameters of Google's provided `PostgreSQL_to_BigQuery` and `MySQL_to_BigQuery` Flex
 * Templates, as data, with the pages they were read from. The Dataflow double checks every
 * launch against them: an unknown name, a missing required one or a value its metadata refuses
 * is refused with the API's 400 as the real launch is. The partition bounds have no pattern in
 * the metadata (a `long` and a `datetime` bound share the parameter): the template's own code
 * parses them when the job starts, and a bound it cannot parse fails the job
 * ({@link launcherFailure}).
 */

/** How a parameter's value must look; undefined when it is well-formed. */
type Check = (value: string, all: Readonly<Record<string, string>>) => string | undefined;

export interface TemplateParameter {
  readonly required: boolean;
  readonly check?: Check;
}

export interface TemplateSpec {
  /** The template's name in `gs://dataflow-templates-<region>/latest/flex/<name>`. */
  readonly name: string;
  /** Where the parameter list comes from. */
  readonly documentation: readonly string[];
  /** The JDBC URL scheme the template's driver takes. */
  readonly scheme: 'postgresql' | 'mysql';
  readonly parameters: Readonly<Record<string, TemplateParameter>>;
}

const SECRET = /^projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BOOLEAN: Check = (value) => (value === 'true' || value === 'false' ? undefined : 'must be true or false');
const INTEGER: Check = (value) => (/^-?\d+$/.test(value) ? undefined : 'must be an integer');
const GCS: Check = (value) => (/^gs:\/\/[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](\/.*)?$/.test(value) ? undefined : 'must be a gs://bucket/path');
const TABLE_SPEC: Check = (value) => (/^[a-z][a-z0-9-]{4,28}[a-z0-9]:[A-Za-z0-9_]{1,1024}\.[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}$]{1,1024}$/u.test(value) ? undefined : 'must be <project>:<dataset>.<table>');
/** Without `KMSEncryptionKey`, a Secret Manager version or plain text; with it, Base64 ciphertext. */
const CREDENTIAL: Check = (value, all) => {
  if (all.KMSEncryptionKey !== undefined) return BASE64.test(value) ? undefined : 'must be Base64-encoded ciphertext when KMSEncryptionKey is set';
  return /^projects\//.test(value) && !SECRET.test(value) ? 'must be projects/{project}/secrets/{secret}/versions/{version}' : undefined;
};

function jdbcUrl(scheme: string): Check {
  return (value, all) => {
    if (all.KMSEncryptionKey !== undefined) return BASE64.test(value) ? undefined : 'must be Base64-encoded ciphertext when KMSEncryptionKey is set';
    return new RegExp(`^jdbc:${scheme}://[^/\\s]+(/[^\\s]*)?$`).test(value) ? undefined : `must be jdbc:${scheme}://host:port/database`;
  };
}

/** The parameters both templates share (the JDBC to BigQuery family). */
function jdbcParameters(scheme: string): Record<string, TemplateParameter> {
  return {
    connectionURL: { required: true, check: jdbcUrl(scheme) },
    outputTable: { required: true, check: TABLE_SPEC },
    bigQueryLoadingTemporaryDirectory: { required: true, check: GCS },
    connectionProperties: { required: false, check: (value) => (/^([^=;]+=[^;]*;?)*$/.test(value) ? undefined : 'must be [propertyName=property;]*') },
    username: { required: false, check: CREDENTIAL },
    password: { required: false, check: CREDENTIAL },
    query: { required: false, check: (value, all) => (all.table !== undefined && all.partitionColumn !== undefined ? 'query cannot be used together with a partitioned table read' : value.trim() ? undefined : 'must not be empty') },
    KMSEncryptionKey: { required: false, check: (value) => (/^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/.test(value) ? undefined : 'must be projects/*/locations/*/keyRings/*/cryptoKeys/*') },
    useColumnAlias: { required: false, check: BOOLEAN },
    isTruncate: { required: false, check: BOOLEAN },
    partitionColumn: { required: false, check: (value, all) => (all.table === undefined ? 'partitionColumn needs table' : /^[\p{L}_][\p{L}\p{N}_$]*$/u.test(value) ? undefined : 'must be a column name') },
    partitionColumnType: { required: false, check: (value) => (value === 'long' || value === 'datetime' ? undefined : 'must be long or datetime') },
    table: { required: false, check: (value, all) => (all.partitionColumn === undefined ? 'table is read only with partitionColumn' : value.trim() ? undefined : 'must not be empty') },
    numPartitions: { required: false, check: INTEGER },
    lowerBound: { required: false },
    upperBound: { required: false },
    fetchSize: { required: false, check: INTEGER },
    createDisposition: { required: false, check: (value) => (value === 'CREATE_NEVER' || value === 'CREATE_IF_NEEDED' ? undefined : 'must be CREATE_NEVER or CREATE_IF_NEEDED') },
    bigQuerySchemaPath: { required: false, check: GCS },
    outputDeadletterTable: { required: false, check: (value, all) => (all.useStorageWriteApi === 'true' || all.useStorageWriteApiAtLeastOnce === 'true' ? TABLE_SPEC(value, all) : 'outputDeadletterTable needs useStorageWriteApi') },
    disabledAlgorithms: { required: false },
    extraFilesToStage: { required: false },
    useStorageWriteApi: { required: false, check: BOOLEAN },
    useStorageWriteApiAtLeastOnce: { required: false, check: BOOLEAN },
  };
}

/**
 * Both templates are `JdbcToBigQuery` with the options of `JdbcToBigQueryOptions` (their own
 * options interfaces extend it and add only the driver): one parameter list, and one launcher
 * that parses the partition bounds.
 */
const JDBC_SOURCES = [
  'https://github.com/GoogleCloudPlatform/DataflowTemplates/blob/main/v2/jdbc-and-googlecloud/src/main/java/com/google/cloud/teleport/v2/options/JdbcToBigQueryOptions.java',
  'https://github.com/GoogleCloudPlatform/DataflowTemplates/blob/main/v2/jdbc-and-googlecloud/src/main/java/com/google/cloud/teleport/v2/templates/JdbcToBigQuery.java',
  // JdbcIO.readWithPartitions: `select * from <table> where <column> >= ? and <column> < ?` per range of JdbcUtil.PRESET_HELPERS.
  'https://github.com/apache/beam/blob/master/sdks/java/io/jdbc/src/main/java/org/apache/beam/sdk/io/jdbc/JdbcUtil.java',
];

/** The two templates b2betl launches, by name. */
export const TEMPLATES: Readonly<Record<string, TemplateSpec>> = {
  PostgreSQL_to_BigQuery: {
    name: 'PostgreSQL_to_BigQuery',
    documentation: [
      // partitionColumnType `long` or `datetime`; a datetime bound as `yyyy-MM-dd HH:mm:ss.SSSZ`, e.g. `2024-02-20 07:55:45.000+03:30`.
      'https://cloud.google.com/dataflow/docs/guides/templates/provided/postgresql-to-bigquery',
      'https://github.com/GoogleCloudPlatform/DataflowTemplates/blob/main/v2/postgresql-to-googlecloud/README_PostgreSQL_to_BigQuery.md',
      ...JDBC_SOURCES,
    ],
    scheme: 'postgresql',
    parameters: jdbcParameters('postgresql'),
  },
  MySQL_to_BigQuery: {
    name: 'MySQL_to_BigQuery',
    documentation: [
      'https://cloud.google.com/dataflow/docs/guides/templates/provided/mysql-to-bigquery',
      'https://github.com/GoogleCloudPlatform/DataflowTemplates/blob/main/v2/mysql-to-googlecloud/README_MySQL_to_BigQuery.md',
      'https://github.com/GoogleCloudPlatform/DataflowTemplates/blob/main/v2/mysql-to-googlecloud/src/main/java/com/google/cloud/teleport/v2/options/MySQLToBigQueryOptions.java',
      ...JDBC_SOURCES,
    ],
    scheme: 'mysql',
    parameters: jdbcParameters('mysql'),
  },
};

/** The problems of a launch's parameters against a template: one line per parameter at fault. */
export function parameterProblems(template: TemplateSpec, parameters: Readonly<Record<string, string>>): string[] {
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(template.parameters)) {
    if (spec.required && parameters[name] === undefined) problems.push(`Missing required parameter: ${name}`);
  }
  for (const [name, value] of Object.entries(parameters)) {
    const spec = template.parameters[name];
    if (!spec) {
      problems.push(`Unrecognized parameter: ${name}`);
      continue;
    }
    const problem = typeof value === 'string' ? spec.check?.(value, parameters) : 'must be a string';
    if (problem) problems.push(`Invalid value for parameter ${name}: ${problem}`);
  }
  return problems;
}

const LONG = /^[+-]?\d+$/;
const LONG_MAX = 2n ** 63n - 1n;
/** Joda's `yyyy-MM-dd HH:mm:ss.SSSZ`: the offset `Z`, `+HHmm` or `+HH:mm`. */
const DATETIME = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3})(?:Z|([+-])(\d\d):?(\d\d))$/;

/** A `datetime` bound in epoch milliseconds, or why Joda's parser refuses it. */
export function datetimeBound(text: string): number | { problem: string } {
  const m = DATETIME.exec(text);
  if (!m) return { problem: `Invalid format: "${text}"` };
  const [year, month, day, hour, minute, second, millis] = m.slice(1, 8).map(Number);
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const fields: [string, number, number, number][] = [['monthOfYear', month, 1, 12], ['dayOfMonth', day, 1, days], ['hourOfDay', hour, 0, 23], ['minuteOfHour', minute, 0, 59], ['secondOfMinute', second, 0, 59]];
  for (const [field, value, min, max] of fields) {
    if (value < min || value > max) return { problem: `Cannot parse "${text}": Value ${value} for ${field} must be in the range [${min},${max}]` };
  }
  const offset = m[8] ? (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10])) : 0;
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offset * 60_000;
}

/**
 * Why the template's launcher fails a job at its start, as `JdbcToBigQuery.run` does: given both
 * bounds, it parses them as `Long` for a `long` partition column and with Joda's
 * `yyyy-MM-dd HH:mm:ss.SSSZ` for a `datetime` one, and throws on either that does not parse.
 */
export function launcherFailure(parameters: Readonly<Record<string, string>>): string | undefined {
  const { partitionColumn, table, lowerBound, upperBound } = parameters;
  if (partitionColumn === undefined || table === undefined || lowerBound === undefined || upperBound === undefined) return undefined;
  const bounds = [lowerBound, upperBound];
  if ((parameters.partitionColumnType ?? 'long') === 'long') {
    const bad = bounds.find((bound) => !LONG.test(bound) || BigInt(bound) > LONG_MAX || BigInt(bound) < -LONG_MAX - 1n);
    return bad === undefined ? undefined : `java.lang.NumberFormatException: Expected Long values for lowerBound and upperBound, received : For input string: "${bad}"`;
  }
  const problem = bounds.map(datetimeBound).find((parsed) => typeof parsed !== 'number');
  return problem === undefined ? undefined : `java.lang.IllegalArgumentException: Expected DateTime values in the format for lowerBound and upperBound, received : ${(problem as { problem: string }).problem}`;
}

/** JdbcIO's ranges for a long partition column: `[from, to)` pairs covering `[lower, upper]`. */
export function longRanges(lower: bigint, upper: bigint, partitions: bigint): [bigint, bigint][] {
  const stride = upper / partitions - lower / partitions + 1n;
  const ranges: [bigint, bigint][] = [];
  let highest = lower;
  for (let i = lower; i < upper - stride; i += stride) {
    ranges.push([i, i + stride]);
    highest = i + stride;
  }
  if (highest < upper + 1n) ranges.push([highest, upper + 1n]);
  return ranges;
}

/**
 * JdbcIO's ranges for a datetime partition column, in epoch milliseconds: strides of
 * `(upper - lower) / partitions` (at least 1 ms) from `lower`, the last ending 1 ms past `upper`
 * so that the `<` of its query keeps `upper` in.
 */
export function datetimeRanges(lower: number, upper: number, partitions: number): [number, number][] {
  const stride = Math.max(1, Math.trunc((upper - lower) / partitions));
  const ranges: [number, number][] = [];
  for (let from = lower; from <= upper; from += stride) {
    const to = from + stride;
    if (to >= upper) {
      ranges.push([from, upper + 1]);
      return ranges;
    }
    ranges.push([from, to]);
  }
  return ranges;
}
