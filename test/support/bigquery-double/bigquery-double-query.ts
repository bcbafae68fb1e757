/** Query jobs: GoogleSQL scripts and statements (SELECT, DML, transactions) run over DuckDB. */
import { randomUUID } from 'node:crypto';
import { assignable, BqFailure, bqTypeOfDuck, invalid } from './bigquery-double-types.js';
import {
  closing,
  duckTable,
  keyword,
  quote,
  significant,
  splitCommas,
  splitStatements,
  tableAt,
  tokenize,
  translate,
  type Catalog,
  type Parameter,
  type Token,
} from './bigquery-double-sql.js';
import type { TableCatalog, TableChange } from './bigquery-double-catalog.js';
import { DdlRunner } from './bigquery-double-ddl.js';
import { duckFailure, RESULTS_SCHEMA, type DuckSession } from './bigquery-double-duck.js';
import type { JobState, Json } from './bigquery-double-state.js';

/** Runs query jobs with BigQuery's rules on DML, MERGE and transactions. */
export class QueryRunner {
  private readonly ddl: DdlRunner;

  constructor(
    private readonly duck: DuckSession,
    private readonly tables: TableCatalog,
  ) {
    this.ddl = new DdlRunner(duck, tables);
  }

  /** Jobs to pause just before their COMMIT TRANSACTION, by job id prefix (tests of concurrent commits). */
  readonly holds: { prefix: string; reached: () => void; released: Promise<void> }[] = [];

  /**
   * Runs a query job: one statement or a script, with its transactions. Statements of different
   * jobs interleave (one at a time on DuckDB); a transaction works on a connection of its own
   * and, at COMMIT, aborts as BigQuery does when another job changed a table it changed.
   */
  async runQueryJob(job: JobState): Promise<void> {
    const q = job.configuration.query;
    if (q.useLegacySql === true) throw invalid('the test double speaks GoogleSQL only (useLegacySql: false)');
    const defaults = q.defaultDataset ?? {};
    const catalog = this.tables.sqlCatalog(defaults.projectId ?? job.project, defaults.datasetId);
    const parameters = parseParameters(q.queryParameters ?? []);
    const statements = splitStatements(tokenize(String(q.query ?? '')));
    if (statements.length === 0) throw invalid('Syntax error: Unexpected end of script');
    let transaction: Transaction | undefined;
    let statementType = 'SCRIPT';
    try {
      for (const statement of statements) {
        const tokens = significant(statement);
        const first = keyword(tokens[0]);
        statementType = statements.length > 1 ? 'SCRIPT' : first;
        if (first === 'BEGIN') {
          if (transaction) throw invalid('Nested transactions are not supported');
          transaction = await this.duck.mutex.run(async () => ({ session: await this.duck.transaction(), since: this.tables.sequence, changes: new Map<string, TableChange>(), id: randomUUID() }));
        } else if (first === 'COMMIT') {
          if (!transaction) throw invalid('COMMIT TRANSACTION without an active transaction');
          await this.hold(job);
          const committing = transaction;
          transaction = undefined;
          await this.duck.mutex.run(() => this.commit(committing));
        } else if (first === 'ROLLBACK') {
          const rolling = transaction;
          transaction = undefined;
          if (rolling) await this.duck.mutex.run(() => end(rolling, 'ROLLBACK'));
        } else {
          const open = transaction;
          await this.duck.mutex.run(async () => {
            const change = await this.runStatement(open?.session ?? this.duck, job, tokens, catalog, parameters, open !== undefined).catch((error: unknown) => {
              throw open ? conflictFailure(error, open) : error;
            });
            if (!change) return;
            if (open) open.changes.set(change.table, open.changes.get(change.table) === 'mutate' ? 'mutate' : change.kind);
            else this.tables.recordCommit(new Map([[change.table, change.kind]]));
          });
        }
        // Other jobs' statements run between this job's.
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (transaction) throw invalid('Transaction was never committed: a script that begins a transaction must end it with COMMIT TRANSACTION');
    } catch (error) {
      const open = transaction;
      if (open) await this.duck.mutex.run(() => end(open, 'ROLLBACK'));
      throw error;
    }
    job.statistics.query = {
      statementType,
      totalBytesProcessed: '0',
      ...(job.numDmlAffectedRows !== undefined ? { numDmlAffectedRows: String(job.numDmlAffectedRows) } : {}),
    };
  }

  /** Waits while a test holds this job before its COMMIT. */
  private async hold(job: JobState): Promise<void> {
    const index = this.holds.findIndex((hold) => job.jobId.startsWith(hold.prefix));
    if (index < 0) return;
    const [hold] = this.holds.splice(index, 1);
    hold.reached();
    await hold.released;
  }

  /** COMMIT: refused when another job changed one of the transaction's tables since it began. */
  private async commit(transaction: Transaction): Promise<void> {
    const conflict = this.tables.conflict(transaction.since, transaction.changes);
    if (conflict) {
      await end(transaction, 'ROLLBACK');
      throw concurrentUpdate(conflict, transaction);
    }
    try {
      await end(transaction, 'COMMIT');
    } catch (error) {
      throw conflictFailure(error, transaction);
    }
    this.tables.recordCommit(transaction.changes);
  }

  private async runStatement(duck: DuckSession, job: JobState, tokens: Token[], catalog: Catalog, given: Parameter[], inTransaction: boolean): Promise<Change | undefined> {
    const first = keyword(tokens[0]);
    const parameters = [...given, { name: '@row_count', type: 'INT64', value: String(job.lastDmlRows ?? -1) }];
    const before = job.numDmlAffectedRows ?? 0;
    try {
      return await this.dispatch(duck, job, first, tokens, catalog, parameters, inTransaction);
    } finally {
      if ((job.numDmlAffectedRows ?? 0) !== before || ['INSERT', 'MERGE', 'DELETE', 'UPDATE', 'TRUNCATE'].includes(first)) {
        job.lastDmlRows = (job.numDmlAffectedRows ?? 0) - before;
      }
    }
  }

  private async dispatch(duck: DuckSession, job: JobState, first: string, tokens: Token[], catalog: Catalog, parameters: Parameter[], inTransaction: boolean): Promise<Change | undefined> {
    const ddl = ['CREATE', 'DROP', 'ALTER'].includes(first);
    if (ddl && inTransaction) {
      throw invalid(`${first} TABLE is not supported inside a transaction; run DDL before BEGIN TRANSACTION`);
    }
    switch (first) {
      case 'SELECT':
      case 'WITH':
      case '': {
        const { sql, values } = translate(tokens, catalog, parameters);
        const table = duck.nextName('r');
        await duck.run(`CREATE TABLE ${quote(RESULTS_SCHEMA)}.${quote(table)} AS ${sql}`, values);
        const fields = await duck.describe(`${quote(RESULTS_SCHEMA)}.${quote(table)}`);
        const count = await duck.db.runAndReadAll(`SELECT COUNT(*) FROM ${quote(RESULTS_SCHEMA)}.${quote(table)}`);
        job.result = { table, fields, rows: Number(count.getRowsJS()[0][0]) };
        return undefined;
      }
      case 'ASSERT': {
        // ASSERT expression [AS 'description']: an error with the description unless TRUE.
        const as = tokens.findLastIndex((t, k) => keyword(t) === 'AS' && depthAt(tokens, k) === 0);
        const described = as > 0 && tokens[as + 1]?.kind === 'string' && as + 2 === tokens.length;
        const { sql, values } = translate(tokens.slice(1, described ? as : undefined), catalog, parameters);
        const reader = await duck.db.runAndReadAll(`SELECT (${sql}) IS TRUE`, values).catch((error: unknown) => {
          throw duckFailure(error);
        });
        if (reader.getRowsJS()[0]?.[0] !== true) throw new BqFailure(400, 'invalidQuery', described ? tokens[as + 1].value! : 'Assertion failed');
        return undefined;
      }
      case 'INSERT':
        return this.runInsert(duck, job, tokens, catalog, parameters);
      case 'MERGE':
        return this.runMerge(duck, job, tokens, catalog, parameters);
      case 'DELETE':
      case 'UPDATE':
      case 'TRUNCATE': {
        let at = 1;
        if (first === 'DELETE' && keyword(tokens[1]) === 'FROM') at = 2;
        if (first === 'TRUNCATE' && keyword(tokens[1]) === 'TABLE') at = 2;
        const { path: target } = tableAt(tokens, at, catalog);
        this.tables.table(target);
        if (first !== 'TRUNCATE' && !tokens.some((t) => keyword(t) === 'WHERE')) throw invalid(`${first} must have a WHERE clause`);
        this.tables.noteUpdate(target);
        const body = first === 'TRUNCATE' ? tokenize(`DELETE FROM \`${target.project}.${target.dataset}.${target.table}\``) : tokens;
        const { sql, values } = translate(first === 'DELETE' && at === 1 ? [tokens[0], { kind: 'ident', text: 'FROM' }, ...tokens.slice(1)] : body, catalog, parameters);
        job.numDmlAffectedRows = (job.numDmlAffectedRows ?? 0) + (await duck.run(sql, values));
        this.tables.touch(target);
        return { table: this.tables.tableKey(target), kind: 'mutate' };
      }
      case 'CREATE':
        await this.ddl.runCreate(tokens, catalog, parameters);
        return undefined;
      case 'DROP': {
        if (keyword(tokens[1]) !== 'TABLE') throw invalid(`the test double supports DROP TABLE only`);
        const ifExists = keyword(tokens[2]) === 'IF';
        const { path: target } = tableAt(tokens, ifExists ? 4 : 2, catalog);
        if (!this.tables.findTable(target)) {
          if (ifExists) return undefined;
          throw new BqFailure(404, 'notFound', `Not found: Table ${this.tables.tableKey(target)}`);
        }
        await this.duck.run(`DROP TABLE ${duckTable(target)}`);
        this.tables.tables.delete(this.tables.tableKey(target));
        return { table: this.tables.tableKey(target), kind: 'mutate' };
      }
      case 'ALTER':
        await this.ddl.runAlter(tokens, catalog);
        return undefined;
      default:
        throw invalid(`Syntax error: the test double does not support statements starting with ${tokens[0]?.text}`);
    }
  }

  private async runInsert(duck: DuckSession, job: JobState, tokens: Token[], catalog: Catalog, parameters: Parameter[]): Promise<Change> {
    const at = keyword(tokens[1]) === 'INTO' ? 2 : 1;
    const { path: target, end } = tableAt(tokens, at, catalog);
    const state = this.tables.table(target);
    let columns = state.fields;
    let queryStart = end;
    if (tokens[end]?.text === '(') {
      const close = closing(tokens, end);
      const names = splitCommas(tokens.slice(end + 1, close)).map((part) => part.map((t) => t.value ?? t.text).join(''));
      columns = names.map((name) => {
        const field = state.fields.find((f) => f.name.toLowerCase() === name.toLowerCase());
        if (!field) throw invalid(`Column ${name} is not present in table ${this.tables.tableKey(target)}`);
        return field;
      });
      queryStart = close + 1;
    }
    const query = tokens.slice(queryStart);
    if (keyword(query[0]) !== 'VALUES') {
      const { sql, values } = translate(query, catalog, parameters);
      const described = await duck.db.runAndReadAll(`DESCRIBE ${sql}`, values).catch((error: unknown) => {
        throw duckFailure(error);
      });
      const types = described.getRowsJS().map((row) => String(row[1]));
      if (types.length !== columns.length) throw invalid(`Inserted row has wrong column count; Has ${types.length}, ${columns.length} are expected`);
      types.forEach((duck, i) => {
        if (duck === 'NULL' || duck === '"NULL"') return;
        const found = bqTypeOfDuck(duck);
        const column = columns[i];
        if (found.repeated !== (column.mode === 'REPEATED') || !assignable(found.type, column.type)) {
          throw invalid(
            `Query column ${i + 1} has type ${found.repeated ? `ARRAY<${found.type}>` : found.type} which cannot be inserted into column ${column.name}, which has type ${column.mode === 'REPEATED' ? `ARRAY<${column.type}>` : column.type}`,
          );
        }
      });
    }
    for (const field of state.fields) {
      if (field.mode === 'REQUIRED' && !columns.includes(field)) throw invalid(`Required field ${field.name} cannot be null`);
    }
    this.tables.noteUpdate(target);
    const { sql, values } = translate(at === 1 ? [tokens[0], { kind: 'ident', text: 'INTO' }, ...tokens.slice(1)] : tokens, catalog, parameters);
    job.numDmlAffectedRows = (job.numDmlAffectedRows ?? 0) + (await duck.run(sql, values));
    this.tables.touch(target);
    return { table: this.tables.tableKey(target), kind: 'insert' };
  }

  private async runMerge(duck: DuckSession, job: JobState, tokens: Token[], catalog: Catalog, parameters: Parameter[]): Promise<Change> {
    const at = keyword(tokens[1]) === 'INTO' ? 2 : 1;
    const { path: target, end } = tableAt(tokens, at, catalog);
    this.tables.table(target);
    let i = end;
    if (keyword(tokens[i]) === 'AS') i++;
    const targetAlias = keyword(tokens[i]) !== 'USING' ? tokens[i++] : undefined;
    if (keyword(tokens[i]) !== 'USING') throw invalid('Syntax error: Expected keyword USING in MERGE');
    const on = tokens.findIndex((t, k) => k > i && keyword(t) === 'ON' && depthAt(tokens, k) === 0);
    const when = tokens.findIndex((t, k) => k > on && keyword(t) === 'WHEN' && depthAt(tokens, k) === 0);
    if (on < 0 || when < 0) throw invalid('Syntax error: MERGE needs ON and WHEN clauses');
    // BigQuery refuses a MERGE whose source matches one target row more than once.
    const alias = targetAlias ? [targetAlias] : [];
    const check = [
      ...tokenize('SELECT 1 FROM '),
      ...tokens.slice(at, end),
      ...alias,
      { kind: 'ident', text: 'JOIN' } as Token,
      ...tokens.slice(i + 1, on),
      ...tokens.slice(on, when),
      ...tokenize(` GROUP BY ${targetAlias ? `${targetAlias.text}.` : ''}rowid HAVING COUNT(*) > 1 LIMIT 1`),
    ];
    const { sql: checkSql, values: checkValues } = translate(check, catalog, parameters);
    const duplicates = await duck.db.runAndReadAll(checkSql, checkValues).catch((error: unknown) => {
      throw duckFailure(error);
    });
    if (duplicates.getRowsJS().length > 0) throw invalid('UPDATE/MERGE must match at most one source row for each target row');
    this.tables.noteUpdate(target);
    const { sql, values } = translate(at === 1 ? [tokens[0], { kind: 'ident', text: 'INTO' }, ...tokens.slice(1)] : tokens, catalog, parameters);
    job.numDmlAffectedRows = (job.numDmlAffectedRows ?? 0) + (await duck.run(sql, values));
    this.tables.touch(target);
    return { table: this.tables.tableKey(target), kind: 'mutate' };
  }
}

/** Depth of parentheses at token `index`. */
function depthAt(tokens: readonly Token[], index: number): number {
  let depth = 0;
  for (let i = 0; i < index; i++) {
    if (tokens[i].text === '(') depth++;
    else if (tokens[i].text === ')') depth--;
  }
  return depth;
}

/** Query parameters of a request, flattened to names, types and text values. */
function parseParameters(raw: readonly Json[]): Parameter[] {
  return raw.map((p) => ({
    name: p.name,
    type: String(p.parameterType?.type ?? 'STRING'),
    arrayType: p.parameterType?.arrayType?.type,
    value: p.parameterValue?.value ?? null,
    arrayValues: (p.parameterValue?.arrayValues as Json[] | undefined)?.map((v) => v.value ?? null),
  }));
}

/** A transaction in progress: its connection, where it began, and what it changed. */
interface Transaction {
  readonly session: DuckSession;
  /** The catalog's commit sequence number at BEGIN. */
  readonly since: number;
  readonly changes: Map<string, TableChange>;
  readonly id: string;
}

/** A table a statement changed, and how. */
interface Change {
  readonly table: string;
  readonly kind: TableChange;
}

/** Ends a transaction and closes its connection. */
async function end(transaction: Transaction, how: 'COMMIT' | 'ROLLBACK'): Promise<void> {
  try {
    await transaction.session.db.run(how);
  } catch (error) {
    if (how === 'COMMIT') await transaction.session.db.run('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    transaction.session.db.closeSync();
  }
}

/** BigQuery's error for a transaction that lost to another job's change of `table`. */
function concurrentUpdate(table: string, transaction: Transaction): BqFailure {
  return new BqFailure(400, 'invalidQuery', `Transaction is aborted due to concurrent update against table ${table}. Transaction ID: ${transaction.id}`);
}

/** DuckDB's write-write conflicts between transactions, as BigQuery reports them. */
function conflictFailure(error: unknown, transaction: Transaction): unknown {
  const message = error instanceof Error ? error.message : String(error);
  if (!/conflict/i.test(message)) return error;
  const table = [...transaction.changes.keys()][0] ?? 'unknown';
  return concurrentUpdate(table, transaction);
}
