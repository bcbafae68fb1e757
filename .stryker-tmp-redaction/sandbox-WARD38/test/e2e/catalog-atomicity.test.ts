/**
 * Catalog is all files or none, both halves, through the real binary into DuckDB and into the
 * BigQuery double: a snapshot with one bad file leaves the previous table exactly as it was and
 * the run says failed; the same snapshot once fixed replaces the table whole.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

interface Destination {
  readonly name: string;
  /** Starts the destination for a project in `dir`: its connection entry, and the snapshot table's ids. */
  start(dir: string): Promise<{ yaml: string; ids(): Promise<number[]>; stop(): Promise<void> }>;
}

const destinations: Destination[] = [
  {
    name: 'DuckDB',
    async start(dir) {
      const warehouse = path.join(dir, 'warehouse.duckdb');
      return {
        yaml: '  wh: { type: duckdb, path: ./warehouse.duckdb }',
        ids: async () => (await queryDuckDB(warehouse, 'SELECT id FROM main.snapshot ORDER BY id')).map((row) => Number(row.id)),
        stop: async () => undefined,
      };
    },
  },
  {
    name: 'BigQuery',
    async start() {
      const double: BigQueryDouble = await startBigQueryDouble({ project: 'cat-proj' });
      return {
        yaml: `  wh: { type: bigquery, project: cat-proj, dataset: raw, location: EU, endpoint: "${double.endpoint}" }`,
        ids: async () => (await double.query('SELECT id FROM `cat-proj.raw.snapshot` ORDER BY id')).map((row) => Number(row.id)),
        stop: () => double.stop(),
      };
    },
  },
];

const csv = (ids: readonly number[]) => `id,name\n${ids.map((id) => `${id},n${id}`).join('\n')}\n`;

for (const destination of destinations) {
  describe(`catalog into ${destination.name}: all files or none`, () => {
    let project: Project;
    let target: Awaited<ReturnType<Destination['start']>>;
    const run = async () => {
      const result = await runCli(['run', 'jobs/snapshot.yaml', '--json'], project.dir, { B2BETL_RETRY_BASE_MS: '20' });
      assert.ok(result.stdout.trim().startsWith('['), `no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
      return { code: result.code, result: (JSON.parse(result.stdout) as Record<string, unknown>[])[0] };
    };
    const history = async () => {
      const result = await runCli(['history', 'snapshot', '--json'], project.dir);
      return (JSON.parse(result.stdout) as { status: string; rows_loaded: number }[]).map((run) => `${run.status}:${run.rows_loaded}`);
    };

    before(async () => {
      project = await scratchProject({
        // One file at a time, in name order: the bad file is read after a good one and before another.
        'jobs/snapshot.yaml': 'name: snapshot\nsource: { connection: inbox, pattern: "snap/*.csv", parallelism: 1 }\nload: { strategy: catalog }\n',
        'inbox/snap/a.csv': csv([1, 2]),
        'inbox/snap/b.csv': csv([3, 4]),
      });
      target = await destination.start(project.dir);
      await project.write('etl.config.yaml', `connections:\n  inbox: { type: local, path: ./inbox }\n${target.yaml}\ndefaults: { destination: wh }\n`);
    });
    after(async () => {
      await target?.stop();
      await project?.cleanup();
    });

    test('a snapshot with one bad file leaves the previous table untouched, and the run says failed; fixed, it replaces the table whole', async () => {
      let { code, result } = await run();
      assert.equal(code, 0, JSON.stringify(result));
      assert.deepEqual(await target.ids(), [1, 2, 3, 4]);

      await project.write('inbox/snap/a.csv', csv([10]));
      await project.write('inbox/snap/b.csv', 'id,name\n20,n20\n21,n21,one field too many\n');
      await project.write('inbox/snap/c.csv', csv([30]));
      ({ code, result } = await run());
      assert.equal(code, 1, JSON.stringify(result));
      assert.equal(result.status, 'failed');
      assert.equal(result.rows_loaded, 0);
      assert.equal(result.files_processed, 0);
      assert.match(String(result.error), /b\.csv/);
      assert.deepEqual(await target.ids(), [1, 2, 3, 4], 'the previous snapshot stays whole');
      assert.deepEqual(await history(), ['failed:0', 'succeeded:4']);

      await project.write('inbox/snap/b.csv', csv([20, 21]));
      ({ code, result } = await run());
      assert.equal(code, 0, JSON.stringify(result));
      assert.equal(result.status, 'succeeded');
      assert.equal(result.files_processed, 3);
      assert.deepEqual(await target.ids(), [10, 20, 21, 30]);
    });
  });
}
