/**
 * A ~200 MB generated CSV read end to end through the local store and the CSV format: every
 * row arrives, line numbers stay right across quoted newlines, and batches already handed out
 * are freed (memory stays flat; `npm run bench:memory` prints the figures).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, it } from 'node:test';
import { ORDER_COLUMNS } from '../../bench/generate-csv.js';
import { csvFormat } from '../../connectors/formats/csv/csv-format.js';
import { store as localStore } from '../../connectors/storage/local/index.js';
import type { FileHandle } from '../../src/core/connector.js';
import { silentLogger } from '../../src/core/log.js';
import { tempFolder } from '../support/formats.js';
import { Released } from '../support/memory.js';

const ROWS = 1_250_000;
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

let folder: { dir: string; cleanup: () => Promise<void> };

before(async () => {
  folder = await tempFolder('csv-memory');
  // Generated in another process so this one's heap starts clean.
  await promisify(execFile)(process.execPath, [path.join(repoRoot, 'dist/bench/generate-csv.js'), String(ROWS), path.join(folder.dir, 'orders.csv')]);
});

after(() => folder.cleanup());

it('reads a 200 MB CSV with every row, right line numbers and flat memory', async (t) => {
  const size = (await stat(path.join(folder.dir, 'orders.csv'))).size;
  assert.ok(size > 190 * 1024 * 1024, `generated ${size} bytes`);
  const store = await localStore({ name: 'bench', config: { type: 'local', path: folder.dir }, baseDir: folder.dir, log: silentLogger });
  const file: FileHandle = {
    name: store.url('orders.csv'),
    size,
    open: () => store.read('orders.csv'),
    readRange: (start, end) => store.readRange('orders.csv', start, end),
  };

  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, 20);

  let rows = 0;
  let rejects = 0;
  let batches = 0;
  let multiLine = 0;
  let expectedLine = 2;
  const released = new Released();
  const note = ORDER_COLUMNS.indexOf('note');
  try {
    const { batches: stream } = await csvFormat.read(file, {});
    for await (const batch of stream) {
      batches++;
      released.track(batch);
      assert.deepEqual(batch.fields, ORDER_COLUMNS);
      rejects += batch.rejects?.length ?? 0;
      for (let i = 0; i < batch.rows.length; i++) {
        const row = batch.rows[i]!;
        assert.equal(batch.positions[i], expectedLine, `row ${rows + 1}`);
        // A record spans one line plus one per line break inside its quoted note.
        const text = row[note] as string;
        let breaks = 0;
        for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) breaks++;
        if (breaks) multiLine++;
        expectedLine += 1 + breaks;
        rows++;
      }
      sample();
    }
  } finally {
    clearInterval(timer);
  }

  assert.equal(rows, ROWS);
  assert.equal(rejects, 0);
  assert.ok(batches >= ROWS / 10_000, `${batches} batches`);
  assert.ok(multiLine > ROWS / 100, `${multiLine} records with a line break`);
  const growth = peak - baseline;
  t.diagnostic(`RSS grew by ${Math.round(growth / 1024 / 1024)} MB reading ${Math.round(size / 1024 / 1024)} MB`);
  await released.assertReleased('batches');
});
