/** Which local CSV files DuckDB parses as the CSV format does, from their bytes. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scanCsv } from '../../connectors/sources/files/native-csv.js';

describe('scanCsv', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'b2betl-native-'))));
  after(() => rm(dir, { recursive: true, force: true }));
  const scan = async (content: string | Buffer, fields = 2, delimiter = ',', quote = '"') => {
    const file = path.join(dir, 'f.csv');
    await writeFile(file, content);
    return scanCsv(file, delimiter, quote, fields);
  };
  /** Whether DuckDB reads the file as the CSV format does. */
  const check = async (...args: Parameters<typeof scan>) => !('reason' in (await scan(...args)));

  it('takes quoted fields, line breaks inside them, and spaces that are text', async () => {
    assert.equal(await check('id,t\n1,"a, b"\n2,"say ""x"", y"\n3, a b\n'), true);
    assert.equal(await check('id,t\n1,"two\nlines"\n2,"crlf\r\ninside"\n3,""\n'), true);
    assert.equal(await check(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('"id",t\n1,a\n')])), true);
    assert.equal(await check('id;t\n1; x\n', 2, ';'), true);
    assert.equal(await check('id,t\r\n1,a\r\n2,"b\nc"\r\n'), true);
    assert.equal(await check('id,t\n1,a\n\n2,b\n\n'), true, 'blank lines are skipped by both');
    assert.equal(await check('id,t\n1,a\n2,'), true, 'an empty last field at the end of the file');
    assert.equal(await check('a,b,c\n1,,\n,,\n', 3), true);
  });

  it('refuses a record whose field count is not the header’s', async () => {
    assert.equal(await check('id,t\n1,a\n2\n'), false);
    assert.equal(await check('id,t\n1,a\n2,b,c\n'), false);
    assert.equal(await check('id,t\n1,a\n2,b,\n'), false, 'a trailing delimiter, which DuckDB would drop');
    assert.equal(await check('id,t\n1,a\n""\n'), false, 'an empty quoted field is not a blank line');
    assert.equal(await check('id,t,x\n1,a,b\n', 2), false, 'a header unlike the sampled columns');
  });

  it('refuses spaces before an opening quote, anywhere in a line', async () => {
    assert.equal(await check('id,t\n1, "a"\n'), false);
    assert.equal(await check('id,t\n1,   "a"\n'), false);
    assert.equal(await check('id,t\n  "1",a\n'), false);
    assert.equal(await check(' "id",t\n1,a\n'), false);
    assert.equal(await check("id;t\n1; 'a'\n", 2, ';', "'"), false);
  });

  it('refuses quotes the two parsers read differently', async () => {
    assert.equal(await check('id,t\n1,a"b\n'), false, 'a quote inside an unquoted field');
    assert.equal(await check('id,t\n1,"a"b\n'), false, 'text after a closing quote');
    assert.equal(await check('id,t\n1,"never closed\n'), false);
  });

  it('refuses UTF-16, a blank line before the header, and mixed or lone carriage returns', async () => {
    assert.equal(await check(Buffer.from([0xff, 0xfe, 0x69, 0x00])), false);
    assert.equal(await check('\nid,t\n1,a\n'), false);
    assert.equal(await check('\r\nid,t\n1,a\n'), false);
    assert.equal(await check('id,t\n1,a\r\n'), false, 'a CRLF in a file whose first break is LF');
    assert.equal(await check('id,t\r\n1,a\n2,b\r\n'), false, 'a bare LF in a CRLF file');
    assert.equal(await check('id,t\r1,a\r'), false, 'old Mac line breaks');
    assert.equal(await check('id,t\n1,a\rb\n'), false);
  });

  it('carries its state across the edge of the chunks it reads', async () => {
    const chunk = 4 << 20;
    const header = 'id,t\n';
    /** A file whose text `tail` starts at byte `at`, after whole records. */
    const around = (at: number, tail: string) => {
      const filler = '1,x\n'.repeat(Math.floor((at - header.length) / 4) - 1);
      const last = at - header.length - filler.length;
      const content = `${header}${filler}2,${'y'.repeat(last - 3)}\n${tail}${'3,z\n'.repeat(10)}`;
      assert.equal(content.indexOf(tail, at - 8), at);
      return content;
    };
    for (const at of [chunk - 3, chunk - 2, chunk - 1, chunk, chunk + 1]) {
      const alike = await check(around(at, '4,"a\nb,c"\n'));
      assert.equal(alike, true, `a quoted line break and delimiter near byte ${at}`);
      assert.equal(await check(around(at, '4, "a"\n')), false, `spaces before a quote near byte ${at}`);
      assert.equal(await check(around(at, '4,a,\n')), false, `a trailing delimiter near byte ${at}`);
      assert.equal(await check(around(at, '4,"a""b"\n')), true, `a doubled quote near byte ${at}`);
    }
    // Every alignment of a CRLF against the edge: records of 5 bytes after a shifting first one.
    for (let pad = 0; pad < 5; pad += 1) {
      const crlf = `id,t\r\n1,${'y'.repeat(pad)}\r\n${'1,x\r\n'.repeat(chunk / 5 + 10)}`;
      assert.equal(await check(crlf), true, `CRLF records shifted by ${pad}`);
    }
  });

  it('counts the records and measures the longest, which DuckDB must read whole', async () => {
    assert.deepEqual(await scan('id,t\n1,a\n\n2,"b\nc"\n3,' + 'x'.repeat(30) + '\n'), { records: 4, longestRecord: 32 });
    assert.deepEqual(await scan('id,t\r\n1,abc\r\n2,b'), { records: 3, longestRecord: 5 }, 'a last record without a line break');
    const long = 'y'.repeat((4 << 20) + 100);
    assert.deepEqual(await scan(`id,t\n1,${long}\n2,b\n`), { records: 3, longestRecord: long.length + 2 }, 'a record longer than a chunk');
  });

  it('says where the two parsers would part ways', async () => {
    assert.deepEqual(await scan('id,t\n1,a\n2, "b"\n'), { reason: 'record 3 has spaces before an opening quote, which DuckDB drops' });
    assert.deepEqual(await scan('id,t\n1,a\n2,b,c\n'), { reason: 'record 3 has 3 field(s), not 2' });
    assert.deepEqual(await scan('id,t\n1,"a\n'), { reason: 'record 2 has a quoted field never closed' });
  });
});
