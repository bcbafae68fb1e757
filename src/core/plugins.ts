/**
 * Connector plugins: packages or files named under `plugins:` in the config, each exporting
 * `register(b2betl)`, through which it adds connection types with their keys and a source.
 * The contract is docs/plugins.md.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import type { ConnectorContext, SourceConnector } from './connector.js';
import { messageOf } from './errors.js';
import { BUILTIN_CONNECTION_TYPES } from './spec.js';

/** The version of the plugin API handed to `register`; it changes only with a breaking change. */
export const PLUGIN_API_VERSION = 1;

/** One key of a plugin's connection block. */
export interface PluginKey {
  /** `strings` is a list of strings (a single string is accepted as a list of one). */
  readonly type: 'string' | 'number' | 'integer' | 'boolean' | 'strings';
  readonly required?: boolean;
  /** Shown when the key is missing or wrong. */
  readonly description?: string;
}

/** The job's `source.*` keys a plugin source may read besides `connection`. */
export const PLUGIN_SOURCE_KEYS = ['table', 'query', 'collection', 'pattern', 'columns', 'sample_size', 'parallelism', 'nested'] as const;
export type PluginSourceKey = (typeof PLUGIN_SOURCE_KEYS)[number];

/** A connection type a plugin adds. */
export interface PluginConnectionType {
  /** Keys of the connection block besides `type`; any other key is refused. */
  readonly keys: Readonly<Record<string, PluginKey>>;
  /** Further checks of a valid block: problems, each naming the key it is about. */
  check?(config: Readonly<Record<string, unknown>>): readonly { key?: string; message: string; fix?: string }[];
  /** The connection as a source of jobs. */
  readonly source: {
    /** `source.*` keys the source reads; a job using another one is refused. */
    readonly keys: readonly PluginSourceKey[];
    /** Keys of which a job must give at least one (e.g. `['table', 'query']`). */
    readonly requires?: readonly PluginSourceKey[];
    /** Opens the source for one run or inspection; `context.config` is the validated block. */
    open(context: ConnectorContext): Promise<SourceConnector>;
  };
}

/** What `register` receives. */
export interface PluginApi {
  readonly version: number;
  /** Adds a connection type (`type:` in a connection block). */
  connectionType(type: string, definition: PluginConnectionType): void;
}

/** A registered connection type and the plugin that added it. */
export interface RegisteredType {
  readonly plugin: string;
  readonly definition: PluginConnectionType;
  /** The zod shape of its connection block, built from `keys`. */
  readonly schema: z.ZodType;
}

const types = new Map<string, RegisteredType>();

/** The connection type a plugin registered, if any. */
export function pluginType(type: string): RegisteredType | undefined {
  return types.get(type);
}

/** Every connection type plugins registered. */
export function pluginTypeNames(): string[] {
  return [...types.keys()];
}

function keySchema(name: string, key: PluginKey): z.ZodType {
  const base = {
    string: z.string(),
    number: z.number(),
    integer: z.number().int(),
    boolean: z.boolean(),
    strings: z.preprocess((value) => (typeof value === 'string' ? [value] : value), z.array(z.string())),
  }[key.type];
  if (!base) throw new Error(`key ${name} has type ${String(key.type)}; use string, number, integer, boolean or strings`);
  return key.required ? base : base.optional();
}

function blockSchema(type: string, definition: PluginConnectionType): z.ZodType {
  const shape: Record<string, z.ZodType> = { type: z.literal(type) };
  for (const [name, key] of Object.entries(definition.keys)) {
    if (name === 'type') throw new Error('a connection key cannot be named "type"');
    shape[name] = keySchema(name, key);
  }
  return z
    .object(shape)
    .strict()
    .superRefine((config, ctx) => {
      for (const problem of definition.check?.(config) ?? []) {
        ctx.addIssue({ code: 'custom', path: problem.key ? [problem.key] : [], message: problem.fix ? `${problem.message} (${problem.fix})` : problem.message });
      }
    });
}

/** Why a plugin cannot be loaded, for the config issue at its `plugins[i]` entry. */
export class PluginProblem extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/**
 * The module a `plugins:` entry names: a path (`./plugins/x.js`, a folder with a package.json)
 * relative to the config's folder, or a package installed where the config's folder resolves it.
 */
async function resolvePlugin(entry: string, baseDir: string): Promise<string> {
  if (/^(\.{1,2}[\\/]|[\\/])/.test(entry) || path.isAbsolute(entry)) {
    const file = path.resolve(baseDir, entry);
    if (!existsSync(file)) throw new PluginProblem(`plugin ${entry}: no such file or folder ${file}`, 'give a path relative to the config file, to a .js file or a folder with a package.json');
    if (!statSync(file).isDirectory()) return pathToFileURL(file).href;
    try {
      return pathToFileURL(createRequire(path.join(baseDir, 'noop.js')).resolve(file)).href;
    } catch {
      throw new PluginProblem(`plugin ${entry}: the folder has no package.json "main" nor index.js`, 'point at the plugin\'s .js file, or set "main" in its package.json');
    }
  }
  const { resolve } = await import('import-meta-resolve');
  try {
    return resolve(entry, pathToFileURL(path.join(baseDir, 'noop.js')).href);
  } catch (error) {
    throw new PluginProblem(
      `plugin ${entry}: no such package installed where ${baseDir} can import it (${(error as { code?: string }).code ?? messageOf(error)})`,
      `npm install ${entry} in that folder (or above), or give a path such as ./plugins/${entry}/index.js`,
    );
  }
}

/**
 * Imports a plugin and calls its `register`; returns the connection types it added. Throws
 * {@link PluginProblem} when it cannot be found, exports no `register`, or registers wrongly.
 */
export async function loadPlugin(entry: string, baseDir: string): Promise<string[]> {
  const url = await resolvePlugin(entry, baseDir);
  let plugin: { register?: unknown };
  try {
    plugin = (await import(url)) as { register?: unknown };
  } catch (error) {
    throw new PluginProblem(`plugin ${entry} failed to load: ${messageOf(error)}`, 'fix the plugin, or remove it from plugins:');
  }
  if (typeof plugin.register !== 'function') {
    throw new PluginProblem(`plugin ${entry} does not export a register function`, 'a plugin exports `register(b2betl)` that calls b2betl.connectionType(...) (see docs/plugins.md)');
  }
  const added: string[] = [];
  const api: PluginApi = {
    version: PLUGIN_API_VERSION,
    connectionType(type, definition) {
      if (!/^[a-z][a-z0-9_-]*$/.test(type)) throw new Error(`connection type "${type}": use lowercase letters, digits, _ and -`);
      if ((BUILTIN_CONNECTION_TYPES as readonly string[]).includes(type)) throw new Error(`connection type "${type}" is built in; give the plugin's type another name`);
      const owner = types.get(type);
      if (owner && owner.plugin !== url) throw new Error(`connection type "${type}" is already registered by ${owner.plugin}`);
      if (typeof definition?.source?.open !== 'function') throw new Error(`connection type "${type}" has no source.open function`);
      const unknown = (definition.source.keys ?? []).filter((key) => !(PLUGIN_SOURCE_KEYS as readonly string[]).includes(key));
      if (unknown.length) throw new Error(`connection type "${type}": source keys ${unknown.join(', ')} are not job keys; use ${PLUGIN_SOURCE_KEYS.join(', ')}`);
      types.set(type, { plugin: url, definition, schema: blockSchema(type, definition) });
      added.push(type);
    },
  };
  try {
    await (plugin.register as (api: PluginApi) => unknown)(api);
  } catch (error) {
    throw new PluginProblem(`plugin ${entry}: register failed: ${messageOf(error)}`, 'fix the plugin (see docs/plugins.md), or remove it from plugins:');
  }
  if (!added.length) throw new PluginProblem(`plugin ${entry} registered no connection type`, 'its register(b2betl) must call b2betl.connectionType(type, definition)');
  return added;
}
