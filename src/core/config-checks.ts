/**
 * Cross-checks of a job against its config: the connections it names exist and fit the keys it
 * uses, and what `engine: dataflow` needs is there.
 */
import path from 'node:path';
import type { LoadedConfig } from './config.js';
import type { YamlFile } from './config-yaml.js';
import type { ConfigIssue } from './errors.js';
import { pluginType } from './plugins.js';
import type { ConnectionConfig } from './spec.js';

const STORE_TYPES = new Set(['local', 'gcs', 's3', 'azure']);
const DESTINATION_TYPES = new Set(['duckdb', 'bigquery']);

/** True for connection types whose source is a set of files. */
export function isStoreType(type: string): boolean {
  return STORE_TYPES.has(type);
}

/** True for connection types a job can load into. */
export function isDestinationType(type: string): boolean {
  return DESTINATION_TYPES.has(type);
}

/** What the cross-checks read of a job spec. */
export interface JobOutline {
  readonly source: Readonly<Record<string, unknown>> & { readonly connection?: unknown };
  /** Undefined when the spec's strategy is invalid (checks that depend on it are skipped). */
  readonly load: { readonly strategy?: string; readonly cursor?: unknown };
  readonly destination: { readonly connection?: unknown };
  readonly engine?: unknown;
}

/**
 * Cross-checks a job against the config: connections exist and fit the keys used. `invalid` are
 * the spec's own problems: a reference already reported there is not reported twice.
 */
export function checkJob(spec: JobOutline, config: LoadedConfig, yaml: YamlFile, invalid: readonly ConfigIssue[] = []): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const reported = (at: string) => invalid.some((issue) => issue.path === at);
  const known = Object.keys(config.connections).join(', ') || '(none)';
  const s = spec.source;
  const sourceName = typeof s.connection === 'string' && !reported('source.connection') ? s.connection : undefined;
  const source = sourceName === undefined ? undefined : config.connections[sourceName];
  const strategy = spec.load.strategy;
  if (sourceName !== undefined && !source) {
    issues.push(
      yaml.issue(['source', 'connection'], `connection "${sourceName}" is not defined${config.file ? ` in ${config.file}` : ' (no etl.config.yaml found)'}`, `define it under connections, or use one of: ${known}`),
    );
  } else if (source) {
    const isStore = STORE_TYPES.has(source.type);
    const plugin = pluginType(source.type);
    const isDb = source.type === 'postgres' || source.type === 'mysql' || source.type === 'bigquery';
    if (source.type === 'duckdb') issues.push(yaml.issue(['source', 'connection'], 'a duckdb connection is a destination, not a source', 'read from a database, Firestore or a file store'));
    if (isDb && !s.table && !s.query) issues.push(yaml.issue(['source'], `a ${source.type} source needs source.table or source.query`, 'add table: schema.table_name'));
    if (source.type === 'firestore' && !s.collection && !s.collection_group) issues.push(yaml.issue(['source'], 'a firestore source needs source.collection or source.collection_group', 'add collection: users'));
    if (isStore && !s.pattern) issues.push(yaml.issue(['source'], `a ${source.type} source needs source.pattern`, 'add pattern: "*.csv" (globs such as **/*.parquet work)'));
    if (plugin) {
      const allowed: readonly string[] = ['connection', ...plugin.definition.source.keys];
      for (const key of Object.keys(s).filter((key) => !allowed.includes(key))) {
        issues.push(yaml.issue(['source', key], `source.${key} does not apply to a ${source.type} connection`, `a ${source.type} source reads ${plugin.definition.source.keys.map((k) => `source.${k}`).join(', ') || 'no other source key'}`));
      }
      const requires = plugin.definition.source.requires ?? [];
      if (requires.length && !requires.some((key) => s[key] !== undefined)) {
        issues.push(yaml.issue(['source'], `a ${source.type} source needs ${requires.map((key) => `source.${key}`).join(' or ')}`, `add ${requires[0]}: …`));
      }
    } else if (!isStore && (s.pattern || s.format || s.csv)) {
      issues.push(yaml.issue(['source', s.pattern ? 'pattern' : s.format ? 'format' : 'csv'], `file keys do not apply to a ${source.type} connection`, 'remove them, or point source.connection at a file store'));
    }
    if (!isStore && strategy !== undefined && strategy !== 'catalog' && !spec.load.cursor && !reported('load.cursor')) {
      issues.push(yaml.issue(['load', 'cursor'], `${strategy} from a ${source.type} source needs load.cursor (a column that grows: updated_at, id)`, 'add cursor: <column>, or use strategy: catalog for full snapshots'));
    }
  }
  if (spec.destination.connection !== undefined && (typeof spec.destination.connection !== 'string' || reported('destination.connection'))) return issues;
  const destinationName = (spec.destination.connection as string | undefined) ?? config.defaultDestination;
  const destination = config.connections[destinationName];
  if (!destination) {
    issues.push(yaml.issue(['destination', 'connection'], `connection "${destinationName}" is not defined`, `define it under connections, or use one of: ${known}`));
  } else if (!isDestinationType(destination.type)) {
    issues.push(yaml.issue(['destination', 'connection'], `connection "${destinationName}" is of type ${destination.type}, which is not a destination`, 'use a duckdb or bigquery connection'));
  } else if (spec.engine === 'dataflow' && !reported('engine')) {
    issues.push(...checkDataflowJob(source, destinationName, destination, config, yaml));
  }
  return issues;
}

/** What `engine: dataflow` needs: a PostgreSQL or MySQL source, a BigQuery destination, the `dataflow:` block. */
function checkDataflowJob(source: ConnectionConfig | undefined, destinationName: string, destination: ConnectionConfig, config: LoadedConfig, yaml: YamlFile): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (destination.type !== 'bigquery') {
    issues.push(
      yaml.issue(
        ['engine'],
        `Dataflow loads into BigQuery, but destination ${destinationName} is ${destination.type}, which always loads on this machine`,
        'set engine: auto or local, or point destination.connection at a bigquery connection',
      ),
    );
  }
  if (source && source.type !== 'postgres' && source.type !== 'mysql') {
    issues.push(
      yaml.issue(
        ['engine'],
        `Dataflow reads PostgreSQL and MySQL sources; this job's source is ${source.type}`,
        source.type === 'firestore' ? 'set engine: auto: a large Firestore catalog load goes through managed export by itself' : 'set engine: auto or local',
      ),
    );
  }
  if (!config.config.dataflow) {
    issues.push(
      yaml.issue(
        ['engine'],
        `Dataflow needs a dataflow: block in ${config.file ? path.basename(config.file) : 'etl.config.yaml'}`,
        'add dataflow: {project: my-project, region: europe-west1, temp_location: gs://my-bucket/b2betl-tmp}',
      ),
    );
  }
  return issues;
}
