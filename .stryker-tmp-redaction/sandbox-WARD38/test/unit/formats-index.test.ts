import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatByName, formatForPath } from '../../connectors/formats/index.js';
import { ConfigError } from '../../src/core/errors.js';

describe('format lookup', () => {
  it('finds formats by name, ndjson being jsonl', async () => {
    for (const [name, expected] of [
      ['csv', 'csv'],
      ['json', 'json'],
      ['jsonl', 'jsonl'],
      ['ndjson', 'jsonl'],
      ['parquet', 'parquet'],
      ['CSV', 'csv'],
    ]) {
      assert.equal((await formatByName(name!)).name, expected, name);
    }
    await assert.rejects(formatByName('xlsx'), (error: unknown) => error instanceof ConfigError && /source\.format/.test(error.message));
  });

  it('finds formats by extension, looking through .gz and .zst', async () => {
    for (const [file, expected] of [
      ['exports/orders.csv', 'csv'],
      ['orders.TSV', 'csv'],
      ['notes.txt', 'csv'],
      ['a/b/events.ndjson', 'jsonl'],
      ['events.jsonl.gz', 'jsonl'],
      ['dump.json', 'json'],
      ['dump.json.zst', 'json'],
      ['part-0001.parquet', 'parquet'],
      ['part.pq', 'parquet'],
      ['orders.csv.gz', 'csv'],
    ]) {
      assert.equal((await formatForPath(file!)).name, expected, file);
    }
  });

  it('names the file and says to set source.format when the extension is unknown', async () => {
    for (const file of ['exports/orders.xlsx', 'README', 'data.gz']) {
      await assert.rejects(formatForPath(file), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.ok(error.message.includes(file), error.message);
        assert.match(error.message, /source\.format/);
        return true;
      });
    }
  });
});
