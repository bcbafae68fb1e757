/**
 * The HTTP app of `b2betl serve` (hono): `GET /healthz` for the platform; behind OIDC
 * verification, `POST /jobs/{name}/run`, `GET /jobs`, `GET /runs/{run_id}` and `GET /`, the report.
 */
import { Hono, type Context } from 'hono';
import type { LoadedConfig, LoadedJob } from '../core/config.js';
import { EtlError, LockedError, messageOf } from '../core/errors.js';
import type { RunResult } from '../core/pipeline.js';
import { redact } from '../core/redact.js';
import { withLedger } from '../ledger/open.js';
import { newRunId } from '../ledger/ledger.js';
import { parseDays, reportData } from '../report/data.js';
import { renderReport } from '../report/html.js';
import { traceOf, type CloudLogger } from './cloud-log.js';
import type { JobRunner } from './runner.js';
import type { TokenVerifier } from './token.js';

export interface AppOptions {
  readonly jobs: readonly LoadedJob[];
  readonly config: LoadedConfig;
  readonly verifier: TokenVerifier;
  readonly runner: JobRunner;
  readonly log: CloudLogger;
  /** The project traces belong to (deploy.project, else GOOGLE_CLOUD_PROJECT). */
  readonly project?: string;
  /** True once SIGTERM arrived: new runs are refused with 503. */
  readonly stopping: () => boolean;
}

type Env = { Variables: { log: CloudLogger } };

/**
 * What a run answers: 503 when the server stopped it (shutting down), 200 when it loaded or had
 * nothing to do, 500 otherwise; Cloud Scheduler retries the last two, which is safe: loads are
 * exactly once.
 */
function statusOf(result: RunResult & { stopped: boolean }): 200 | 500 | 503 {
  if (result.stopped) return 503;
  return result.status === 'succeeded' || result.status === 'skipped' ? 200 : 500;
}

/** The optional body of a run request: `{"full_refresh": true}` or `{"since": …, "until": …}`. */
function runOptions(body: unknown): { fullRefresh?: boolean; since?: string; until?: string } | string {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object';
  const { full_refresh: fullRefresh, since, until, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) return `unknown key(s) ${unknown.join(', ')}: use full_refresh, or since and until`;
  if (fullRefresh !== undefined && typeof fullRefresh !== 'boolean') return 'full_refresh must be true or false';
  for (const [key, value] of [['since', since], ['until', until]] as const) {
    if (value !== undefined && typeof value !== 'string' && typeof value !== 'number') return `${key} must be a cursor value (a string or a number)`;
  }
  if (fullRefresh && (since !== undefined || until !== undefined)) return 'give full_refresh or a since/until window, not both';
  return { fullRefresh: fullRefresh as boolean | undefined, since: since === undefined ? undefined : String(since), until: until === undefined ? undefined : String(until) };
}

/** The request's JSON body: undefined when empty, or `invalid`. */
async function readJson(c: Context): Promise<{ value?: unknown; invalid?: true }> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return { invalid: true };
  }
}

/** Builds the app. */
export function createApp(options: AppOptions): Hono<Env> {
  const { runner, verifier } = options;
  const jobs = new Map(options.jobs.map((job) => [job.spec.name, job]));
  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    c.set('log', options.log.child(traceOf(c.req.header('x-cloud-trace-context'), options.project)));
    await next();
  });

  app.get('/healthz', (c) => c.json({ status: options.stopping() ? 'stopping' : 'ok', running: runner.running }));

  // Everything below needs a Google-signed ID token of an allowed invoker.
  app.use('*', async (c, next) => {
    const verdict = await verifier.verify(c.req.header('authorization'));
    if (!verdict.ok) {
      c.get('log').warn(`refused ${c.req.method} ${c.req.path}: ${verdict.reason}`);
      const text = verdict.status === 401 ? 'unauthenticated' : verdict.status === 403 ? 'forbidden' : 'unavailable';
      return c.json({ error: text }, verdict.status);
    }
    c.set('log', c.get('log').child({ labels: { invoker: verdict.email } }));
    await next();
  });

  app.post('/jobs/:name/run', async (c) => {
    const name = c.req.param('name');
    const job = jobs.get(name);
    if (!job) return c.json({ error: `no job named ${name}` }, 404);
    if (options.stopping()) return c.json({ error: 'the server is stopping; retry on another instance' }, 503);
    const body = await readJson(c);
    const parsed = body.invalid ? 'the body is not valid JSON' : runOptions(body.value);
    if (typeof parsed === 'string') return c.json({ error: parsed }, 400);
    const runId = newRunId();
    const log = c.get('log').child({ labels: { job: name, run_id: runId } });
    log.info(`run ${runId} of ${name} triggered${parsed.fullRefresh ? ' (full refresh)' : parsed.since || parsed.until ? ` (backfill ${parsed.since ?? ''}..${parsed.until ?? ''})` : ''}`);
    try {
      const { stopped, plan: _plan, ...result } = await runner.run(job, { runId, log, ...parsed });
      const status = statusOf({ ...result, stopped });
      const summary = `${name}: ${result.status}, ${result.rows_loaded} row(s) loaded in ${result.duration_ms} ms${result.error ? `: ${result.error}` : ''}`;
      if (status === 200) log.info(summary);
      else log.error(summary);
      return c.json({ ...result, error: result.error === null ? null : redact(result.error) }, status);
    } catch (error) {
      if (error instanceof LockedError) {
        log.warn(`refused: ${error.message}`);
        return c.json({ error: redact(error.message) }, 409);
      }
      const message = redact(messageOf(error));
      log.error(`${name}: ${message}`);
      return c.json({ job: name, run_id: runId, status: 'failed', error: message }, 500);
    }
  });

  app.get('/jobs', async (c) =>
    withLedger(
      options.config,
      c.get('log'),
      async ({ ledger }) =>
        c.json({
          jobs: options.jobs.map((job) => ({
            name: job.spec.name,
            file: job.file,
            schedule: job.spec.schedule ?? null,
            last_run: ledger.runs({ job: job.spec.name, limit: 1 })[0] ?? null,
          })),
        }),
      { readOnly: true },
    ),
  );

  app.get('/runs/:id', async (c) => {
    const run = await withLedger(options.config, c.get('log'), async ({ ledger }) => ledger.run(c.req.param('id')), { readOnly: true });
    return run ? c.json(run) : c.json({ error: `no run ${c.req.param('id')} in the ledger` }, 404);
  });

  // The report of `b2betl report`, as one page: `?days=` as its --days.
  app.get('/', async (c) => {
    const daysText = c.req.query('days');
    let days: number;
    try {
      days = parseDays(daysText, 'days=');
    } catch (error) {
      return c.json({ error: messageOf(error) }, 400);
    }
    const data = await withLedger(options.config, c.get('log'), async ({ ledger }) => reportData(ledger, { days }), { readOnly: true });
    c.header('Cache-Control', 'no-store');
    return c.html(renderReport(data));
  });

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((error, c) => {
    const message = redact(error instanceof EtlError ? error.describe() : messageOf(error));
    (c.get('log') ?? options.log).error(`${c.req.method} ${c.req.path}: ${message}`);
    return c.json({ error: message }, 500);
  });
  return app;
}
