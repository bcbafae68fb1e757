/** DDL statements of query jobs: CREATE TABLE (with AS query and options) and ALTER TABLE. */
import { randomUUID } from 'node:crypto';
import { BqFailure, duckScalar, duckType, invalid, normalizeSchema, widenable, type BqField } from './bigquery-double-types.js';
import {
  closing,
  duckTable,
  keyword,
  parseColumnType,
  quote,
  splitCommas,
  tableAt,
  translate,
  type Catalog,
  type Parameter,
  type Token,
} from './bigquery-double-sql.js';
import type { TableCatalog } from './bigquery-double-catalog.js';
import { RESULTS_SCHEMA, type DuckSession } from './bigquery-double-duck.js';
import type { Json, TableState } from './bigquery-double-state.js';
import { validateTableOptions } from './bigquery-double-table-options.js';

/** Runs CREATE TABLE and ALTER TABLE statements against the catalog. */
export class DdlRunner {
  constructor(
    private readonly duck: DuckSession,
    private readonly tables: TableCatalog,
  ) {}

  /** CREATE [OR REPLACE] TABLE [IF NOT EXISTS], with a column list or AS query, and options. */
  async runCreate(tokens: Token[], catalog: Catalog, parameters: Parameter[]): Promise<void> {
    let i = 1;
    let replace = false;
    if (keyword(tokens[i]) === 'OR' && keyword(tokens[i + 1]) === 'REPLACE') {
      replace = true;
      i += 2;
    }
    if (keyword(tokens[i]) === 'TEMP' || keyword(tokens[i]) === 'TEMPORARY') throw invalid('the test double does not support temporary tables');
    if (keyword(tokens[i]) !== 'TABLE') throw invalid(`the test double supports CREATE TABLE only`);
    i++;
    let ifNotExists = false;
    if (keyword(tokens[i]) === 'IF') {
      ifNotExists = true;
      i += 3;
    }
    const { path: target, end } = tableAt(tokens, i, catalog);
    this.tables.dataset(target.project, target.dataset);
    const exists = this.tables.findTable(target);
    if (exists && ifNotExists) return;
    if (exists && !replace) throw new BqFailure(409, 'duplicate', `Already Exists: Table ${this.tables.tableKey(target)}`);
    i = end;
    let fields: BqField[] | undefined;
    if (tokens[i]?.text === '(') {
      const close = closing(tokens, i);
      fields = splitCommas(tokens.slice(i + 1, close)).map((def) => {
        const { type, mode } = parseColumnType(def.slice(1));
        return { name: def[0].value ?? def[0].text, type, mode };
      });
      i = close + 1;
    }
    const options: Json = {};
    let query: Token[] | undefined;
    while (i < tokens.length) {
      const k = keyword(tokens[i]);
      if (k === 'PARTITION' && keyword(tokens[i + 1]) === 'BY') {
        i += 2;
        const start = i;
        while (i < tokens.length && !['CLUSTER', 'OPTIONS', 'AS'].includes(keyword(tokens[i]))) i++;
        const expr = tokens.slice(start, i).filter((t) => t.kind === 'ident' || t.kind === 'quoted');
        const field = expr.find((t) => !['DATE', 'TIMESTAMP_TRUNC', 'DATETIME_TRUNC', 'DATE_TRUNC', 'DAY', 'HOUR', 'MONTH', 'YEAR'].includes(keyword(t)));
        options.timePartitioning = { type: 'DAY', ...(field ? { field: field.value ?? field.text } : {}) };
      } else if (k === 'CLUSTER' && keyword(tokens[i + 1]) === 'BY') {
        i += 2;
        const names: string[] = [];
        while (i < tokens.length && !['OPTIONS', 'AS'].includes(keyword(tokens[i]))) {
          if (tokens[i].text !== ',') names.push(tokens[i].value ?? tokens[i].text);
          i++;
        }
        options.clustering = { fields: names };
      } else if (k === 'OPTIONS') {
        const close = closing(tokens, i + 1);
        Object.assign(options, parseOptions(tokens.slice(i + 2, close)));
        i = close + 1;
      } else if (k === 'AS') {
        query = tokens.slice(i + 1);
        break;
      } else throw invalid(`Syntax error: unexpected ${tokens[i].text} in CREATE TABLE`);
    }
    this.tables.noteUpdate(target);
    if (query) {
      const { sql, values } = translate(query, catalog, parameters);
      const scratchTable = `${quote(RESULTS_SCHEMA)}.${quote(this.duck.nextName('ctas'))}`;
      await this.duck.run(`CREATE TABLE ${scratchTable} AS ${sql}`, values);
      fields = fields ?? (await this.duck.describe(scratchTable));
      fields = normalizeSchema(fields, this.tables.tableKey(target));
      validateTableOptions(fields, options, this.tables.tableKey(target));
      await this.tables.createStorage(target, fields);
      await this.duck.run(`INSERT INTO ${duckTable(target)} SELECT * FROM ${scratchTable}`);
      await this.duck.run(`DROP TABLE ${scratchTable}`);
    } else {
      if (!fields) throw invalid('CREATE TABLE needs a column list or AS query');
      fields = normalizeSchema(fields, this.tables.tableKey(target));
      validateTableOptions(fields, options, this.tables.tableKey(target));
      await this.tables.createStorage(target, fields);
    }
    const now = Date.now();
    this.tables.tables.set(this.tables.tableKey(target), {
      path: target,
      fields,
      labels: options.labels ?? {},
      timePartitioning: options.timePartitioning,
      clustering: options.clustering,
      expirationTime: options.expirationTime,
      description: options.description,
      creationTime: now,
      lastModifiedTime: now,
      etag: randomUUID(),
    });
  }

  /** ALTER TABLE: add, widen, relax or drop columns, set options; all checked before any applies. */
  async runAlter(tokens: Token[], catalog: Catalog): Promise<void> {
    if (keyword(tokens[1]) !== 'TABLE') throw invalid('the test double supports ALTER TABLE only');
    let i = 2;
    if (keyword(tokens[i]) === 'IF') i += 2;
    const { path: target, end } = tableAt(tokens, i, catalog);
    const state = this.tables.table(target);
    // Every action is checked before any is applied: an invalid statement changes nothing and
    // does not count against the table's update rate.
    await this.alterActions(state, splitCommas(tokens.slice(end)), false);
    this.tables.noteUpdate(target);
    await this.alterActions(state, splitCommas(tokens.slice(end)), true);
    state.lastModifiedTime = Date.now();
  }

  private async alterActions(state: TableState, actions: Token[][], apply: boolean): Promise<void> {
    const target = state.path;
    const added = new Set<string>();
    for (const action of actions) {
      const a = keyword(action[0]);
      const b = keyword(action[1]);
      if (a === 'ADD' && b === 'COLUMN') {
        let k = 2;
        let ifNotExists = false;
        if (keyword(action[k]) === 'IF') {
          ifNotExists = true;
          k += 3;
        }
        const name = action[k].value ?? action[k].text;
        const { type, mode } = parseColumnType(action.slice(k + 1));
        if (state.fields.some((f) => f.name.toLowerCase() === name.toLowerCase()) || (!apply && added.has(name.toLowerCase()))) {
          if (ifNotExists) continue;
          throw invalid(`Column already exists: ${name}`);
        }
        added.add(name.toLowerCase());
        if (mode === 'REQUIRED') throw invalid(`ALTER TABLE ADD COLUMN cannot add a REQUIRED column (${name}); new columns must be NULLABLE`);
        const [field] = normalizeSchema([{ name, type, mode }], this.tables.tableKey(target));
        if (!apply) continue;
        await this.duck.run(`ALTER TABLE ${duckTable(target)} ADD COLUMN ${quote(field.name)} ${duckType(field)}`);
        state.fields.push(field);
      } else if (a === 'ALTER' && b === 'COLUMN') {
        const name = action[2].value ?? action[2].text;
        const field = state.fields.find((f) => f.name.toLowerCase() === name.toLowerCase());
        if (!field) throw invalid(`Column not found: ${name} in table ${this.tables.tableKey(target)}`);
        const verb = `${keyword(action[3])} ${keyword(action[4])}`;
        if (verb === 'SET DATA') {
          const { type } = parseColumnType(action.slice(6));
          if (!widenable(field.type, type)) {
            throw invalid(`ALTER TABLE ALTER COLUMN SET DATA TYPE requires that the existing column type (${field.type}) is assignable to the new type (${type})`);
          }
          if (!apply) continue;
          const source = quote(field.name);
          const using = type === 'BIGNUMERIC' ? `regexp_replace(regexp_replace(CAST(${source} AS VARCHAR), '(\\.[0-9]*?)0+$', '\\1'), '\\.$', '')` : `CAST(${source} AS ${duckScalar(type)})`;
          await this.duck.run(`ALTER TABLE ${duckTable(target)} ALTER COLUMN ${source} SET DATA TYPE ${duckScalar(type)} USING ${using}`);
          field.type = type;
        } else if (verb === 'DROP NOT') {
          if (!apply) continue;
          await this.duck.run(`ALTER TABLE ${duckTable(target)} ALTER COLUMN ${quote(field.name)} DROP NOT NULL`);
          field.mode = 'NULLABLE';
        } else throw invalid(`the test double does not support ALTER COLUMN ${verb}`);
      } else if (a === 'DROP' && b === 'COLUMN') {
        const name = action[2].value ?? action[2].text;
        if (!state.fields.some((f) => f.name.toLowerCase() === name.toLowerCase())) throw invalid(`Column not found: ${name}`);
        if (!apply) continue;
        await this.duck.run(`ALTER TABLE ${duckTable(target)} DROP COLUMN ${quote(name)}`);
        state.fields = state.fields.filter((f) => f.name.toLowerCase() !== name.toLowerCase());
      } else if (a === 'SET' && b === 'OPTIONS') {
        const options = parseOptions(action.slice(3, closing(action, 2)));
        if (!apply) continue;
        if (options.labels) state.labels = { ...state.labels, ...options.labels };
        if (options.expirationTime) state.expirationTime = options.expirationTime;
        if (options.description) state.description = options.description;
      } else throw invalid(`the test double does not support ALTER TABLE ${a} ${b}`);
    }
  }
}

/** `OPTIONS(labels=[("k","v")], expiration_timestamp=TIMESTAMP "...", description="...")`. */
function parseOptions(tokens: Token[]): Json {
  const options: Json = {};
  for (const part of splitCommas(tokens)) {
    const name = keyword(part[0]);
    const value = part.slice(2);
    if (name === 'LABELS') {
      const labels: Record<string, string> = {};
      const strings = value.filter((t) => t.kind === 'string').map((t) => t.value!);
      for (let i = 0; i + 1 < strings.length; i += 2) labels[strings[i]] = strings[i + 1];
      options.labels = labels;
    } else if (name === 'DESCRIPTION') options.description = value.find((t) => t.kind === 'string')?.value;
    else if (name === 'EXPIRATION_TIMESTAMP') {
      const text = value.find((t) => t.kind === 'string')?.value;
      if (text) options.expirationTime = String(Date.parse(text.replace(' ', 'T').replace(/ ?UTC$/, 'Z')));
    }
  }
  return options;
}
