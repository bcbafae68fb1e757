/** `b2betl deploy print`: the gcloud commands from a config, in the order they must run, with no secret in them. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, scratchProject } from '../support/cli.js';

const SECRET_VALUE = 'postgres://etl:s3cret-pw@db.internal/shop';

describe('b2betl deploy print', () => {
  let project: Awaited<ReturnType<typeof scratchProject>>;

  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': [
        'connections:',
        '  shop_pg: { type: postgres, url: "${SHOP_PG_URL}" }',
        '  lake: { type: gcs, bucket: partner-drops, credentials: "secret://projects/my-proj/secrets/lake-key/versions/latest" }',
        '  bq: { type: bigquery, project: my-proj, dataset: raw, location: EU }',
        'defaults: { destination: bq }',
        'ledger: gs://my-proj-b2betl/b2betl/ledger.sqlite',
        'deploy:',
        '  project: my-proj',
        '  region: europe-central2',
        '  service_account: etl-scheduler@my-proj.iam.gserviceaccount.com',
        '',
      ].join('\n'),
      'jobs/orders.yaml': 'name: orders\nsource: { connection: shop_pg, table: public.orders }\nload: { strategy: catalog }\nschedule: { cron: "0 9 * * *" }\n',
      'jobs/drops.yaml': 'name: drops\nsource: { connection: lake, pattern: "*.csv" }\nschedule: { cron: "0 3 * * *", target: job }\n',
    });
  });
  after(() => project?.cleanup());

  it('prints APIs, accounts, IAM, build, deploy, the Cloud Run Job and schedule apply, in that order', async () => {
    const result = await runCli(['deploy', 'print'], project.dir, { SHOP_PG_URL: SECRET_VALUE });
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    const order = [
      'gcloud services enable run.googleapis.com cloudscheduler.googleapis.com',
      'gcloud iam service-accounts create b2betl-runtime',
      'gcloud iam service-accounts create etl-scheduler',
      'gcloud storage buckets add-iam-policy-binding gs://partner-drops --member=serviceAccount:b2betl-runtime@my-proj.iam.gserviceaccount.com --role=roles/storage.objectViewer',
      'bq add-iam-policy-binding --member=serviceAccount:b2betl-runtime@my-proj.iam.gserviceaccount.com --role=roles/bigquery.dataEditor my-proj:raw',
      'gcloud projects add-iam-policy-binding my-proj --member=serviceAccount:b2betl-runtime@my-proj.iam.gserviceaccount.com --role=roles/bigquery.jobUser',
      'gcloud storage buckets add-iam-policy-binding gs://my-proj-b2betl --member=serviceAccount:b2betl-runtime@my-proj.iam.gserviceaccount.com --role=roles/storage.objectAdmin',
      'gcloud secrets add-iam-policy-binding lake-key --project my-proj --member=serviceAccount:b2betl-runtime@my-proj.iam.gserviceaccount.com --role=roles/secretmanager.secretAccessor',
      'gcloud secrets add-iam-policy-binding shop-pg-url --project my-proj',
      '--role=roles/iam.serviceAccountTokenCreator',
      'gcloud builds submit . --tag europe-central2-docker.pkg.dev/my-proj/b2betl/b2betl:latest --project my-proj',
      'gcloud run deploy b2betl --image europe-central2-docker.pkg.dev/my-proj/b2betl/b2betl:latest --region europe-central2 --project my-proj --service-account b2betl-runtime@my-proj.iam.gserviceaccount.com --no-allow-unauthenticated',
      'gcloud run services add-iam-policy-binding b2betl --region europe-central2 --project my-proj --member=serviceAccount:etl-scheduler@my-proj.iam.gserviceaccount.com --role=roles/run.invoker',
      'gcloud run jobs deploy b2betl',
      '--role=roles/run.jobsExecutorWithOverrides',
      'npx b2betl schedule apply',
    ];
    let at = -1;
    for (const text of order) {
      const found = out.indexOf(text, at + 1);
      assert.ok(found > at, `"${text}" comes next in:\n${out}`);
      at = found;
    }
    assert.match(out, /--set-secrets=SHOP_PG_URL=shop-pg-url:latest/);
    assert.ok(!out.includes(SECRET_VALUE) && !out.includes('s3cret'), 'variables are named, never expanded');
  });

  it('--json gives the same steps', async () => {
    const result = await runCli(['deploy', 'print', '--json'], project.dir, { SHOP_PG_URL: SECRET_VALUE });
    const { steps } = JSON.parse(result.stdout) as { steps: { title: string; commands: string[] }[] };
    assert.deepEqual(
      steps.map((step) => step.title.split(' ')[0]),
      ['secrets', 'enable', 'create', 'grant', 'build', 'deploy', 'deploy', 'register'],
    );
  });

  it('names the missing deploy keys', async () => {
    const config = await readFile(path.join(project.dir, 'etl.config.yaml'), 'utf8');
    await project.write('etl.config.yaml', config.slice(0, config.indexOf('deploy:')));
    const result = await runCli(['deploy', 'print'], project.dir, { SHOP_PG_URL: SECRET_VALUE });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /deploy\.project: deploy\.project is not set/);
    assert.match(result.stderr, /deploy\.region: deploy\.region is not set/);
  });
});
