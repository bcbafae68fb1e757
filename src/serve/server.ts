/**
 * `b2betl serve` as a process on Cloud Run: checks that the deployment is safe to start (a
 * shared ledger, an audience and invokers to verify tokens against), listens on $PORT, and on
 * SIGTERM stops accepting requests and lets running jobs reach their commit or a safe point
 * within Cloud Run's 10 seconds.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveDeploy, type LoadedConfig, type LoadedJob } from '../core/config.js';
import { ConfigError, type ConfigIssue } from '../core/errors.js';
import { serviceAudience, serviceInvokers } from '../schedule/desired.js';
import { createApp } from './app.js';
import type { CloudLogger } from './cloud-log.js';
import { JobRunner } from './runner.js';
import { testCertsUrl, TokenVerifier } from './token.js';

/** How long a shutdown waits for running jobs: Cloud Run kills the container 10 s after SIGTERM. */
export const SHUTDOWN_GRACE_MS = 9_000;

export interface ServeSettings {
  readonly jobs: readonly LoadedJob[];
  readonly config: LoadedConfig;
  readonly port: number;
  readonly host: string;
  readonly log: CloudLogger;
  readonly allowLocalLedger?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

/** A listening server. */
export interface RunningServer {
  readonly url: string;
  /** Resolves once the server has stopped. */
  readonly stopped: Promise<void>;
  /** Stops accepting requests, asks running jobs to stop at a safe point, and waits for them (bounded). */
  stop(reason: string): Promise<void>;
}

/** The checks before listening: every problem named at once. */
function checkDeployment(config: LoadedConfig, allowLocalLedger: boolean | undefined): { audience: string; invokers: string[] } {
  const deploy = resolveDeploy(config);
  const file = config.file ?? 'etl.config.yaml (none found)';
  const issues: ConfigIssue[] = [];
  if (!config.ledger.startsWith('gs://') && !allowLocalLedger) {
    issues.push({
      file,
      path: 'ledger',
      message: `the ledger ${config.ledger} is a local file, and Cloud Run's file system is ephemeral: each new instance would start with an empty ledger and lose every cursor and lock`,
      fix: 'set ledger: gs://<bucket>/b2betl/ledger.sqlite (shared by every instance), or pass --allow-local-ledger on a machine with a persistent disk',
    });
  }
  const audience = serviceAudience(deploy);
  const invokers = serviceInvokers(deploy);
  if (!audience) issues.push({ file, path: 'deploy.service_url', message: 'serve checks that tokens were minted for this service, but neither deploy.service_url nor deploy.audience is set', fix: 'add deploy: { service_url: https://<service>-<hash>.a.run.app }' });
  if (!invokers.length) issues.push({ file, path: 'deploy.invokers', message: 'serve accepts tokens of listed service accounts only, and none is listed', fix: 'add deploy: { invokers: [etl-scheduler@<project>.iam.gserviceaccount.com] } (or deploy.service_account)' });
  if (issues.length) throw new ConfigError(issues);
  return { audience: audience!, invokers };
}

/** Starts the server. */
export async function startServer(settings: ServeSettings): Promise<RunningServer> {
  const { audience, invokers } = checkDeployment(settings.config, settings.allowLocalLedger);
  const env = settings.env ?? process.env;
  const certs = testCertsUrl(env);
  if (certs.warning) settings.log.warn(certs.warning);
  const runner = new JobRunner();
  let stopping = false;
  const app = createApp({
    jobs: settings.jobs,
    config: settings.config,
    verifier: new TokenVerifier(audience, invokers, certs.url),
    runner,
    log: settings.log,
    project: resolveDeploy(settings.config)?.project ?? env.GOOGLE_CLOUD_PROJECT,
    stopping: () => stopping,
  });
  const { serve } = await import('@hono/node-server');
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const listening = serve({ fetch: app.fetch, port: settings.port, hostname: settings.host }, () => resolve(listening));
    listening.once('error', reject);
  });
  // Requests whose answer has not been sent yet: a shutdown waits for them (bounded) before it cuts connections.
  const answering = new Set<ServerResponse>();
  let allAnswered: (() => void) | undefined;
  server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
    answering.add(response);
    response.once('close', () => {
      answering.delete(response);
      if (!answering.size) allAnswered?.();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  settings.log.info(`b2betl serve listening on ${url} with ${settings.jobs.length} job(s); tokens must be for ${audience}`);

  let stopping$: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> =>
    (stopping$ ??= (async () => {
      stopping = true;
      settings.log.info(`${reason}: no new requests; ${runner.running} run(s) in flight stop at their commit or a safe point`);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      if ('closeIdleConnections' in server) server.closeIdleConnections();
      runner.stopAll(`${reason}: the server is stopping`);
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      const drained = await runner.drain(SHUTDOWN_GRACE_MS);
      if (!drained) settings.log.warn(`runs still in flight after ${SHUTDOWN_GRACE_MS / 1000} s; the next run reconciles them`);
      if (answering.size) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
          allAnswered = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      if ('closeAllConnections' in server) server.closeAllConnections();
      await closed;
      settings.log.info('stopped');
      resolveStopped();
    })());
  return { url, stopped, stop };
}
