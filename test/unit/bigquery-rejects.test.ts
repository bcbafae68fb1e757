/** The NDJSON lines of rejected rows staged for BigQuery: raw text kept whole unless no row could hold it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rejectLine } from '../../connectors/destinations/bigquery/bigquery-rejects.js';

const reject = (raw: string) => ({ runId: 'r1', unit: 'in/a.csv', position: '7', reason: 'bad', raw });

test('a reject within the row limit keeps its raw text exactly, quotes, newlines and all', () => {
  const raw = `x,"it's"\n\\ \t é 𝄞 \u0001`;
  const line = rejectLine({ ...reject(raw), column: 'id' }, 1000);
  assert.ok(line.endsWith('}\n'));
  assert.deepEqual(JSON.parse(line), { run_id: 'r1', unit: 'in/a.csv', position: '7', column_name: 'id', reason: 'bad', raw });
});

test('a raw text no row could hold keeps what fits, ending in …, however JSON escapes it', () => {
  for (const piece of ['a', '\u0001', 'é', '𝄞', '"']) {
    const raw = piece.repeat(5000);
    const line = rejectLine(reject(raw), 2000);
    const bytes = Buffer.byteLength(line);
    assert.ok(bytes <= 2000, `${JSON.stringify(piece)}: ${bytes} bytes`);
    const kept = (JSON.parse(line) as { raw: string }).raw;
    assert.ok(kept.endsWith('…'), JSON.stringify(piece));
    assert.ok(raw.startsWith(kept.slice(0, -1)), `${JSON.stringify(piece)}: a prefix, no surrogate cut in half`);
    // What is kept fills the line: one more character would not fit.
    assert.ok(bytes + Buffer.byteLength(JSON.stringify(piece)) - 2 > 2000 - 10, `${JSON.stringify(piece)}: ${bytes} bytes used`);
  }
  // The line holds 92 bytes besides the raw text.
  assert.equal(JSON.parse(rejectLine(reject('z'.repeat(1908)), 2000)).raw, 'z'.repeat(1908), 'a raw that just fits stays whole');
  assert.equal(JSON.parse(rejectLine(reject('z'.repeat(1909)), 2000)).raw, `${'z'.repeat(1905)}…`, 'one more byte, and the end gives way to …');
});
