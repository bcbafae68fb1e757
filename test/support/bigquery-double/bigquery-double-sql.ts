/**
 * The GoogleSQL subset the double understands, translated to DuckDB: tokenizing, statement
 * splitting, table paths (`project.dataset.table` → a DuckDB schema per dataset), types,
 * parameters and the few functions b2betl's connectors use.
 */
import { duckScalar, invalid, standardType } from './bigquery-double-types.js';

/** A lexical token of GoogleSQL. */
export interface Token {
  kind: 'ws' | 'comment' | 'string' | 'ident' | 'quoted' | 'number' | 'param' | 'punct';
  text: string;
  /** Decoded value of strings and quoted identifiers; the name of parameters. */
  value?: string;
}

/** Splits GoogleSQL text into tokens. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i];
    const rest = sql.slice(i, i + 3);
    if (/\s/.test(c)) {
      let j = i + 1;
      while (j < n && /\s/.test(sql[j])) j++;
      tokens.push({ kind: 'ws', text: sql.slice(i, j) });
      i = j;
    } else if (rest.startsWith('--') || c === '#') {
      let j = sql.indexOf('\n', i);
      if (j < 0) j = n;
      tokens.push({ kind: 'comment', text: sql.slice(i, j) });
      i = j;
    } else if (rest.startsWith('/*')) {
      const j = sql.indexOf('*/', i + 2);
      if (j < 0) throw invalid('Syntax error: Unclosed comment');
      tokens.push({ kind: 'comment', text: sql.slice(i, j + 2) });
      i = j + 2;
    } else if (c === "'" || c === '"' || (/[rRbB]/.test(c) && (sql[i + 1] === "'" || sql[i + 1] === '"'))) {
      const raw = /[rR]/.test(c);
      const start = /[rRbB]/.test(c) ? i + 1 : i;
      const quote = sql[start];
      const triple = sql.slice(start, start + 3) === quote.repeat(3);
      const close = triple ? quote.repeat(3) : quote;
      let j = start + close.length;
      let value = '';
      for (;;) {
        if (j >= n) throw invalid('Syntax error: Unclosed string literal');
        if (sql.startsWith(close, j)) break;
        const ch = sql[j];
        if (ch === '\\' && !raw) {
          const next = sql[j + 1];
          const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '`': '`', '0': '\0' };
          value += escapes[next] ?? next;
          j += 2;
        } else {
          value += ch;
          j++;
        }
      }
      j += close.length;
      tokens.push({ kind: 'string', text: sql.slice(i, j), value });
      i = j;
    } else if (c === '`') {
      const j = sql.indexOf('`', i + 1);
      if (j < 0) throw invalid('Syntax error: Unclosed identifier literal');
      tokens.push({ kind: 'quoted', text: sql.slice(i, j + 1), value: sql.slice(i + 1, j) });
      i = j + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j])) j++;
      tokens.push({ kind: 'ident', text: sql.slice(i, j), value: sql.slice(i, j) });
      i = j;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      const m = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(sql.slice(i))!;
      tokens.push({ kind: 'number', text: m[0] });
      i += m[0].length;
    } else if (c === '@' && sql[i + 1] === '@' && /[A-Za-z_]/.test(sql[i + 2] ?? '')) {
      // A system variable (@@row_count): kept as a parameter named with its leading @.
      let j = i + 3;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j])) j++;
      tokens.push({ kind: 'param', text: sql.slice(i, j), value: sql.slice(i + 1, j) });
      i = j;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      let j = i + 2;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j])) j++;
      tokens.push({ kind: 'param', text: sql.slice(i, j), value: sql.slice(i + 1, j) });
      i = j;
    } else if (c === '?') {
      tokens.push({ kind: 'param', text: '?', value: '' });
      i++;
    } else {
      const two = sql.slice(i, i + 2);
      const op = ['<=', '>=', '<>', '!=', '||', '::', '=>'].includes(two) ? two : c;
      tokens.push({ kind: 'punct', text: op });
      i += op.length;
    }
  }
  return tokens;
}

/** Splits tokens into statements at top-level semicolons, dropping empty statements. */
export function splitStatements(tokens: readonly Token[]): Token[][] {
  const statements: Token[][] = [];
  let current: Token[] = [];
  for (const token of tokens) {
    if (token.kind === 'punct' && token.text === ';') {
      statements.push(current);
      current = [];
    } else current.push(token);
  }
  statements.push(current);
  return statements.filter((s) => s.some((t) => t.kind !== 'ws' && t.kind !== 'comment'));
}

/** Significant tokens (no whitespace or comments). */
export function significant(tokens: readonly Token[]): Token[] {
  return tokens.filter((t) => t.kind !== 'ws' && t.kind !== 'comment');
}

/** Upper-case keyword of an identifier token, or ''. */
export function keyword(token: Token | undefined): string {
  return token?.kind === 'ident' ? token.text.toUpperCase() : '';
}

/** A table as the double names it. */
export interface TablePath {
  project: string;
  dataset: string;
  table: string;
}

/** What the translator needs from the double's catalog. */
export interface Catalog {
  readonly defaultProject: string;
  readonly defaultDataset?: string;
  hasDataset(project: string, dataset: string): boolean;
}

/** Query parameter types and values as the request carried them. */
export interface Parameter {
  name?: string;
  type: string;
  arrayType?: string;
  value: string | null;
  arrayValues?: (string | null)[];
}

/** The DuckDB schema holding a dataset's tables. */
export function schemaName(project: string, dataset: string): string {
  return `${project}.${dataset}`;
}

/** `"project.dataset"."table"` */
export function duckTable(path: TablePath): string {
  return `${quote(schemaName(path.project, path.dataset))}.${quote(path.table)}`;
}

/** A DuckDB quoted identifier. */
export function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A DuckDB string literal. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Reads a dotted name chain starting at `index` of significant tokens. */
function readChain(tokens: readonly Token[], index: number): { parts: string[]; quotedDots: boolean; end: number } {
  const parts: string[] = [];
  let quotedDots = false;
  let i = index;
  for (;;) {
    const t = tokens[i];
    if (!t || (t.kind !== 'ident' && t.kind !== 'quoted')) break;
    if (t.kind === 'quoted' && t.value!.includes('.')) quotedDots = true;
    parts.push(...(t.kind === 'quoted' ? t.value!.split('.') : [t.text]));
    if (tokens[i + 1]?.kind === 'punct' && tokens[i + 1].text === '.' && (tokens[i + 2]?.kind === 'ident' || tokens[i + 2]?.kind === 'quoted')) {
      i += 2;
    } else {
      i += 1;
      break;
    }
  }
  return { parts, quotedDots, end: i };
}

/** Resolves a name chain to a table path when it names one. */
export function resolveTable(parts: readonly string[], quotedDots: boolean, catalog: Catalog): TablePath | undefined {
  if (parts.length === 3 && (quotedDots || catalog.hasDataset(parts[0], parts[1]))) {
    return { project: parts[0], dataset: parts[1], table: parts[2] };
  }
  if (parts.length === 2 && (quotedDots || catalog.hasDataset(catalog.defaultProject, parts[0]))) {
    return { project: catalog.defaultProject, dataset: parts[0], table: parts[1] };
  }
  return undefined;
}

/** Parses a table path at `index` (after FROM, INTO…), resolving one-part names with the default dataset. */
export function tableAt(tokens: readonly Token[], index: number, catalog: Catalog): { path: TablePath; end: number } {
  const chain = readChain(tokens, index);
  if (chain.parts.length === 0) throw invalid(`Syntax error: expected a table name near ${tokens[index]?.text ?? 'end of statement'}`);
  const path =
    resolveTable(chain.parts, chain.quotedDots, catalog) ??
    (chain.parts.length === 1 && catalog.defaultDataset
      ? { project: catalog.defaultProject, dataset: catalog.defaultDataset, table: chain.parts[0] }
      : chain.parts.length === 2
        ? { project: catalog.defaultProject, dataset: chain.parts[0], table: chain.parts[1] }
        : chain.parts.length === 3
          ? { project: chain.parts[0], dataset: chain.parts[1], table: chain.parts[2] }
          : undefined);
  if (!path) throw invalid(`Table "${chain.parts.join('.')}" must be qualified with a dataset (e.g. dataset.table).`);
  return { path, end: chain.end };
}

const TYPE_REWRITES: Record<string, string> = {
  INT64: 'BIGINT',
  INTEGER: 'BIGINT',
  INT: 'BIGINT',
  SMALLINT: 'BIGINT',
  TINYINT: 'BIGINT',
  BYTEINT: 'BIGINT',
  FLOAT64: 'DOUBLE',
  BOOL: 'BOOLEAN',
  STRING: 'VARCHAR',
  BYTES: 'BLOB',
  BIGNUMERIC: 'VARCHAR',
  BIGDECIMAL: 'VARCHAR',
};
/** Types that are also function names in GoogleSQL: rewritten only when not called. */
const TYPE_OR_FUNCTION: Record<string, string> = {
  NUMERIC: 'DECIMAL(38,9)',
  DECIMAL: 'DECIMAL(38,9)',
  TIMESTAMP: 'TIMESTAMPTZ',
  DATETIME: 'TIMESTAMP',
};
const FUNCTION_REWRITES: Record<string, string> = {
  TO_JSON_STRING: 'bq_to_json_string',
  TO_JSON: 'to_json',
  MD5: 'md5',
  TO_HEX: 'hex',
  STRUCT: 'row',
  SAFE_CAST: 'TRY_CAST',
  UNIX_MICROS: 'epoch_us',
  UNIX_MILLIS: 'epoch_ms',
  UNIX_SECONDS: 'epoch',
};

/** The result of translating one statement. */
export interface Translated {
  sql: string;
  /** DuckDB named parameter values (all passed as text and cast in SQL). */
  values: Record<string, string | null>;
  /** Tables the statement reads or writes. */
  tables: TablePath[];
}

/** Translates one GoogleSQL statement (its tokens) into DuckDB SQL. */
export function translate(statement: readonly Token[], catalog: Catalog, parameters: readonly Parameter[]): Translated {
  const tokens = rewriteInUnnest(significant(statement));
  const out: string[] = [];
  const values: Record<string, string | null> = {};
  const tables: TablePath[] = [];
  let positional = 0;
  const byName = new Map(parameters.filter((p) => p.name).map((p) => [p.name!.toLowerCase(), p]));
  const positionalParams = parameters.filter((p) => !p.name);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const next = tokens[i + 1];
    const prev = tokens[i - 1];
    const calls = next?.kind === 'punct' && next.text === '(';
    if (t.kind === 'ident' || t.kind === 'quoted') {
      const chain = readChain(tokens, i);
      const path = resolveTable(chain.parts, chain.quotedDots, catalog);
      if (path) {
        tables.push(path);
        out.push(duckTable(path));
        i = chain.end - 1;
        continue;
      }
      if (t.kind === 'quoted') {
        out.push(chain.parts.map(quote).join('.'));
        i = chain.end - 1;
        continue;
      }
      const upper = t.text.toUpperCase();
      const afterDot = prev?.kind === 'punct' && prev.text === '.';
      if (afterDot) {
        out.push(t.text);
        continue;
      }
      if (upper === 'EXCEPT' && prev?.text === '*' && calls) out.push('EXCLUDE');
      else if (upper === 'CURRENT_TIMESTAMP' && calls && tokens[i + 2]?.text === ')') {
        out.push('now()');
        i += 2;
      } else if (upper === 'GENERATE_UUID' && calls && tokens[i + 2]?.text === ')') {
        out.push('CAST(uuid() AS VARCHAR)');
        i += 2;
      } else if (upper === 'ARRAY' && next?.text === '<') {
        // ARRAY<T> → T[]
        const inner = tokens[i + 2];
        const mapped = TYPE_REWRITES[keyword(inner)] ?? TYPE_OR_FUNCTION[keyword(inner)] ?? inner.text;
        if (tokens[i + 3]?.text !== '>') throw invalid('the test double supports ARRAY<scalar> only');
        out.push(`${mapped}[]`);
        i += 3;
      } else if (FUNCTION_REWRITES[upper] && calls) out.push(FUNCTION_REWRITES[upper]);
      else if (TYPE_REWRITES[upper] && !calls) out.push(TYPE_REWRITES[upper]);
      else if (TYPE_OR_FUNCTION[upper] && !calls) out.push(TYPE_OR_FUNCTION[upper]);
      else if (upper === 'DATE' && calls) out.push('CAST_DATE');
      else out.push(t.text);
      continue;
    }
    if (t.kind === 'string') {
      out.push(literal(t.value!));
      continue;
    }
    if (t.kind === 'param') {
      const parameter = t.value ? byName.get(t.value.toLowerCase()) : positionalParams[positional];
      if (!parameter) throw invalid(t.value ? `Query parameter '${t.value}' not found` : 'Not enough positional parameters');
      const key = t.value ? `p_${t.value.toLowerCase().replace(/@/g, '_sys_')}` : `p${positional++}`;
      if (parameter.type === 'ARRAY') {
        const element = duckScalar(standardType(parameter.arrayType ?? 'STRING') ?? 'STRING');
        values[key] = JSON.stringify(parameter.arrayValues ?? []);
        out.push(`CAST(CAST($${key} AS JSON) AS ${element}[])`);
      } else {
        const type = standardType(parameter.type);
        if (!type) throw invalid(`Invalid query parameter type ${parameter.type}`);
        values[key] = parameter.value;
        out.push(type === 'BYTES' ? `from_base64($${key})` : `CAST($${key} AS ${duckScalar(type)})`);
      }
      continue;
    }
    out.push(t.text);
  }
  let sql = '';
  for (const piece of out) sql += sql === '' || piece === '.' || sql.endsWith('.') ? piece : ` ${piece}`;
  return { sql: rewriteDateCalls(sql), values, tables };
}

/** `x IN UNNEST(list)` → `x IN (SELECT UNNEST(list))`. */
function rewriteInUnnest(tokens: Token[]): Token[] {
  const out = [...tokens];
  for (let i = 0; i < out.length - 2; i++) {
    if (keyword(out[i]) === 'IN' && keyword(out[i + 1]) === 'UNNEST' && out[i + 2].text === '(') {
      const close = closing(out, i + 2);
      out.splice(close + 1, 0, { kind: 'punct', text: ')' });
      out.splice(i + 1, 0, { kind: 'punct', text: '(' }, { kind: 'ident', text: 'SELECT' });
    }
  }
  return out;
}

/** `DATE(x)` → `CAST(x AS DATE)` (DuckDB's date() is not GoogleSQL's). */
function rewriteDateCalls(sql: string): string {
  let result = sql;
  const marker = 'CAST_DATE (';
  for (let at = result.indexOf(marker); at >= 0; at = result.indexOf(marker)) {
    let depth = 0;
    let end = at + marker.length - 1;
    for (; end < result.length; end++) {
      if (result[end] === '(') depth++;
      else if (result[end] === ')' && --depth === 0) break;
    }
    const inner = result.slice(at + marker.length, end);
    result = `${result.slice(0, at)}CAST(${inner} AS DATE)${result.slice(end + 1)}`;
  }
  return result;
}

/** Index of the token closing the parenthesis opened at `open`. */
export function closing(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    if (tokens[i].text === '(') depth++;
    else if (tokens[i].text === ')' && --depth === 0) return i;
  }
  throw invalid('Syntax error: unbalanced parentheses');
}

/** Splits tokens at top-level commas. */
export function splitCommas(tokens: readonly Token[]): Token[][] {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t.text === '(' || t.text === '<') depth++;
    else if (t.text === ')' || t.text === '>') depth--;
    if (depth === 0 && t.kind === 'punct' && t.text === ',') parts.push([]);
    else parts[parts.length - 1].push(t);
  }
  return parts.filter((p) => p.length > 0);
}

/** Parses a GoogleSQL column type (`INT64`, `NUMERIC(10,2)`, `ARRAY<STRING>`) into type and mode. */
export function parseColumnType(tokens: readonly Token[]): { type: string; mode: string; rest: Token[] } {
  const first = keyword(tokens[0]);
  if (first === 'ARRAY' && tokens[1]?.text === '<') {
    const type = standardType(keyword(tokens[2]));
    if (!type || tokens[3]?.text !== '>') throw invalid('the test double supports ARRAY<scalar> only');
    return { type, mode: 'REPEATED', rest: tokens.slice(4) };
  }
  const type = standardType(first);
  if (!type) throw invalid(`Type not found: ${tokens[0]?.text}`);
  let rest = tokens.slice(1);
  if (rest[0]?.text === '(') rest = rest.slice(closing(rest, 0) + 1);
  let mode = 'NULLABLE';
  if (keyword(rest[0]) === 'NOT' && keyword(rest[1]) === 'NULL') {
    mode = 'REQUIRED';
    rest = rest.slice(2);
  }
  return { type, mode, rest };
}
