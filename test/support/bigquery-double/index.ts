/**
 * A strict local stand-in for the BigQuery REST API (v2), good enough for the real
 * `@google-cloud/bigquery` client pointed at it with `apiEndpoint`. Data lives in DuckDB.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BqFailure, type BqField } from './bigquery-double-types.js';
import { Engine, type EngineOptions } from './bigquery-double-engine.js';
import type { JobState, Json, ObjectReader } from './bigquery-double-state.js';

/** The largest API request BigQuery takes (10 MiB), query parameters included. */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export interface BigQueryDoubleOptions extends EngineOptions {
  /** Project assumed by `query()` for unqualified names. */
  readonly project?: string;
}

/** One request the double received, for assertions (e.g. no streaming inserts). */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
}

/** A running double. */
export interface BigQueryDouble {
  /** Base URL to give the client as `apiEndpoint` (and b2betl as `endpoint`). */
  readonly endpoint: string;
  /** Runs GoogleSQL and returns rows keyed by column, values as BigQuery's wire text (TIMESTAMP as int64 micros). */
  query(sql: string, options?: { project?: string; dataset?: string }): Promise<Record<string, WireValue>[]>;
  /** Creates a dataset directly (seeding tables of other projects, public datasets…). */
  createDataset(project: string, dataset: string, location?: string): Promise<void>;
  /** Every job run, in order, as the REST API shows it. */
  jobs(): Json[];
  /** A table's resource as tables.get returns it, or undefined. */
  table(project: string, dataset: string, table: string): Promise<Json | undefined>;
  /** Requests received so far. */
  readonly requests: readonly RecordedRequest[];
  /** Changes the per-table update rate limit. */
  setTableUpdateLimit(operations: number, windowMs: number): void;
  /** Makes the next job whose id starts with `prefix` fail with `reason` (once). */
  failNextJob(prefix: string, reason: string, message: string): void;
  /**
   * Pauses the next query job whose id starts with `prefix` just before its COMMIT TRANSACTION
   * (`reached` resolves then) until `release` is called: two transactions made to overlap.
   */
  holdBeforeCommit(prefix: string): { reached: Promise<void>; release(): void };
  stop(): Promise<void>;
}

/** A wire value: text, null, or an array of them for REPEATED fields. */
export type WireValue = string | null | WireValue[];

export type { ObjectReader };

/** Starts the double on 127.0.0.1 at a free port. */
export async function startBigQueryDouble(options: BigQueryDoubleOptions = {}): Promise<BigQueryDouble> {
  const engine = await Engine.create(options);
  const requests: RecordedRequest[] = [];
  const uploads = new Map<string, { project: string; metadata: Json }>();
  const injected: { prefix: string; reason: string; message: string }[] = [];
  let endpoint = '';

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => send(res, error));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    requests.push({ method, path: url.pathname });
    const body = await readBody(req);
    const qs = url.searchParams;
    const upload = /^\/upload\/bigquery\/v2\/projects\/([^/]+)\/jobs$/.exec(url.pathname);
    // BigQuery takes API requests of up to 10 MB, query parameters included; uploads carry files.
    if (!upload && body.length > MAX_REQUEST_BYTES) throw new BqFailure(400, 'badRequest', `Request payload size exceeds the limit: ${MAX_REQUEST_BYTES} bytes.`);
    if (upload) return handleUpload(decodeURIComponent(upload[1]), method, qs, req, body, res);
    const match = /^\/bigquery\/v2\/projects\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (!match) throw new BqFailure(404, 'notFound', `Not found: ${url.pathname}`);
    const project = decodeURIComponent(match[1]);
    const parts = (match[2] ?? '').split('/').filter(Boolean).map(decodeURIComponent);
    const json = (): Json => (body.length ? (JSON.parse(body.toString('utf8')) as Json) : {});

    // datasets
    if (parts[0] === 'datasets') {
      if (parts.length === 1) {
        if (method === 'POST') return reply(res, await engine.catalog.insertDataset(project, json()));
        if (method === 'GET') {
          const datasets = [...engine.catalog.datasets.values()].filter((d) => d.project === project).map((d) => engine.catalog.datasetResource(d));
          return reply(res, { kind: 'bigquery#datasetList', datasets });
        }
      }
      const dataset = parts[1];
      if (parts.length === 2) {
        if (method === 'GET') return reply(res, engine.catalog.datasetResource(engine.catalog.dataset(project, dataset)));
        if (method === 'PATCH' || method === 'PUT') return reply(res, engine.catalog.patchDataset(project, dataset, json()));
        if (method === 'DELETE') {
          await engine.catalog.deleteDataset(project, dataset, qs.get('deleteContents') === 'true');
          return reply(res, undefined, 204);
        }
      }
      if (parts[2] === 'tables') {
        if (parts.length === 3) {
          if (method === 'POST') return reply(res, await engine.catalog.insertTable(project, dataset, json()));
          if (method === 'GET') {
            const all = engine.catalog.listTables(project, dataset);
            const start = Number(qs.get('pageToken') ?? 0);
            const max = Number(qs.get('maxResults') ?? 1000);
            const page = all.slice(start, start + max);
            return reply(res, {
              kind: 'bigquery#tableList',
              totalItems: all.length,
              tables: page.map((t) => ({
                kind: 'bigquery#table',
                id: `${t.path.project}:${t.path.dataset}.${t.path.table}`,
                tableReference: { projectId: t.path.project, datasetId: t.path.dataset, tableId: t.path.table },
                type: 'TABLE',
                ...(Object.keys(t.labels).length ? { labels: t.labels } : {}),
                ...(t.timePartitioning ? { timePartitioning: t.timePartitioning } : {}),
                creationTime: String(t.creationTime),
              })),
              ...(start + max < all.length ? { nextPageToken: String(start + max) } : {}),
            });
          }
        }
        const p = { project, dataset, table: parts[3] };
        if (parts.length === 4) {
          if (method === 'GET') return reply(res, await engine.catalog.tableResource(engine.catalog.table(p)));
          if (method === 'PATCH') return reply(res, await engine.catalog.patchTable(p, json(), false));
          if (method === 'PUT') return reply(res, await engine.catalog.patchTable(p, json(), true));
          if (method === 'DELETE') {
            await engine.catalog.deleteTable(p);
            return reply(res, undefined, 204);
          }
        }
        if (parts[4] === 'data' && method === 'GET') {
          const state = engine.catalog.table(p);
          const start = Number(qs.get('pageToken') ?? qs.get('startIndex') ?? 0);
          const max = Number(qs.get('maxResults') ?? 10_000);
          const total = Number((await engine.catalog.tableResource(state)).numRows);
          const rows = await engine.readRows(p, state.fields, start, max, qs.get('formatOptions.useInt64Timestamp') === 'true');
          return reply(res, {
            kind: 'bigquery#tableDataList',
            etag: randomUUID(),
            totalRows: String(total),
            rows,
            ...(start + rows.length < total ? { pageToken: String(start + rows.length) } : {}),
          });
        }
        if (parts[4] === 'insertAll') {
          throw new BqFailure(400, 'invalid', 'streaming inserts (tabledata.insertAll) are refused by this double: load with load jobs');
        }
      }
    }

    // jobs
    if (parts[0] === 'jobs') {
      if (parts.length === 1 && method === 'POST') {
        if (json().configuration?.dryRun === true) return reply(res, await engine.dryRun(project, json()));
        const job = insert(project, json());
        return reply(res, engine.jobResource(job));
      }
      if (parts.length === 2 && method === 'GET') return reply(res, engine.jobResource(engine.job(project, parts[1], qs.get('location') ?? undefined)));
      if (parts.length === 3 && parts[2] === 'cancel' && method === 'POST') {
        const job = engine.job(project, parts[1], qs.get('location') ?? undefined);
        return reply(res, { kind: 'bigquery#jobCancelResponse', job: engine.jobResource(job) });
      }
    }

    // jobs.query and jobs.getQueryResults
    if (parts[0] === 'queries') {
      if (parts.length === 1 && method === 'POST') {
        const request = json();
        const job = insert(project, {
          jobReference: { projectId: project, location: request.location },
          configuration: {
            query: {
              query: request.query,
              useLegacySql: request.useLegacySql,
              defaultDataset: request.defaultDataset,
              queryParameters: request.queryParameters,
              parameterMode: request.parameterMode,
            },
          },
        });
        const useInt64 = request.formatOptions?.useInt64Timestamp === true;
        return reply(res, await queryResults(job, Number(request.timeoutMs ?? 10_000), 0, Number(request.maxResults ?? 10_000), useInt64, 'bigquery#queryResponse'));
      }
      if (parts.length === 2 && method === 'GET') {
        const job = engine.job(project, parts[1], qs.get('location') ?? undefined);
        const start = Number(qs.get('pageToken') ?? qs.get('startIndex') ?? 0);
        return reply(
          res,
          await queryResults(
            job,
            Number(qs.get('timeoutMs') ?? 10_000),
            start,
            Number(qs.get('maxResults') ?? 10_000),
            qs.get('formatOptions.useInt64Timestamp') === 'true',
            'bigquery#getQueryResultsResponse',
          ),
        );
      }
    }
    throw new BqFailure(404, 'notFound', `the test double does not serve ${method} ${url.pathname}`);
  }

  function insert(project: string, body: Json, upload?: Buffer): JobState {
    const jobId = String(body.jobReference?.jobId ?? '');
    const fault = injected.findIndex((f) => jobId.startsWith(f.prefix));
    if (fault >= 0) {
      const [f] = injected.splice(fault, 1);
      return engine.insertJob(project, body, upload, new BqFailure(400, f.reason, f.message));
    }
    return engine.insertJob(project, body, upload);
  }

  async function handleUpload(project: string, method: string, qs: URLSearchParams, req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    const type = qs.get('uploadType');
    if (type === 'multipart' && method === 'POST') {
      const { metadata, data } = parseMultipart(String(req.headers['content-type'] ?? ''), body);
      const job = insert(project, metadata, data);
      return reply(res, engine.jobResource(job));
    }
    if (type === 'resumable' && method === 'POST') {
      const id = randomUUID();
      uploads.set(id, { project, metadata: body.length ? (JSON.parse(body.toString('utf8')) as Json) : {} });
      res.setHeader('Location', `${endpoint}/upload/bigquery/v2/projects/${encodeURIComponent(project)}/jobs?uploadType=resumable&upload_id=${id}`);
      return reply(res, {});
    }
    if (type === 'resumable' && method === 'PUT') {
      const pending = uploads.get(qs.get('upload_id') ?? '');
      if (!pending) throw new BqFailure(404, 'notFound', 'Not found: upload session');
      uploads.delete(qs.get('upload_id')!);
      const job = insert(pending.project, pending.metadata, body);
      return reply(res, engine.jobResource(job));
    }
    throw new BqFailure(400, 'invalid', `unsupported upload: ${method} uploadType=${type}`);
  }

  async function queryResults(job: JobState, timeoutMs: number, start: number, max: number, useInt64: boolean, kind: string): Promise<Json> {
    const complete = await Promise.race([job.done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), Math.min(timeoutMs, 10_000)).unref())]);
    const reference = { projectId: job.project, jobId: job.jobId, location: job.location };
    if (!complete) return { kind, jobReference: reference, jobComplete: false };
    if (job.errorResult) throw new BqFailure(job.errorResult.reason === 'rateLimitExceeded' ? 403 : 400, job.errorResult.reason, job.errorResult.message, job.errors?.slice(1));
    const fields: BqField[] = engine.resultFields(job);
    const total = job.result?.rows ?? 0;
    const rows = job.result && max > 0 ? await engine.readRows({ table: job.result.table }, fields, start, max, useInt64) : [];
    return {
      kind,
      etag: randomUUID(),
      jobReference: reference,
      jobComplete: true,
      totalBytesProcessed: '0',
      cacheHit: false,
      ...(job.result ? { schema: { fields: fields.map((f) => ({ name: f.name, type: f.type === 'INT64' ? 'INTEGER' : f.type === 'FLOAT64' ? 'FLOAT' : f.type === 'BOOL' ? 'BOOLEAN' : f.type, mode: f.mode })) } } : {}),
      totalRows: String(total),
      rows,
      ...(job.numDmlAffectedRows !== undefined ? { numDmlAffectedRows: String(job.numDmlAffectedRows) } : {}),
      ...(start + rows.length < total ? { pageToken: String(start + rows.length) } : {}),
    };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const defaultProject = options.project ?? 'test-project';

  return {
    endpoint,
    requests,
    async query(sql, queryOptions = {}) {
      const project = queryOptions.project ?? defaultProject;
      const job = engine.insertJob(project, {
        jobReference: { projectId: project, jobId: `double_query_${randomUUID().replace(/-/g, '_')}` },
        configuration: { query: { query: sql, useLegacySql: false, ...(queryOptions.dataset ? { defaultDataset: { projectId: project, datasetId: queryOptions.dataset } } : {}) } },
      });
      await job.done;
      engine.jobs.delete(`${job.project}:${job.jobId}`);
      if (job.errorResult) throw new Error(`${job.errorResult.reason}: ${job.errorResult.message}`);
      if (!job.result) return [];
      const fields = job.result.fields;
      const rows = await engine.readRows({ table: job.result.table }, fields, 0, job.result.rows, true);
      const plain = (cell: { v: unknown }): WireValue => (Array.isArray(cell.v) ? (cell.v as { v: unknown }[]).map(plain) : (cell.v as string | null));
      return rows.map((row) => Object.fromEntries(fields.map((f, i) => [f.name, plain((row.f as { v: unknown }[])[i])])));
    },
    async createDataset(project, dataset, location) {
      await engine.catalog.insertDataset(project, { datasetReference: { projectId: project, datasetId: dataset }, location });
    },
    jobs: () => [...engine.jobs.values()].map((job) => engine.jobResource(job)),
    async table(project, dataset, table) {
      try {
        return await engine.catalog.tableResource(engine.catalog.table({ project, dataset, table }));
      } catch (error) {
        if (error instanceof BqFailure && error.status === 404) return undefined;
        throw error;
      }
    },
    setTableUpdateLimit(operations, windowMs) {
      engine.limiter.limit = { operations, windowMs };
    },
    failNextJob(prefix, reason, message) {
      injected.push({ prefix, reason, message });
    },
    holdBeforeCommit: (prefix) => engine.holdBeforeCommit(prefix),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([...engine.jobs.values()].map((job) => job.done));
      await engine.close();
    },
  };
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Splits a multipart/related upload into the job metadata and the file bytes. */
function parseMultipart(contentType: string, body: Buffer): { metadata: Json; data: Buffer } {
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  if (!boundary) throw new BqFailure(400, 'invalid', 'multipart upload without a boundary');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const next = body.indexOf(delimiter, at + delimiter.length);
    if (next < 0) break;
    parts.push(body.subarray(at + delimiter.length, next));
    at = next;
  }
  const content = parts.map((part) => {
    const headerEnd = part.indexOf('\r\n\r\n');
    let data = part.subarray(headerEnd + 4);
    if (data.subarray(data.length - 2).toString() === '\r\n') data = data.subarray(0, data.length - 2);
    return data;
  });
  if (content.length < 2) throw new BqFailure(400, 'invalid', 'multipart upload needs metadata and media parts');
  return { metadata: JSON.parse(content[0].toString('utf8')) as Json, data: content[1] };
}

function reply(res: http.ServerResponse, body: unknown, status = 200): void {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(text);
}

const STATUS: Record<number, string> = { 400: 'INVALID_ARGUMENT', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ALREADY_EXISTS', 500: 'INTERNAL' };

function send(res: http.ServerResponse, error: unknown): void {
  const failure = error instanceof BqFailure ? error : new BqFailure(500, 'internalError', error instanceof Error ? error.stack ?? error.message : String(error));
  if (res.headersSent) {
    res.end();
    return;
  }
  reply(
    res,
    {
      error: {
        code: failure.status,
        message: failure.message,
        errors: [{ message: failure.message, domain: failure.reason === 'rateLimitExceeded' ? 'usageLimits' : 'global', reason: failure.reason }, ...failure.errors],
        status: STATUS[failure.status] ?? 'UNKNOWN',
      },
    },
    failure.status,
  );
}
