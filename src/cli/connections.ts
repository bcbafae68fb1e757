/** `b2betl connections list` and `connections test [name…]`: what the config connects to, and proof that it works. */
import { loadConfig, type LoadedConfig } from '../core/config.js';
import { ConfigError, ExitCode } from '../core/errors.js';
import { probeConnection, probeLedger, where, type ProbeResult } from '../core/probe.js';
import { commandLogger, formatDuration, printJson, renderTable, type CommonOptions } from './common.js';

const DESTINATION_TYPES = new Set(['duckdb', 'bigquery']);

/** The role a connection plays: what jobs may use it for. */
function roleOf(config: LoadedConfig, name: string): string {
  const type = config.connections[name].type;
  if (name === config.defaultDestination) return 'default destination';
  if (type === 'bigquery') return 'source or destination';
  return DESTINATION_TYPES.has(type) ? 'destination' : 'source';
}

export default async function connectionsList(flags: CommonOptions): Promise<number> {
  const config = await loadConfig({ configFile: flags.config });
  const rows = Object.entries(config.connections).map(([name, connection]) => ({
    name,
    type: connection.type,
    where: where(connection),
    role: roleOf(config, name),
    embedded: !(name in config.config.connections),
  }));
  if (flags.json) printJson({ config: config.file ?? null, connections: rows });
  else {
    const table = renderTable(
      ['name', 'type', 'where', 'role'],
      rows.map((row) => [row.name, row.type, row.where, `${row.role}${row.embedded ? ' (built in)' : ''}`]),
    );
    process.stdout.write(`${config.file ? `${config.file}\n` : 'no etl.config.yaml found: only the built-in warehouse\n'}${table}\n`);
  }
  return ExitCode.ok;
}

/** Tests the named connections (every one when none is named), all at once. */
export async function connectionsTest(names: string[], flags: CommonOptions): Promise<number> {
  const config = await loadConfig({ configFile: flags.config });
  const known = Object.keys(config.connections);
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length) {
    throw ConfigError.of(`no connection named ${unknown.join(', ')}${config.file ? ` in ${config.file}` : ''}`, `use one of: ${known.join(', ')}`);
  }
  const chosen = names.length ? [...new Set(names)] : known;
  const log = commandLogger({ ...flags, verbose: flags.verbose });
  const [results, ledger] = await Promise.all([Promise.all(chosen.map((name) => probeConnection(config, name, { log }))), names.length ? undefined : probeLedger(config, { log })]);
  if (ledger) results.push(ledger);
  if (flags.json) printJson(results.map((result) => ({ ...result, ms: Math.round(result.ms) })));
  else process.stdout.write(`${renderResults(results)}\n`);
  return results.every((result) => result.ok) ? ExitCode.ok : ExitCode.failed;
}

/** One line per connection: ok or FAILED, name, type, latency, what was seen (and the fix, indented). */
export function renderResults(results: readonly ProbeResult[]): string {
  const nameWidth = Math.max(...results.map((result) => result.name.length));
  const typeWidth = Math.max(...results.map((result) => result.type.length));
  return results
    .map((result) => {
      const line = `${result.ok ? 'ok    ' : 'FAILED'}  ${result.name.padEnd(nameWidth)}  ${result.type.padEnd(typeWidth)}  ${formatDuration(result.ms).padStart(7)}  ${result.detail}`;
      return result.hint ? `${line}\n${' '.repeat(8 + nameWidth + typeWidth + 13)}→ ${result.hint}` : line;
    })
    .join('\n');
}
