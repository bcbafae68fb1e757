/** The double's single DuckDB connection, the scratch directory and the schema of result tables. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { BqFailure, bqTypeOfDuck, invalid, type BqField } from './bigquery-double-types.js';
import { quote } from './bigquery-double-sql.js';

/** DuckDB schema of query results and load scratch tables. */
export const RESULTS_SCHEMA = '_results';

/** Serializes work on the single DuckDB connection. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.tail.then(work, work);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** The DuckDB connection every part of the double shares, with work on it serialized. */
export class DuckSession {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly db: DuckDBConnection,
    readonly scratch: string,
    /** One statement (or one load job) at a time runs on DuckDB; scripts interleave between statements. */
    readonly mutex: Mutex,
    private readonly counter: { results: number },
  ) {}

  static async create(): Promise<DuckSession> {
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    await db.run("SET TimeZone = 'UTC'");
    await db.run(`CREATE SCHEMA ${quote(RESULTS_SCHEMA)}`);
    // GoogleSQL's TO_JSON_STRING returns STRING; DuckDB's to_json returns JSON.
    await db.run('CREATE MACRO bq_to_json_string(x) AS CAST(to_json(x) AS VARCHAR)');
    const scratch = await mkdtemp(path.join(tmpdir(), 'bq-double-'));
    return new DuckSession(instance, db, scratch, new Mutex(), { results: 0 });
  }

  /**
   * A session on a connection of its own, for one multi-statement transaction: what it writes
   * stays invisible to other jobs until it commits, as in BigQuery's snapshot isolation.
   */
  async transaction(): Promise<DuckSession> {
    const db = await this.instance.connect();
    await db.run("SET TimeZone = 'UTC'");
    await db.run('BEGIN TRANSACTION');
    return new DuckSession(this.instance, db, this.scratch, this.mutex, this.counter);
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => {
      this.db.closeSync();
      this.instance.closeSync();
    });
    await rm(this.scratch, { recursive: true, force: true });
  }

  /** A new table name in the results schema: `prefix` and a number never used before. */
  nextName(prefix: string): string {
    return `${prefix}${++this.counter.results}`;
  }

  /** Runs a statement, with DuckDB's errors mapped onto BigQuery's; returns rows changed. */
  async run(sql: string, values: Record<string, string | null> = {}): Promise<number> {
    try {
      const result = await this.db.run(sql, values);
      return Number(result.rowsChanged);
    } catch (error) {
      throw duckFailure(error);
    }
  }

  /** BigQuery fields of a DuckDB relation. */
  async describe(relation: string): Promise<BqField[]> {
    const reader = await this.db.runAndReadAll(`DESCRIBE SELECT * FROM ${relation}`);
    return reader.getRowsJS().map((row) => {
      const { type, repeated } = bqTypeOfDuck(String(row[1]));
      return { name: String(row[0]), type, mode: repeated ? 'REPEATED' : 'NULLABLE' };
    });
  }
}

/** Maps a DuckDB error onto BigQuery's messages (REQUIRED fields, casts). */
export function duckFailure(error: unknown): BqFailure {
  if (error instanceof BqFailure) return error;
  const message = error instanceof Error ? error.message : String(error);
  const notNull = /NOT NULL constraint failed: [^.]+\.(\S+)/.exec(message);
  if (notNull) return invalid(`Required field ${notNull[1]} cannot be null`);
  return new BqFailure(400, 'invalidQuery', message.replace(/^[A-Za-z ]+Error: /, ''));
}
