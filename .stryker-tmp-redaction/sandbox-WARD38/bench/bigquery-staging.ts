/**
 * Staging throughput of BigQuery load files: 1M rows of canonical values written to a local
 * temp file as NDJSON (what the destination uses; also gzip level 1), Parquet (through DuckDB) and Avro (through
 * `avsc`, when it can be found). Each format runs in its own process so peak RSS is its own.
 *
 *   node dist/bench/bigquery-staging.js [--rows 1000000] [--modules /path/to/node_modules]
 *
 * `--modules` (or B2BETL_BENCH_MODULES) names a node_modules folder holding `avsc`, which b2betl
 * itself does not depend on. No network is used.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { NdjsonEncoder } from '../connectors/bigquery-common/bigquery-types.js';
import type { Column, Value } from '../src/core/types.js';

const COLUMNS: Column[] = [
  { name: 'id', source: 'id', type: 'INT64', nullable: true },
  { name: 'amount', source: 'amount', type: 'NUMERIC', nullable: true },
  { name: 'created_at', source: 'created_at', type: 'TIMESTAMP', nullable: true },
  { name: 'name', source: 'name', type: 'STRING', nullable: true },
  { name: 'active', source: 'active', type: 'BOOL', nullable: true },
  { name: 'ratio', source: 'ratio', type: 'FLOAT64', nullable: true },
  { name: 'day', source: 'day', type: 'DATE', nullable: true },
  { name: 'doc', source: 'doc', type: 'JSON', nullable: true },
];

/** Row `i` as the convert stage hands it to a destination (deterministic). */
function row(i: number): Value[] {
  const day = 1 + (i % 28);
  return [
    i,
    `${i}.${String(i % 1000).padStart(3, '0')}123456`,
    1_704_067_200_000_000n + BigInt(i) * 1_000_123n,
    `customer ${i} "quoted", ünïcode`,
    i % 3 === 0,
    i / 7,
    `2024-02-${String(day).padStart(2, '0')}`,
    i % 10 === 0 ? null : `{"k":${i},"tags":["a","b"]}`,
  ];
}

interface Result {
  format: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  bytes: number;
  bytesPerRow: number;
  peakRssMb: number;
  exact: string;
}

async function ndjson(file: string, rows: number, gzip = false): Promise<string> {
  const encoder = new NdjsonEncoder(COLUMNS);
  const sink = createWriteStream(file);
  const out = gzip ? createGzip({ level: 1 }) : sink;
  if (gzip) out.pipe(sink);
  let chunk = '';
  for (let i = 0; i < rows; i++) {
    chunk += encoder.line(row(i));
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(sink, 'finish');
  return 'exact: NUMERIC as decimal strings, TIMESTAMP with microseconds, JSON spliced verbatim, INT64 as digits';
}

async function parquet(file: string, rows: number): Promise<string> {
  const duckdb = await import('@duckdb/node-api');
  const db = await (await duckdb.DuckDBInstance.create(':memory:', { threads: '2' })).connect();
  await db.run("SET TimeZone = 'UTC'");
  await db.run('CREATE TABLE t (id BIGINT, amount DECIMAL(38,9), created_at TIMESTAMPTZ, name VARCHAR, active BOOLEAN, ratio DOUBLE, day DATE, doc JSON)');
  const appender = await db.createAppender('t');
  for (let i = 0; i < rows; i++) {
    const [id, amount, ts, name, active, ratio, day, doc] = row(i);
    appender.appendBigInt(BigInt(id as number));
    appender.appendVarchar(amount as string);
    appender.appendTimestampTZ(new duckdb.DuckDBTimestampTZValue(ts as bigint));
    appender.appendVarchar(name as string);
    appender.appendBoolean(active as boolean);
    appender.appendDouble(ratio as number);
    appender.appendVarchar(day as string);
    if (doc === null) appender.appendNull();
    else appender.appendVarchar(doc as string);
    appender.endRow();
  }
  appender.closeSync();
  await db.run(`COPY t TO '${file.replace(/'/g, "''")}' (FORMAT PARQUET, COMPRESSION SNAPPY)`);
  db.closeSync();
  return 'exact for NUMERIC(38,9) and TIMESTAMP micros; BIGNUMERIC does not fit DuckDB decimals (38 digits) and JSON needs the JSON logical type mapping';
}

/** Two's-complement big-endian bytes of an unscaled decimal, as Avro's decimal logical type wants. */
function decimalBytes(text: string, scale: number): Buffer {
  const negative = text.startsWith('-');
  const [whole, fraction = ''] = text.replace('-', '').split('.');
  let unscaled = BigInt(whole + fraction.padEnd(scale, '0').slice(0, scale));
  if (negative) unscaled = -unscaled;
  let hex = (unscaled < 0n ? (1n << 128n) + unscaled : unscaled).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (unscaled >= 0n && bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  if (unscaled < 0n) {
    bytes = Buffer.from((((1n << 128n) + unscaled) & ((1n << 128n) - 1n)).toString(16).padStart(32, '0'), 'hex');
    while (bytes.length > 1 && bytes[0] === 0xff && bytes[1] & 0x80) bytes = bytes.subarray(1);
  }
  return bytes;
}

async function avro(file: string, rows: number, modules: string | undefined): Promise<string> {
  const require = createRequire(path.join(modules ?? process.cwd(), 'x.js'));
  let avsc: { Type: { forSchema(schema: unknown): unknown }; createFileEncoder(file: string, type: unknown, options?: unknown): NodeJS.WritableStream & { end(): void } };
  try {
    avsc = require(modules ? path.join(modules, 'avsc') : 'avsc');
  } catch {
    throw new Error('avsc is not installed; pass --modules <node_modules with avsc>');
  }
  const nullable = (type: unknown) => ['null', type];
  const type = avsc.Type.forSchema({
    type: 'record',
    name: 'Row',
    fields: [
      { name: 'id', type: nullable('long') },
      { name: 'amount', type: nullable({ type: 'bytes', logicalType: 'decimal', precision: 38, scale: 9 }) },
      { name: 'created_at', type: nullable({ type: 'long', logicalType: 'timestamp-micros' }) },
      { name: 'name', type: nullable('string') },
      { name: 'active', type: nullable('boolean') },
      { name: 'ratio', type: nullable('double') },
      { name: 'day', type: nullable({ type: 'int', logicalType: 'date' }) },
      { name: 'doc', type: nullable({ type: 'string', sqlType: 'JSON' }) },
    ],
  });
  const encoder = avsc.createFileEncoder(file, type, { codec: 'deflate' });
  for (let i = 0; i < rows; i++) {
    const [id, amount, ts, name, active, ratio, day, doc] = row(i);
    const ok = encoder.write({
      id,
      amount: decimalBytes(amount as string, 9),
      created_at: Number(ts),
      name,
      active,
      ratio,
      day: Math.floor(Date.parse(`${day as string}T00:00:00Z`) / 86_400_000),
      doc,
    } as never);
    if (!ok) await once(encoder, 'drain');
  }
  encoder.end();
  await once(encoder, 'finish');
  return 'exact with useAvroLogicalTypes (decimal bytes, timestamp-micros); BIGNUMERIC needs 76-digit decimals and JSON a sqlType annotation';
}

async function measure(format: string, rows: number, modules: string | undefined): Promise<Result> {
  const dir = await mkdtemp(path.join(tmpdir(), 'b2betl-bench-'));
  const file = path.join(dir, `rows.${format}`);
  try {
    const started = performance.now();
    const exact = format === 'ndjson' ? await ndjson(file, rows) : format === 'ndjson.gz' ? await ndjson(file, rows, true) : format === 'parquet' ? await parquet(file, rows) : await avro(file, rows, modules);
    const seconds = (performance.now() - started) / 1000;
    const bytes = (await stat(file)).size;
    return {
      format,
      rows,
      seconds: Math.round(seconds * 100) / 100,
      rowsPerSecond: Math.round(rows / seconds),
      bytes,
      bytesPerRow: Math.round((bytes / rows) * 10) / 10,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      exact,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const rows = Number(option('rows') ?? 1_000_000);
  const modules = option('modules') ?? process.env.B2BETL_BENCH_MODULES;
  const format = option('format');
  if (format) {
    process.stdout.write(`${JSON.stringify(await measure(format, rows, modules))}\n`);
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const results: (Result | { format: string; error: string })[] = [];
  for (const name of ['ndjson', 'ndjson.gz', 'parquet', 'avro']) {
    const child = spawnSync(process.execPath, [self, '--format', name, '--rows', String(rows), ...(modules ? ['--modules', modules] : [])], { encoding: 'utf8' });
    if (child.status === 0) results.push(JSON.parse(child.stdout.trim().split('\n').pop()!) as Result);
    else results.push({ format: name, error: (child.stderr.trim().split('\n').find((line) => line.includes('Error')) ?? child.stderr.trim()).slice(0, 200) });
  }
  console.log(`BigQuery staging, ${rows.toLocaleString('en-US')} rows of ${COLUMNS.length} columns (${COLUMNS.map((c) => c.type).join(', ')})`);
  console.table(results.map((r) => ('error' in r ? { format: r.format, error: r.error } : { format: r.format, 'rows/s': r.rowsPerSecond, 'bytes/row': r.bytesPerRow, 'MB': Math.round(r.bytes / 1e5) / 10, 'peak RSS MB': r.peakRssMb, seconds: r.seconds })));
  for (const r of results) if (!('error' in r)) console.log(`${r.format}: ${r.exact}`);
}

await main();
