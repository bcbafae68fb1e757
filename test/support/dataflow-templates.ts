/**
 * The parameters of Google's provided `PostgreSQL_to_BigQuery` and `MySQL_to_BigQuery` Flex
 * Templates, as data, with the pages they were read from. The Dataflow double checks every
 * launch against them: an unknown name, a missing required one or a malformed value is refused
 * with the API's 400 as the real launcher refuses it.
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
const DATETIME_BOUND = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}(?:Z|[+-]\d\d:?\d\d)$/;
/** A bound of the partition column: a long, or `yyyy-MM-dd HH:mm:ss.SSSZ` when its type is datetime. */
const BOUND: Check = (value, all) => {
  if ((all.partitionColumnType ?? 'long') === 'datetime') return DATETIME_BOUND.test(value) ? undefined : 'must be yyyy-MM-dd HH:mm:ss.SSSZ for a datetime partition column';
  return INTEGER(value, all);
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
    lowerBound: { required: false, check: BOUND },
    upperBound: { required: false, check: BOUND },
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

/** The two templates b2betl launches, by name. */
export const TEMPLATES: Readonly<Record<string, TemplateSpec>> = {
  PostgreSQL_to_BigQuery: {
    name: 'PostgreSQL_to_BigQuery',
    documentation: [
      'https://cloud.google.com/dataflow/docs/guides/templates/provided/postgresql-to-bigquery',
      'https://github.com/GoogleCloudPlatform/DataflowTemplates/blob/main/v2/postgresql-to-googlecloud/README_PostgreSQL_to_BigQuery.md',
    ],
    scheme: 'postgresql',
    parameters: jdbcParameters('postgresql'),
  },
  MySQL_to_BigQuery: {
    name: 'MySQL_to_BigQuery',
    documentation: [
      'https://cloud.google.com/dataflow/docs/guides/templates/provided/mysql-to-bigquery',
      'https://github.com/GoogleCloudPlatform/DataflowTemplates/blob/main/v2/mysql-to-googlecloud/README_MySQL_to_BigQuery.md',
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

/** JdbcIO's ranges for a datetime partition column, in epoch milliseconds, the last ending just past `upper`. */
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
