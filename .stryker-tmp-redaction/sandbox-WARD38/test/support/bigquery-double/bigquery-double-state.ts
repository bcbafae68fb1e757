/** The records the double keeps: datasets, tables and jobs as the REST API describes them. */
import type { BqErrorProto, BqField } from './bigquery-double-types.js';
import type { TablePath } from './bigquery-double-sql.js';

/** JSON object as the REST API carries it. */
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A table's schema, options and timestamps; its rows live in DuckDB. */
export interface TableState {
  path: TablePath;
  fields: BqField[];
  labels: Record<string, string>;
  timePartitioning?: Json;
  clustering?: Json;
  expirationTime?: string;
  description?: string;
  creationTime: number;
  lastModifiedTime: number;
  etag: string;
}

/** A dataset; a DuckDB schema holds its tables. */
export interface DatasetState {
  project: string;
  dataset: string;
  location: string;
  labels: Record<string, string>;
  description?: string;
  defaultTableExpirationMs?: string;
  creationTime: number;
  etag: string;
}

/** A job the double ran or is running. */
export interface JobState {
  project: string;
  jobId: string;
  location: string;
  configuration: Json;
  state: 'RUNNING' | 'DONE';
  errorResult?: BqErrorProto;
  errors?: BqErrorProto[];
  statistics: Json;
  /** Table holding the result rows of a query, and its schema. */
  result?: { table: string; fields: BqField[]; rows: number };
  numDmlAffectedRows?: number;
  /** Rows the script's last DML statement changed (`@@row_count`). */
  lastDmlRows?: number;
  done: Promise<void>;
  /** Bytes of the uploaded file, for load jobs from the upload endpoint. */
  upload?: Buffer;
}

/** A source of gs:// objects for load jobs with `sourceUris`. */
export type ObjectReader = (uri: string) => Promise<Buffer | undefined>;
