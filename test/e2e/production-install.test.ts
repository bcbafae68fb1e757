/**
 * The Cloud Run image's install, performed here: the project packed with `npm pack`, unpacked
 * into an empty folder and installed with `npm ci --omit=dev` as templates/cloudrun/Dockerfile
 * does; then `b2betl serve` from that folder answers /healthz and loads a job.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { TEST_CERTS_ENV } from '../../src/serve/token.js';
import { queryDuckDB, repoRoot, scratchProject } from '../support/cli.js';
import { startTestIssuer, type TestIssuer } from '../support/oidc.js';
import { startServe, type ServeProcess } from '../support/serve.js';

const run = promisify(execFile);
const AUDIENCE = 'https://b2betl-abc123-lm.a.run.app';
const INVOKER = 'etl-scheduler@my-proj.iam.gserviceaccount.com';

/**
 * The repository's files (tracked, or new and not ignored) with its build, into `into`: `npm pack`
 * runs its scripts (the build, the shrinkwrap) there, never in the tree the other tests load.
 */
async function copyOfRepository(into: string): Promise<void> {
  const { stdout } = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
  for (const file of new Set(stdout.split('\0').filter(Boolean))) {
    if (existsSync(path.join(repoRoot, file))) await cp(path.join(repoRoot, file), path.join(into, file));
  }
  await cp(path.join(repoRoot, 'dist'), path.join(into, 'dist'), { recursive: true });
  await symlink(path.join(repoRoot, 'node_modules'), path.join(into, 'node_modules'), 'dir');
}

describe('the Cloud Run image install', () => {
  let scratch: Awaited<ReturnType<typeof scratchProject>>;
  let issuer: TestIssuer;
  let server: ServeProcess | undefined;
  let app: string;

  before(async () => {
    scratch = await scratchProject({
      'project/etl.config.yaml': ['connections:', '  inbox: { type: local, path: ./data }', 'deploy:', `  service_url: ${AUDIENCE}`, `  invokers: [${INVOKER}]`, ''].join('\n'),
      'project/jobs/orders.yaml': 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv" }\nschedule: { cron: "0 9 * * *" }\n',
      'project/data/orders_1.csv': 'id,amount\n1,1.50\n2,2.50\n3,3.50\n',
    });
    issuer = await startTestIssuer({ audience: AUDIENCE, email: INVOKER });
    app = path.join(scratch.dir, 'opt', 'b2betl');
    await mkdir(app, { recursive: true });
  });

  after(async () => {
    await server?.stop();
    await issuer?.stop();
    await scratch?.cleanup();
  });

  it('the Dockerfile is multi-stage on node:20-slim, installs production dependencies of the packed project, and runs serve as a non-root user', async () => {
    const dockerfile = await readFile(path.join(repoRoot, 'templates/cloudrun/Dockerfile'), 'utf8');
    assert.equal(dockerfile.match(/^FROM node:20-slim/gm)?.length, 2);
    assert.match(dockerfile, /^FROM node:20-slim AS builder$/m);
    assert.match(dockerfile, /tar -xzf \/tmp\/b2betl-\*\.tgz --strip-components=1 \\\n && npm ci --omit=dev/);
    assert.match(dockerfile, /^COPY --from=builder \/opt\/b2betl \/opt\/b2betl$/m);
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^CMD \["b2betl", "serve"\]$/m);
  });

  const repository = () => path.join(scratch.dir, 'repository');
  /** The project packed and installed as the image installs it: once, for whichever test needs it first. */
  let install: Promise<string[]> | undefined;
  const installed = () =>
    (install ??= (async () => {
      await copyOfRepository(repository());
      const packed = await run('npm', ['pack', '--pack-destination', scratch.dir, '--json'], { cwd: repository(), maxBuffer: 16 * 1024 * 1024 });
      const [{ filename, files }] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
      await run('tar', ['-xzf', path.join(scratch.dir, filename), '--strip-components=1', '-C', app]);
      // The cache only saves downloads; JOBS lets node-gyp use every core if a native module compiles.
      await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, env: { ...process.env, JOBS: 'max' }, maxBuffer: 64 * 1024 * 1024 });
      return files.map((file) => file.path);
    })());

  it('npm pack, then npm ci --omit=dev in an empty folder, installs no dev dependency', async () => {
    const names = await installed();
    assert.ok(names.includes('npm-shrinkwrap.json'), 'the package carries its exact dependency tree');
    assert.ok(names.includes('templates/cloudrun/Dockerfile'));
    assert.ok(!names.some((name) => name.startsWith('dist/test/') || name.startsWith('src/')), 'no tests or TypeScript sources');
    assert.ok(!existsSync(path.join(repository(), 'npm-shrinkwrap.json')), 'packing leaves the repository as it was');
    const modules = await readdir(path.join(app, 'node_modules'));
    for (const dev of ['azurite', 's3rver', '@firestore-emulator']) assert.ok(!modules.includes(dev), `${dev} is a dev dependency`);
    assert.ok(modules.includes('better-sqlite3') && modules.includes('hono'));
  });

  it('b2betl serve from that folder answers /healthz and loads a job', async () => {
    await installed();
    const project = path.join(scratch.dir, 'project');
    server = await startServe(project, ['--allow-local-ledger'], { [TEST_CERTS_ENV]: issuer.certsUrl }, path.join(app, 'bin', 'b2betl.js'));
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    const response = await fetch(`${server.url}/jobs/orders/run`, { method: 'POST', headers: { authorization: `Bearer ${issuer.token()}` } });
    const result = (await response.json()) as Record<string, unknown>;
    assert.equal(response.status, 200, JSON.stringify(result));
    assert.equal(result.rows_loaded, 3);
    const rows = await queryDuckDB(path.join(project, 'warehouse.duckdb'), 'SELECT id FROM main.orders ORDER BY id');
    assert.deepEqual(rows.map((row) => Number(row.id)), [1, 2, 3]);
  });
});
