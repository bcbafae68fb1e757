/**
 * BigQuery's type rules as the test double enforces them: field names, schema compatibility,
 * value checks for load jobs, and the mapping of BigQuery types onto DuckDB storage.
 */

/** A field of a BigQuery table schema, as the REST API carries it. */
export interface BqField {
  name: string;
  type: string;
  mode?: string;
  fields?: BqField[];
  description?: string;
}

/** An error BigQuery reports inside `errors[]` or `errorResult`. */
export interface BqErrorProto {
  reason: string;
  message: string;
  location?: string;
}

/** A failure the double turns into BigQuery's error shape (HTTP status, or a failed job). */
export class BqFailure extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly errors: BqErrorProto[] = [],
    readonly location?: string,
  ) {
    super(message);
  }

  /** The error proto of a job's `status.errorResult`. */
  proto(): BqErrorProto {
    return { reason: this.reason, message: this.message, ...(this.location ? { location: this.location } : {}) };
  }
}

/** A 400 `invalid` error. */
export function invalid(message: string, location?: string): BqFailure {
  return new BqFailure(400, 'invalid', message, [], location);
}

const LEGACY: Record<string, string> = {
  INTEGER: 'INT64',
  INT: 'INT64',
  SMALLINT: 'INT64',
  BIGINT: 'INT64',
  TINYINT: 'INT64',
  BYTEINT: 'INT64',
  FLOAT: 'FLOAT64',
  BOOLEAN: 'BOOL',
  DECIMAL: 'NUMERIC',
  BIGDECIMAL: 'BIGNUMERIC',
  STRUCT: 'RECORD',
};

const STANDARD = new Set(['STRING', 'BYTES', 'INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC', 'BOOL', 'TIMESTAMP', 'DATE', 'TIME', 'DATETIME', 'JSON', 'RECORD', 'GEOGRAPHY']);

/** The standard SQL name of a type (`INTEGER` → `INT64`); undefined for an unknown type. */
export function standardType(type: string): string | undefined {
  const upper = type.toUpperCase();
  const name = LEGACY[upper] ?? upper;
  return STANDARD.has(name) ? name : undefined;
}

/** The legacy name tables.get reports (`INT64` → `INTEGER`), as the real service does. */
export function legacyType(type: string): string {
  const standard = standardType(type) ?? type;
  return { INT64: 'INTEGER', FLOAT64: 'FLOAT', BOOL: 'BOOLEAN' }[standard] ?? standard;
}

const RESERVED_PREFIXES = ['_table_', '_file_', '_partition', '_row_timestamp', '__root__', '_colidentifier'];

/** Checks a column name against BigQuery's rules; returns the problem or undefined. */
export function fieldNameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'Field name is empty';
  if (name.length > 300) return `Field name ${name.slice(0, 40)}... is too long: at most 300 characters`;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    return `Invalid field name "${name}". Fields must contain only letters, numbers, and underscores, start with a letter or underscore, and be at most 300 characters long.`;
  }
  const lower = name.toLowerCase();
  const prefix = RESERVED_PREFIXES.find((p) => lower.startsWith(p));
  if (prefix) return `Invalid field name "${name}". Field names cannot start with the reserved prefix ${prefix.toUpperCase()}.`;
  return undefined;
}

/** Validates and normalizes a schema (types to standard names, modes upper-case). */
export function normalizeSchema(fields: readonly BqField[] | undefined, where: string): BqField[] {
  if (!fields) return [];
  const seen = new Set<string>();
  return fields.map((field) => {
    const problem = fieldNameProblem(field.name);
    if (problem) throw invalid(problem);
    const lower = field.name.toLowerCase();
    if (seen.has(lower)) throw invalid(`Duplicate column names in the schema of ${where}: ${field.name}`);
    seen.add(lower);
    const type = standardType(field.type ?? '');
    if (!type) throw invalid(`Invalid value for type: ${field.type} is not a valid value`);
    if (type === 'RECORD') throw invalid(`the test double does not support ${type} fields (field ${field.name})`);
    const mode = (field.mode ?? 'NULLABLE').toUpperCase();
    if (!['NULLABLE', 'REQUIRED', 'REPEATED'].includes(mode)) throw invalid(`Invalid value for mode: ${field.mode} is not a valid value`);
    return { name: field.name, type, mode, ...(field.description ? { description: field.description } : {}) };
  });
}

/** DuckDB storage type of a BigQuery field. BIGNUMERIC is kept as exact text (DuckDB stops at 38 digits). */
export function duckType(field: BqField): string {
  const base = duckScalar(standardType(field.type)!);
  return field.mode === 'REPEATED' ? `${base}[]` : base;
}

/** DuckDB type of a standard BigQuery scalar type. */
export function duckScalar(type: string): string {
  switch (type) {
    case 'STRING':
      return 'VARCHAR';
    case 'BYTES':
      return 'BLOB';
    case 'INT64':
      return 'BIGINT';
    case 'FLOAT64':
      return 'DOUBLE';
    case 'NUMERIC':
      return 'DECIMAL(38,9)';
    case 'BIGNUMERIC':
      return 'VARCHAR';
    case 'BOOL':
      return 'BOOLEAN';
    case 'TIMESTAMP':
      return 'TIMESTAMPTZ';
    case 'DATE':
      return 'DATE';
    case 'TIME':
      return 'TIME';
    case 'DATETIME':
      return 'TIMESTAMP';
    case 'JSON':
      return 'JSON';
    case 'GEOGRAPHY':
      return 'VARCHAR';
    default:
      throw invalid(`unsupported type ${type}`);
  }
}

/** The BigQuery type of a DuckDB result column type. */
export function bqTypeOfDuck(duck: string): { type: string; repeated: boolean } {
  const upper = duck.toUpperCase();
  if (upper.endsWith('[]')) return { type: bqTypeOfDuck(upper.slice(0, -2)).type, repeated: true };
  if (/^DECIMAL/.test(upper)) return { type: 'NUMERIC', repeated: false };
  const map: Record<string, string> = {
    VARCHAR: 'STRING',
    BLOB: 'BYTES',
    BIGINT: 'INT64',
    INTEGER: 'INT64',
    SMALLINT: 'INT64',
    TINYINT: 'INT64',
    HUGEINT: 'INT64',
    UBIGINT: 'INT64',
    UINTEGER: 'INT64',
    DOUBLE: 'FLOAT64',
    FLOAT: 'FLOAT64',
    BOOLEAN: 'BOOL',
    'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP',
    TIMESTAMP: 'DATETIME',
    'TIMESTAMP_NS': 'DATETIME',
    DATE: 'DATE',
    TIME: 'TIME',
    JSON: 'JSON',
    UUID: 'STRING',
  };
  return { type: map[upper] ?? 'STRING', repeated: false };
}

/** Types one column may be assigned from, as BigQuery coerces in INSERT and MERGE. */
export function assignable(from: string, to: string): boolean {
  if (from === to) return true;
  const coercions: Record<string, string[]> = {
    INT64: ['NUMERIC', 'BIGNUMERIC', 'FLOAT64'],
    NUMERIC: ['BIGNUMERIC', 'FLOAT64'],
    BIGNUMERIC: ['FLOAT64'],
    // The double keeps BIGNUMERIC and GEOGRAPHY as text (checked when loaded), so a query over them yields STRING.
    STRING: ['BIGNUMERIC', 'GEOGRAPHY'],
  };
  return coercions[from]?.includes(to) ?? false;
}

/** Whether ALTER COLUMN SET DATA TYPE may change `from` into `to` (BigQuery allows widening only). */
export function widenable(from: string, to: string): boolean {
  const allowed: Record<string, string[]> = { INT64: ['NUMERIC', 'BIGNUMERIC', 'FLOAT64'], NUMERIC: ['BIGNUMERIC', 'FLOAT64'] };
  return from === to || (allowed[from]?.includes(to) ?? false);
}

/** A JSON number kept as its exact text while parsing load files. */
export class ExactNumber {
  constructor(readonly text: string) {}
}

const INT_TEXT = /^[+-]?\d+$/;
const DECIMAL_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TIMESTAMP_TEXT =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|UTC|[+-]\d{1,2}(?::?\d{2})?)?$/i;
const DATETIME_TEXT = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?$/;
const TIME_TEXT = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/;

/** Why one value does not fit a field; thrown while reading a load file. */
export class ValueProblem extends Error {}

function describe(raw: unknown): string {
  if (raw instanceof ExactNumber) return raw.text;
  if (typeof raw === 'string') return raw;
  return JSON.stringify(raw);
}

function expandExponent(text: string): string {
  const t = text.replace(/^\+/, '');
  const e = t.search(/[eE]/);
  if (e < 0) return t;
  const negative = t.startsWith('-');
  const mantissa = t.slice(negative ? 1 : 0, e);
  const exponent = Number(t.slice(e + 1));
  const [whole, fraction = ''] = mantissa.split('.');
  const digits = whole + fraction;
  const point = whole.length + exponent;
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return (negative ? '-' : '') + out;
}

/** Normalizes exact decimal text and checks it fits NUMERIC (29.9) or BIGNUMERIC (38.38). */
export function decimalFits(text: string, type: 'NUMERIC' | 'BIGNUMERIC'): string {
  if (!DECIMAL_TEXT.test(text.trim())) throw new ValueProblem(`Invalid ${type} value: ${text}`);
  const plain = expandExponent(text.trim());
  const negative = plain.startsWith('-');
  const [wholeRaw, fractionRaw = ''] = plain.replace(/^-/, '').split('.');
  const whole = wholeRaw.replace(/^0+(?=\d)/, '') || '0';
  const fraction = fractionRaw.replace(/0+$/, '');
  const limits = type === 'NUMERIC' ? { whole: 29, scale: 9 } : { whole: 38, scale: 38 };
  if (whole.replace(/^0+/, '').length > limits.whole || fraction.length > limits.scale) {
    throw new ValueProblem(`Invalid ${type} value: ${text}; it does not fit ${type} without rounding`);
  }
  const body = fraction ? `${whole}.${fraction}` : whole;
  return negative && body !== '0' ? `-${body}` : body;
}

function validDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate() && y >= 1 && y <= 9999;
}

function pad(n: number | string, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Checks one value of a load file against a field type and returns the text DuckDB casts into
 * the storage type. `csv` marks values that arrived as CSV text (where every value is a string).
 */
export function loadValue(type: string, raw: unknown, csv = false): string {
  if (raw !== null && typeof raw === 'object' && !(raw instanceof ExactNumber) && type !== 'JSON') {
    throw new ValueProblem(Array.isArray(raw) ? 'Array specified for non-repeated field' : 'JSON object specified for non-record field');
  }
  const text = raw instanceof ExactNumber ? raw.text : typeof raw === 'string' ? raw : undefined;
  switch (type) {
    case 'STRING':
      if (typeof raw === 'boolean') return String(raw);
      if (text === undefined) throw new ValueProblem(`Could not convert value ${describe(raw)} to string`);
      return text;
    case 'INT64': {
      const t = text?.trim();
      if (t === undefined || !INT_TEXT.test(t)) throw new ValueProblem(`Could not convert value '${describe(raw)}' to integer`);
      const value = BigInt(t);
      if (value < -(2n ** 63n) || value >= 2n ** 63n) throw new ValueProblem(`Could not convert value '${t}' to integer: out of range`);
      return value.toString();
    }
    case 'FLOAT64': {
      const t = text?.trim();
      if (t !== undefined && DECIMAL_TEXT.test(t)) return t;
      if (t === 'NaN' || t === 'nan') return 'NaN';
      if (t === 'Infinity' || t === 'inf' || t === '+inf') return 'Infinity';
      if (t === '-Infinity' || t === '-inf') return '-Infinity';
      throw new ValueProblem(`Could not convert value '${describe(raw)}' to float`);
    }
    case 'NUMERIC':
    case 'BIGNUMERIC':
      if (text === undefined) throw new ValueProblem(`Invalid ${type} value: ${describe(raw)}`);
      return decimalFits(text, type);
    case 'BOOL': {
      if (typeof raw === 'boolean') return String(raw);
      const t = text?.trim().toLowerCase();
      if (t === 'true' || t === 'false') return t;
      if (csv && (t === '1' || t === '0' || t === 't' || t === 'f' || t === 'yes' || t === 'no' || t === 'y' || t === 'n')) {
        return String(['1', 't', 'yes', 'y'].includes(t));
      }
      throw new ValueProblem(`Could not convert value '${describe(raw)}' to boolean`);
    }
    case 'TIMESTAMP':
      if (raw instanceof ExactNumber) {
        // A JSON number is seconds since the epoch.
        const plain = expandExponent(raw.text);
        if (!DECIMAL_TEXT.test(plain)) throw new ValueProblem(`Invalid timestamp: ${raw.text}`);
        const negative = plain.startsWith('-');
        const [w, f = ''] = plain.replace(/^-/, '').split('.');
        const micros = (BigInt(w) * 1_000_000n + BigInt((f + '000000').slice(0, 6))) * (negative ? -1n : 1n);
        return microsText(micros);
      }
      return timestampText(text ?? describe(raw));
    case 'DATETIME': {
      const m = text === undefined ? null : DATETIME_TEXT.exec(text.trim());
      if (!m || !validDate(+m[1], +m[2], +m[3]) || +(m[4] ?? 0) > 23 || +(m[5] ?? 0) > 59 || +(m[6] ?? 0) > 59) {
        throw new ValueProblem(`Invalid datetime string "${describe(raw)}"`);
      }
      return `${m[1]}-${pad(m[2], 2)}-${pad(m[3], 2)} ${pad(m[4] ?? 0, 2)}:${m[5] ?? '00'}:${m[6] ?? '00'}.${(m[7] ?? '').padEnd(6, '0')}`;
    }
    case 'DATE': {
      const m = text === undefined ? null : /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text.trim());
      if (!m || !validDate(+m[1], +m[2], +m[3])) throw new ValueProblem(`Invalid date: '${describe(raw)}'`);
      return `${m[1]}-${pad(m[2], 2)}-${pad(m[3], 2)}`;
    }
    case 'TIME': {
      const m = text === undefined ? null : TIME_TEXT.exec(text.trim());
      if (!m || +m[1] > 23 || +m[2] > 59 || +(m[3] ?? 0) > 59) throw new ValueProblem(`Invalid time string "${describe(raw)}"`);
      return `${pad(m[1], 2)}:${m[2]}:${m[3] ?? '00'}.${(m[4] ?? '').padEnd(6, '0')}`;
    }
    case 'BYTES': {
      const t = text?.trim();
      if (t === undefined || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(t)) {
        throw new ValueProblem(`Could not decode base64 string to bytes. Field value: ${describe(raw).slice(0, 40)}`);
      }
      return t;
    }
    case 'GEOGRAPHY':
      return geographyText(text ?? describe(raw));
    case 'JSON': {
      if (csv) {
        try {
          JSON.parse(text ?? '');
        } catch {
          throw new ValueProblem(`Invalid JSON value: ${describe(raw).slice(0, 40)}`);
        }
        return text!;
      }
      return jsonText(raw);
    }
    default:
      throw new ValueProblem(`unsupported type ${type}`);
  }
}

const WKT_KINDS = /^(POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|GEOMETRYCOLLECTION)\s*(Z|M|ZM)?\s*(EMPTY|\(.*\))$/is;

/**
 * Checks a GEOGRAPHY value as BigQuery parses one: well-known text of a known kind whose
 * coordinates are numbers, two per point (BigQuery keeps no Z or M), latitudes within ±90;
 * or GeoJSON. Returns it as stored.
 */
function geographyText(text: string): string {
  const t = text.trim();
  if (t.startsWith('{')) {
    let parsed: { type?: unknown; coordinates?: unknown; geometries?: unknown };
    try {
      parsed = JSON.parse(t) as typeof parsed;
    } catch {
      throw new ValueProblem(`Invalid GeoJSON: ${t.slice(0, 40)}`);
    }
    if (typeof parsed.type !== 'string' || (parsed.coordinates === undefined && parsed.geometries === undefined)) throw new ValueProblem(`Invalid GeoJSON: ${t.slice(0, 40)}`);
    return t;
  }
  const m = WKT_KINDS.exec(t);
  if (!m) throw new ValueProblem(`Invalid WKT: ${t.slice(0, 40)}`);
  if (m[2]) throw new ValueProblem(`Invalid WKT: ${m[2]} coordinates are not supported: ${t.slice(0, 40)}`);
  for (const point of m[3].replace(/[()]/g, ' ').split(',')) {
    const parts = point.trim().split(/\s+/).filter(Boolean);
    if (m[3].toUpperCase() === 'EMPTY' || (m[1].toUpperCase() === 'GEOMETRYCOLLECTION' && !parts.length)) continue;
    if (m[1].toUpperCase() === 'GEOMETRYCOLLECTION') continue;
    if (parts.length !== 2 || parts.some((part) => !/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(part))) throw new ValueProblem(`Invalid WKT point "${point.trim()}": ${t.slice(0, 40)}`);
    if (Math.abs(Number(parts[1])) > 90) throw new ValueProblem(`Latitude ${parts[1]} is out of range [-90, 90]: ${t.slice(0, 40)}`);
  }
  return t;
}

/** Serializes a parsed JSON value, keeping exact numbers. */
function jsonText(value: unknown): string {
  if (value instanceof ExactNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Normalizes a timestamp string to text DuckDB reads as TIMESTAMPTZ, or throws. */
export function timestampText(text: string): string {
  const m = TIMESTAMP_TEXT.exec(text.trim());
  if (!m || !validDate(+m[1], +m[2], +m[3]) || +(m[4] ?? 0) > 23 || +(m[5] ?? 0) > 59 || +(m[6] ?? 0) > 59) {
    throw new ValueProblem(`Invalid timestamp: '${text}'`);
  }
  let zone = (m[8] ?? 'Z').toUpperCase();
  if (zone === 'Z' || zone === 'UTC') zone = '+00:00';
  else {
    const digits = zone.slice(1).replace(':', '');
    const hours = digits.length <= 2 ? digits : digits.slice(0, digits.length - 2);
    const minutes = digits.length <= 2 ? '00' : digits.slice(-2);
    zone = `${zone[0]}${pad(hours, 2)}:${minutes}`;
  }
  const fraction = (m[7] ?? '').slice(0, 6).padEnd(6, '0');
  return `${m[1]}-${pad(m[2], 2)}-${pad(m[3], 2)} ${pad(m[4] ?? 0, 2)}:${m[5] ?? '00'}:${m[6] ?? '00'}.${fraction}${zone}`;
}

/** UTC microseconds as text DuckDB reads as TIMESTAMPTZ. */
export function microsText(micros: bigint): string {
  let seconds = micros / 1_000_000n;
  let fraction = micros % 1_000_000n;
  if (fraction < 0n) {
    fraction += 1_000_000n;
    seconds -= 1n;
  }
  const iso = new Date(Number(seconds) * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${pad(fraction.toString(), 6)}+00:00`;
}
