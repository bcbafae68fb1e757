/**
 * Where a SQL connection points, for messages (host:port, user, database, never the
 * password), and the scrubbing of secrets out of any text shown to a user.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, EtlError, TransientError, messageOf } from '../../../src/core/errors.js';
import { redact, registerSecrets } from '../../../src/core/redact.js';

/** Connection keys shared by `postgres` and `mysql` connections. */
export interface SqlConnectionConfig {
  readonly url?: string;
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  readonly ssl?: { readonly mode?: string; readonly ca?: string };
}

/** The resolved address of a server, as shown in messages. */
export interface SqlEndpoint {
  /** The connection's name in the config. */
  readonly name: string;
  /** `PostgreSQL` or `MySQL`. */
  readonly product: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database?: string;
  /** Strings to scrub from messages: the password, in plain and URL-encoded form. */
  readonly secrets: readonly string[];
}

/** Resolves `url` or `host port user database` into an endpoint (URL keys win when both are given). */
export function resolveEndpoint(
  name: string,
  product: string,
  config: SqlConnectionConfig,
  defaults: { port: number; user: string },
): SqlEndpoint {
  let fromUrl: URL | undefined;
  if (config.url) {
    try {
      fromUrl = new URL(config.url);
    } catch {
      throw ConfigError.of(
        // The text may hold a password in any shape: it is not echoed.
        `connection ${name}: url is not a valid URL`,
        `write it as ${product === 'PostgreSQL' ? 'postgres' : 'mysql'}://user:password@host:port/database`,
      );
    }
  }
  const password = config.password ?? (fromUrl?.password ? decodeURIComponent(fromUrl.password) : undefined);
  const secrets = [password, fromUrl?.password].filter((s): s is string => !!s && s.length > 0);
  return {
    name,
    product,
    host: (fromUrl?.hostname || config.host || 'localhost').replace(/^\[|\]$/g, ''),
    port: Number(fromUrl?.port || config.port || defaults.port),
    user: (fromUrl?.username ? decodeURIComponent(fromUrl.username) : undefined) ?? config.user ?? defaults.user,
    database: (fromUrl?.pathname ? decodeURIComponent(fromUrl.pathname.slice(1)) : '') || config.database,
    secrets,
  };
}

/**
 * The connection with `user` and `password` given as `secret://projects/P/secrets/S/versions/V`
 * read from Secret Manager (the values are kept out of every message). A Dataflow job passes the
 * references themselves, so the credentials never appear in its parameters.
 * `B2BETL_SECRET_MANAGER_ENDPOINT` points the reads at a local stand-in.
 */
export async function withSecrets<T extends SqlConnectionConfig>(config: T): Promise<T> {
  const { isSecretReference, resolveSecret } = await import('../../storage/gcs/secret.js');
  const read = async (value: string | undefined) => {
    if (value === undefined || !isSecretReference(value)) return value;
    const text = await resolveSecret(value, { endpoint: process.env.B2BETL_SECRET_MANAGER_ENDPOINT });
    registerSecrets([text]);
    return text;
  };
  if (!(config.user && isSecretReference(config.user)) && !(config.password && isSecretReference(config.password))) return config;
  return { ...config, user: await read(config.user), password: await read(config.password) };
}

/** `text` with URL passwords and the endpoint's secrets replaced by `***`. */
export function redactFor(text: string, endpoint: SqlEndpoint): string {
  return redact(text, endpoint.secrets);
}

/** `127.0.0.1:5432 as user etl` */
export function where(endpoint: SqlEndpoint): string {
  return `${endpoint.host}:${endpoint.port} as user ${endpoint.user}`;
}

/** The CA certificate: inline PEM, or a file path relative to the config's folder. */
export async function readCa(ca: string | undefined, baseDir: string, connection: string): Promise<string | undefined> {
  if (!ca) return undefined;
  if (ca.includes('-----BEGIN')) return ca;
  const file = path.resolve(baseDir, ca);
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw ConfigError.of(`connection ${connection}: cannot read ssl.ca ${file}: ${messageOf(error)}`, 'give a PEM file path or the PEM text');
  }
}

/** How a driver error is classified by each dialect. */
export type ErrorKind = 'refused' | 'auth' | 'database' | 'unreachable' | 'transient' | 'other';

/** Turns a classified driver error into the error shown to the user, secrets scrubbed. */
export function connectionError(kind: ErrorKind, error: unknown, endpoint: SqlEndpoint, during: string): Error {
  const detail = redactFor(messageOf(error), endpoint);
  const hint = `connection ${endpoint.name}`;
  switch (kind) {
    case 'refused':
      return new EtlError(
        `connection refused at ${where(endpoint)} while ${during}`,
        `check that ${endpoint.product} is running and host/port in ${hint}`,
      );
    case 'unreachable':
      return new EtlError(`cannot reach ${where(endpoint)} while ${during}: ${detail}`, `check host/port and the network for ${hint}`);
    case 'auth':
      return new EtlError(
        `authentication failed at ${where(endpoint)}: ${detail}`,
        `check user and password in ${hint} (a password from \${ENV_VAR} must be set in the environment)`,
      );
    case 'database':
      return new EtlError(`${detail} (at ${where(endpoint)})`, `check database in ${hint}`);
    case 'transient':
      // Whether it is retried is said where the retry happens: this error is also the last one, after every attempt.
      return new TransientError(
        `${endpoint.product} connection lost while ${during} (${where(endpoint)}): ${detail}`,
        `check that ${endpoint.product} stays reachable at ${endpoint.host}:${endpoint.port}, then run the job again (nothing of the failed unit was committed)`,
      );
    default:
      return new EtlError(`${endpoint.product} error while ${during}: ${detail}`);
  }
}
