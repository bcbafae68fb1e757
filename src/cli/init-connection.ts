/**
 * Step 1 of `b2betl init`: the connection to read from, an existing one tested, or a new one
 * asked for by type (secrets become `${VAR}` references) and tested before it is kept.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../core/config.js';
import { ConfigError, EtlError } from '../core/errors.js';
import { probeConnection, where } from '../core/probe.js';
import type { ConnectionConfig } from '../core/spec.js';
import { formatDuration, shortPath } from './common.js';
import { Asker, Cancelled, ask, missing, prompts, say } from './init-ask.js';
import type { InitFlags } from './init.js';

const CONNECTION_NAME = /^[A-Za-z0-9_-]+$/;
const SOURCE_TYPES = ['postgres', 'mysql', 'local', 'gcs', 's3', 'azure', 'bigquery', 'firestore'] as const;

/** A connection made by the wizard: what goes into the file, and what the test used. */
export interface NewConnection {
  readonly name: string;
  /** As written: secrets as `${VAR}`. */
  readonly entry: Record<string, unknown>;
  /** As tested: secrets filled in. */
  readonly config: ConnectionConfig;
  /** Variables the entry refers to, with the values typed (never written). */
  readonly env: Record<string, string>;
}

/** The connection the job reads from: chosen, or made and tested (not written yet). */
export async function chooseConnection(config: LoadedConfig, flags: InitFlags, asker: Asker): Promise<{ name: string; created?: NewConnection }> {
  const sources = Object.entries(config.connections).filter(([, connection]) => connection.type !== 'duckdb');
  const creating = flags.type !== undefined || flags.url !== undefined || flags.path !== undefined || flags.bucket !== undefined || flags.project !== undefined;
  if (flags.connection !== undefined && config.connections[flags.connection] && !creating) {
    const connection = config.connections[flags.connection];
    if (connection.type === 'duckdb') throw ConfigError.of(`--connection ${flags.connection} is a duckdb connection, a destination`, `read from one of: ${sources.map(([name]) => name).join(', ') || '(none yet)'}`);
    await testExisting(config, flags.connection, flags, asker);
    return { name: flags.connection };
  }
  if (flags.connection !== undefined && config.connections[flags.connection]) {
    throw ConfigError.of(`--connection ${flags.connection} already exists in ${shortPath(config.file ?? 'etl.config.yaml')}`, 'drop --type/--url/--path to use it, or give the new connection another name');
  }
  if (flags.connection === undefined && !creating) {
    if (!asker.interactive) throw missing('--connection', `one of: ${sources.map(([name]) => name).join(', ') || 'none defined yet; create one with --connection <name> --url postgres://… or --path <folder>'}`);
    if (sources.length) {
      const NEW = '\u0000new';
      const picked = await ask(() =>
        prompts().then(({ select }) =>
          select({
            message: 'Read from which connection?',
            choices: [
              ...sources.map(([name, connection]) => ({ value: name, name: `${name}  (${connection.type}, ${where(connection)})`, short: name })),
              { value: NEW, name: 'Create a new connection…' },
            ],
          }),
        ),
      );
      if (picked !== NEW) {
        await testExisting(config, picked, flags, asker);
        return { name: picked };
      }
    } else say(`no source connection in ${shortPath(config.file ?? path.join(config.baseDir, 'etl.config.yaml'))} yet: let us create one`);
  }
  for (let attempt = 0; ; attempt++) {
    const created = await newConnection(config, flags, asker);
    const result = await probeConnection({ ...config, connections: { ...config.connections, [created.name]: created.config } }, created.name);
    reportProbe(result);
    if (result.ok) return { name: created.name, created };
    if (flags.saveAnyway) return { name: created.name, created };
    if (!asker.interactive || attempt > 5) throw new EtlError(`connection ${created.name} failed its test: ${result.detail}`, result.hint ?? 'fix the answers, or add --save-anyway to keep it as it is');
    const next = await ask(() =>
      prompts().then(({ select }) =>
        select({
          message: 'The connection did not work. What now?',
          choices: [
            { value: 'fix', name: 'Fix it: answer again' },
            { value: 'save', name: 'Save anyway (test it later with b2betl connections test)' },
            { value: 'cancel', name: 'Cancel: write nothing' },
          ],
        }),
      ),
    );
    if (next === 'save') return { name: created.name, created };
    if (next === 'cancel') throw new Cancelled('cancelled');
  }
}

async function testExisting(config: LoadedConfig, name: string, flags: InitFlags, asker: Asker): Promise<void> {
  const result = await probeConnection(config, name);
  reportProbe(result);
  if (result.ok || flags.saveAnyway) return;
  if (!asker.interactive) throw new EtlError(`connection ${name} failed its test: ${result.detail}`, result.hint);
  const go = await asker.confirm(() => prompts().then(({ confirm }) => confirm({ message: 'Continue with this connection anyway?', default: false })), false);
  if (!go) throw new EtlError(`connection ${name} failed its test: ${result.detail}`, result.hint ?? `fix it in ${shortPath(config.file ?? 'etl.config.yaml')}, then run b2betl init again`);
}

function reportProbe(result: Awaited<ReturnType<typeof probeConnection>>): void {
  if (result.ok) say(`✔ ${result.name} works (${formatDuration(result.ms)}): ${result.detail}`);
  else say(`✖ ${result.name} failed (${formatDuration(result.ms)}): ${result.detail}${result.hint ? `\n  → ${result.hint}` : ''}`);
}

/** The questions of a new connection, by type; secrets become `${VAR}` references. */
async function newConnection(config: LoadedConfig, flags: InitFlags, asker: Asker): Promise<NewConnection> {
  const { input, password, select } = await prompts();
  const inferred = flags.url ? (/^mysql|^mariadb/i.test(flags.url) ? 'mysql' : 'postgres') : flags.path ? 'local' : undefined;
  const type = await asker.answer('--type', flags.type ?? inferred, () => select({ message: 'Connection type', choices: SOURCE_TYPES.map((value) => ({ value, name: value })) }), {
    check: (value) => (SOURCE_TYPES.includes(value as never) ? undefined : `use one of: ${SOURCE_TYPES.join(', ')}`),
  });
  const taken = (value: string) =>
    !CONNECTION_NAME.test(value) ? 'use letters, digits, _ and - only' : config.connections[value] ? `a connection named ${value} already exists` : undefined;
  const suggested = suggestName(type, flags, config);
  const name = await asker.answer('--connection', flags.connection, () => ask(() => input({ message: 'Name of the new connection', default: suggested, validate: (value) => taken(value.trim()) ?? true })).then((v) => v.trim()), {
    fallback: suggested,
    check: taken,
  });
  const env: Record<string, string> = {};
  const envName = (key: string) => `${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_${key}`;
  /** Asks for a secret and the variable that will hold it; returns `${VAR}`. */
  const secret = async (label: string, key: string, optional: boolean): Promise<string | undefined> => {
    const variable = flags.passwordEnv;
    if (variable !== undefined) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw ConfigError.of(`--password-env ${variable} is not a variable name`);
      if (process.env[variable] === undefined) throw ConfigError.of(`--password-env ${variable}: the variable is not set`, `export ${variable}=… first (its value is never written to a file)`);
      env[variable] = process.env[variable]!;
      return `\${${variable}}`;
    }
    if (!asker.interactive) {
      if (optional) return undefined;
      throw missing('--password-env', `${label} is a secret: give the name of the environment variable holding it`);
    }
    const value = await ask(() => password({ message: `${label}${optional ? ' (empty: none)' : ''}`, mask: '*' }));
    if (!value) return undefined;
    const chosen = await ask(() =>
      input({
        message: `Environment variable to read it from (its value is never written to a file)`,
        default: envName(key),
        validate: (text) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(text.trim()) ? true : 'letters, digits and _, not starting with a digit'),
      }),
    );
    env[chosen.trim()] = value;
    return `\${${chosen.trim()}}`;
  };
  const fill = (entry: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(entry).map(([key, value]) => [key, typeof value === 'string' ? value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, v: string) => env[v] ?? '') : value]));
  const text = (flag: string, given: string | undefined, message: string, options: { fallback?: string; check?: (v: string) => string | undefined; default?: string } = {}) =>
    asker.answer(flag, given, () => ask(() => input({ message, default: options.default ?? options.fallback, validate: (value) => options.check?.(value.trim()) ?? true })).then((v) => v.trim()), options);

  let entry: Record<string, unknown>;
  switch (type) {
    case 'postgres':
    case 'mysql': {
      const scheme = type === 'postgres' ? 'postgres' : 'mysql';
      const urlText = await text('--url', flags.url, `Server URL (${scheme}://user@host:${type === 'postgres' ? 5432 : 3306}/database)`, { check: (value) => urlProblem(value, scheme) });
      const url = new URL(urlText);
      entry = {
        type,
        host: url.hostname.replace(/^\[|\]$/g, ''),
        ...(url.port ? { port: Number(url.port) } : {}),
        ...(url.username ? { user: decodeURIComponent(url.username) } : {}),
        ...(url.pathname.length > 1 ? { database: decodeURIComponent(url.pathname.slice(1)) } : {}),
      };
      if (url.password) {
        // A password typed into the URL still goes to a variable, never into the file.
        const variable = flags.passwordEnv ?? envName('PASSWORD');
        env[variable] = decodeURIComponent(url.password);
        say(`the password in the URL goes to \${${variable}}: export ${variable}=… where b2betl runs`);
        entry.password = `\${${variable}}`;
      } else {
        const reference = await secret(`Password for ${url.username || 'the user'}`, 'PASSWORD', true);
        if (reference) entry.password = reference;
      }
      break;
    }
    case 'local': {
      const folder = await text('--path', flags.path, 'Folder holding the files', {
        check: (value) => {
          const full = path.resolve(config.baseDir, value || '.');
          return existsSync(full) && statSync(full).isDirectory() ? undefined : `${full} is not a folder`;
        },
      });
      entry = { type, path: folder };
      break;
    }
    case 'gcs':
    case 's3': {
      const bucket = await text('--bucket', flags.bucket, 'Bucket', { check: (value) => (/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(value) ? undefined : 'a bucket name: lowercase letters, digits, - _ . (no gs:// or s3://)') });
      const prefix = await text('--prefix', flags.prefix, 'Folder inside the bucket (empty: the whole bucket)', { fallback: '' });
      entry = { type, bucket, ...(prefix ? { prefix } : {}) };
      if (type === 's3') {
        entry.region = await text('--region', undefined, 'Region', { fallback: 'us-east-1' });
        const keyId = asker.interactive && !asker.acceptDefaults ? await ask(() => input({ message: 'Access key id (empty: the default AWS credential chain)' })) : '';
        if (keyId.trim()) {
          entry.access_key_id = keyId.trim();
          const reference = await secret('Secret access key', 'SECRET_ACCESS_KEY', false);
          if (reference) entry.secret_access_key = reference;
        }
      }
      break;
    }
    case 'azure': {
      const container = await text('--bucket', flags.bucket, 'Container', { check: (value) => (/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(value) ? undefined : 'a container name: 3-63 lowercase letters, digits and -') });
      const prefix = await text('--prefix', flags.prefix, 'Folder inside the container (empty: all of it)', { fallback: '' });
      const reference = await secret('Connection string', 'CONNECTION_STRING', false);
      entry = { type, container, ...(prefix ? { prefix } : {}), ...(reference ? { connection_string: reference } : {}) };
      break;
    }
    case 'bigquery': {
      const project = await text('--project', flags.project, 'Google Cloud project id');
      const dataset = await text('--dataset', flags.dataset, 'Dataset');
      entry = { type, project, dataset };
      break;
    }
    case 'firestore': {
      const project = await text('--project', flags.project, 'Google Cloud project id');
      entry = { type, project };
      break;
    }
    default:
      throw ConfigError.of(`--type ${type} is not a source type`, `use one of: ${SOURCE_TYPES.join(', ')}`);
  }
  const filled = fill(entry);
  const resolved = (filled.type === 'local' ? { ...filled, path: path.resolve(config.baseDir, String(filled.path)) } : filled) as ConnectionConfig;
  return { name, entry, config: resolved, env };
}

function urlProblem(value: string, scheme: string): string | undefined {
  try {
    const url = new URL(value);
    if (!/^(postgres|postgresql|mysql|mariadb):$/.test(url.protocol) || !url.hostname) throw new Error();
    return undefined;
  } catch {
    return `not a server URL: write it as ${scheme}://user@host:port/database`;
  }
}

function suggestName(type: string, flags: InitFlags, config: LoadedConfig): string {
  let base: string = type;
  try {
    if (flags.url) base = new URL(flags.url).pathname.slice(1) || type;
  } catch {
    // the URL is checked when it is asked for
  }
  if (flags.path) base = path.basename(path.resolve(flags.path)) || type;
  if (flags.bucket) base = flags.bucket;
  base = base.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '') || type;
  let name = base;
  for (let i = 2; config.connections[name]; i++) name = `${base}_${i}`;
  return name;
}
