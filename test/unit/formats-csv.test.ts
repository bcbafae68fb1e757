import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import iconv from 'iconv-lite';
import { csvFormat } from '../../connectors/formats/csv/csv-format.js';
import type { FileHandle } from '../../src/core/connector.js';
import { BadRecordError, ConfigError } from '../../src/core/errors.js';
import { bytesHandle, readAll } from '../support/formats.js';

const read = (data: Buffer | string, options = {}, name = 'data.csv', chunkSize?: number) =>
  readAll(csvFormat, bytesHandle(name, data, chunkSize), options);

describe('csv format', () => {
  it('keeps values exactly as written, with file line numbers', async () => {
    const result = await read('id,name,amount\n1, Ann ,007\n2,"Bob, Jr.",1.50\n3,,\n');
    assert.deepEqual(result.fields, ['id', 'name', 'amount']);
    assert.deepEqual(result.rows, [
      ['1', ' Ann ', '007'],
      ['2', 'Bob, Jr.', '1.50'],
      ['3', '', ''],
    ]);
    assert.deepEqual(result.positions, [2, 3, 4]);
    assert.deepEqual(result.rejects, []);
  });

  it('counts lines inside quoted fields so positions are the line each record starts on', async () => {
    const text = 'id,note\n1,"line a\nline b"\n2,plain\n3,"x\ny\nz"\n4,"say ""hi""\nbye"\n5,end';
    const result = await read(text);
    assert.deepEqual(result.rows, [
      ['1', 'line a\nline b'],
      ['2', 'plain'],
      ['3', 'x\ny\nz'],
      ['4', 'say "hi"\nbye'],
      ['5', 'end'],
    ]);
    assert.deepEqual(result.positions, [2, 4, 5, 8, 10]);
  });

  it('reads CRLF files, keeping a CRLF inside a quoted field', async () => {
    const result = await read('a,b\r\n1,"x\r\ny"\r\n2,z\r\n');
    assert.deepEqual(result.rows, [
      ['1', 'x\r\ny'],
      ['2', 'z'],
    ]);
    assert.deepEqual(result.positions, [2, 4]);
  });

  it('gives the same rows and positions whatever the chunking of the byte stream', async () => {
    const lines = ['id,name,note'];
    for (let i = 1; i <= 400; i++) {
      const note = i % 7 === 0 ? `"multi\nline ""${i}"", with comma"` : `plain ${i}`;
      lines.push(`${i},Zoë Ł 美咲 ${i},${note}`);
    }
    const text = `\ufeff${lines.join('\n')}\n`;
    const whole = await read(text);
    assert.equal(whole.rows.length, 400);
    assert.deepEqual(whole.fields, ['id', 'name', 'note']);
    for (const chunkSize of [1, 2, 3, 7, 64, 4096]) {
      const chunked = await read(text, {}, 'data.csv', chunkSize);
      assert.deepEqual(chunked.rows, whole.rows, `chunk size ${chunkSize}`);
      assert.deepEqual(chunked.positions, whole.positions, `chunk size ${chunkSize}`);
    }
    // Line numbers account for the 57 two-line notes before the last row.
    assert.equal(whole.positions.at(-1), 2 + 399 + Math.floor(399 / 7));
    assert.equal(whole.rows[6]![2], 'multi\nline "7", with comma');
  });

  it('parses across window boundaries: large files, multi-byte characters, long records', async () => {
    const expected: string[][] = [];
    const positions: number[] = [];
    let text = 'id,name,note\n';
    let line = 2;
    for (let i = 1; i <= 12_000; i++) {
      const note = i % 9 === 0 ? `multi\nline ""${i}"", 美咲\r\nthird` : i === 6000 ? 'x'.repeat(600_000) : `plain ${i}`;
      const value = note.replace(/""/g, '"');
      expected.push([String(i), `Zoë Łukasz 美咲 ${i}`, value]);
      positions.push(line);
      line += 1 + (value.match(/\n/g)?.length ?? 0);
      text += `${i},Zoë Łukasz 美咲 ${i},${i % 9 === 0 ? `"${note}"` : note}\n`;
    }
    assert.ok(Buffer.byteLength(text) > 4 * 256 * 1024);
    for (const chunkSize of [undefined, 7777, 65_536, 300_001]) {
      const result = await read(text, {}, 'data.csv', chunkSize);
      assert.equal(result.rows.length, expected.length, `chunk size ${chunkSize}`);
      assert.deepEqual(result.rows, expected, `chunk size ${chunkSize}`);
      assert.deepEqual(result.positions, positions, `chunk size ${chunkSize}`);
      assert.deepEqual(result.rejects, []);
    }
    const utf16 = await read(iconv.encode(text, 'utf-16le', { addBOM: true }), {}, 'data.csv', 65_537);
    assert.deepEqual(utf16.rows, expected);
    assert.deepEqual(utf16.positions, positions);
  });

  it('batches by batchSize with continuous positions', async () => {
    const text = 'n\n' + Array.from({ length: 25 }, (_, i) => `${i + 1}\n`).join('');
    const result = await read(text, { batchSize: 10 });
    assert.deepEqual(
      result.batches.map((batch) => batch.rows.length),
      [10, 10, 5],
    );
    assert.deepEqual(result.positions, Array.from({ length: 25 }, (_, i) => i + 2));
    assert.ok(result.batches.every((batch) => batch.fields.join() === 'n'));
  });

  it('rejects ragged rows with the field counts and the raw line', async () => {
    const result = await read('a,b,c,d,e\n1,2,3,4,5\n1,2,3,4,5,6,7\n9,9,9,9,9\nshort\n');
    assert.deepEqual(result.rows, [
      ['1', '2', '3', '4', '5'],
      ['9', '9', '9', '9', '9'],
    ]);
    assert.deepEqual(result.positions, [2, 4]);
    assert.deepEqual(result.rejects, [
      { position: 3, reason: 'expected 5 fields, found 7', raw: '1,2,3,4,5,6,7' },
      { position: 5, reason: 'expected 5 fields, found 1', raw: 'short' },
    ]);
  });

  it('rejects a quoted field that is never closed', async () => {
    const result = await read('a,b\n1,2\n3,"open\n');
    assert.deepEqual(result.rows, [['1', '2']]);
    assert.equal(result.rejects.length, 1);
    assert.equal(result.rejects[0]!.position, 3);
    assert.match(result.rejects[0]!.reason, /never closed/);
    assert.equal(result.rejects[0]!.raw, '3,"open');
  });

  it('strips a UTF-8 byte order mark', async () => {
    const result = await read(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('id,name\n1,Zoë\n')]));
    assert.deepEqual(result.fields, ['id', 'name']);
    assert.deepEqual(result.rows, [['1', 'Zoë']]);
  });

  it('decodes latin1 and windows-1252', async () => {
    const latin1 = await read(Buffer.from([...Buffer.from('id,name\n1,caf'), 0xe9, 0x0a]), { encoding: 'latin1' });
    assert.deepEqual(latin1.rows, [['1', 'café']]);
    const cp1252 = await read(Buffer.from([...Buffer.from('price\n'), 0x80, ...Buffer.from('5\n')]), { encoding: 'windows-1252' });
    assert.deepEqual(cp1252.rows, [['€5']]);
  });

  it('decodes UTF-16 LE and BE from their byte order mark', async () => {
    const text = 'id,name\n1,Zoë 美咲\n2,"a\nb"\n';
    const le = iconv.encode(text, 'utf-16le', { addBOM: true });
    const be = iconv.encode(text, 'utf-16be', { addBOM: true });
    assert.deepEqual([le[0], le[1], be[0], be[1]], [0xff, 0xfe, 0xfe, 0xff]);
    for (const [bytes, encoding] of [
      [le, undefined],
      [be, undefined],
      [le, 'utf-16'],
      [be, 'utf-16'],
    ] as const) {
      for (const chunkSize of [undefined, 1, 3]) {
        const result = await read(bytes, encoding ? { encoding } : {}, 'data.csv', chunkSize);
        assert.deepEqual(result.fields, ['id', 'name']);
        assert.deepEqual(result.rows, [
          ['1', 'Zoë 美咲'],
          ['2', 'a\nb'],
        ]);
        assert.deepEqual(result.positions, [2, 3]);
      }
    }
  });

  it('rejects rows holding bytes that are not UTF-8 and keeps the others', async () => {
    const bytes = Buffer.concat([Buffer.from('id,name\n1,ok\n2,bad'), Buffer.from([0xff, 0xfe]), Buffer.from('\n3,Zoë\n')]);
    for (const chunkSize of [undefined, 1]) {
      const result = await read(bytes, {}, 'data.csv', chunkSize);
      assert.deepEqual(result.rows, [
        ['1', 'ok'],
        ['3', 'Zoë'],
      ]);
      assert.deepEqual(result.positions, [2, 4]);
      assert.equal(result.rejects.length, 1);
      assert.equal(result.rejects[0]!.position, 3);
      assert.match(result.rejects[0]!.reason, /not valid UTF-8.*source\.csv\.encoding/);
    }
  });

  it('takes a custom delimiter, quote and escape', async () => {
    const result = await read("a;b;c\n'x;y';'it\\'s';plain\n", { delimiter: ';', quote: "'", escape: '\\' });
    assert.deepEqual(result.rows, [['x;y', "it's", 'plain']]);
  });

  it('guesses the delimiter of a file whose job names none from its first records', async () => {
    const semicolons = await read('id;price;note\n1;1,50;"a; b, c"\n2;2,25;plain, with a comma\n');
    assert.deepEqual(semicolons.fields, ['id', 'price', 'note']);
    assert.deepEqual(semicolons.rows, [['1', '1,50', 'a; b, c'], ['2', '2,25', 'plain, with a comma']]);
    assert.deepEqual((await read('a|b\n1|x,y\n')).rows, [['1', 'x,y']]);
    assert.deepEqual((await read('a\tb\n1\t2\n', {}, 'data.txt')).rows, [['1', '2']]);
    // Commas win ties and stand when nothing splits the file: other delimiters inside quoted values do not count.
    assert.deepEqual((await read('id,note\n1,"a;b;c"\n2,"d|e"\n')).rows, [['1', 'a;b;c'], ['2', 'd|e']]);
    assert.deepEqual((await read('note\nhello; world\n')).rows, [['hello; world']]);
    // A header alone is enough; whatever the chunking, the guess is the same.
    assert.deepEqual((await read('id;name\n')).fields, ['id', 'name']);
    const long = `id;note\n${Array.from({ length: 5000 }, (_, i) => `${i};"text, ${'x'.repeat(i % 97)}"`).join('\n')}\n`;
    assert.deepEqual((await read(long, {}, 'data.csv', 7)).rows.length, 5000);
    // A delimiter the job names is never second-guessed.
    assert.deepEqual((await read('a;b\n1;2\n', { delimiter: ',' })).rows, [['1;2']]);
  });

  it("reads Excel's separator line as the delimiter, never as a record", async () => {
    const excel = 'sep=;\r\nid;price;note\r\n1;1,50;"a; b"\r\n2;2,25;x\r\n';
    for (const chunkSize of [undefined, 1, 3, 7]) {
      const result = await read(excel, {}, 'data.csv', chunkSize);
      assert.deepEqual(result.fields, ['id', 'price', 'note'], `chunks of ${chunkSize}`);
      assert.deepEqual(result.rows, [['1', '1,50', 'a; b'], ['2', '2,25', 'x']]);
      // The header is on line 2 of the file.
      assert.deepEqual(result.positions, [3, 4]);
    }
    // Quoted, in capitals, after a byte order mark, with LF or CR line breaks.
    assert.deepEqual((await read('"sep=|"\na|b\n1|2\n')).rows, [['1', '2']]);
    assert.deepEqual((await read('\ufeffSEP=\t\ra\tb\r1\t2\r')).rows, [['1', '2']]);
    // The job's delimiter wins, and the line is still skipped.
    assert.deepEqual((await read('sep=;\na,b\n1;2,3\n', { delimiter: ',' })).rows, [['1;2', '3']]);
    // A header alone after it.
    assert.deepEqual((await read('sep=;\nid;name\n')).fields, ['id', 'name']);
    // Not a separator line: a header named sep=…, a field after it, a line break as the separator.
    assert.deepEqual((await read('sep=x,b\n1,2\n')).fields, ['sep=x', 'b']);
    assert.deepEqual((await read('sep=\n1\n', { header: false })).rows, [['sep='], ['1']]);
    assert.deepEqual((await read('id,sep=;\n1,2\n')).fields, ['id', 'sep=;']);
  });

  it('reads .tsv files with a tab delimiter unless told otherwise', async () => {
    const tsv = await read('a\tb\n1,5\t2\n', {}, 'data.tsv');
    assert.deepEqual(tsv.fields, ['a', 'b']);
    assert.deepEqual(tsv.rows, [['1,5', '2']]);
    const piped = await read('a|b\n1|2\n', { delimiter: '|' }, 'data.tsv');
    assert.deepEqual(piped.rows, [['1', '2']]);
  });

  it('names columns col_1..col_n when there is no header', async () => {
    const result = await read('1,a,x\n2,b,y\n', { header: false });
    assert.deepEqual(result.fields, ['col_1', 'col_2', 'col_3']);
    assert.deepEqual(result.rows, [
      ['1', 'a', 'x'],
      ['2', 'b', 'y'],
    ]);
    assert.deepEqual(result.positions, [1, 2]);
  });

  it('keeps duplicate and empty header names as given, values positional', async () => {
    const result = await read('a,a,,b\n1,2,3,4\n');
    assert.deepEqual(result.fields, ['a', 'a', '', 'b']);
    assert.deepEqual(result.rows, [['1', '2', '3', '4']]);
  });

  it('yields nothing for an empty file and the fields for a header-only file', async () => {
    const empty = await read('');
    assert.equal(empty.rows.length, 0);
    assert.ok(empty.batches.every((batch) => batch.fields.length === 0));
    for (const text of ['id,name\n', 'id,name', 'id,name\r\n']) {
      const headerOnly = await read(text);
      assert.equal(headerOnly.batches.length, 1, JSON.stringify(text));
      assert.deepEqual(headerOnly.batches[0]!.fields, ['id', 'name']);
      assert.deepEqual(headerOnly.batches[0]!.rows, []);
    }
  });

  it('skips blank lines without losing line numbers', async () => {
    const result = await read('a,b\n\n1,2\n\n\n3,4\n\n');
    assert.deepEqual(result.rows, [
      ['1', '2'],
      ['3', '4'],
    ]);
    assert.deepEqual(result.positions, [3, 6]);
  });

  it('reads gzip-compressed files by their name', async () => {
    const result = await read(gzipSync('id,name\n1,Zoë\n'), {}, 'data.csv.gz');
    assert.deepEqual(result.rows, [['1', 'Zoë']]);
  });

  it('reads a field of any length in time linear in it', async () => {
    const field = 'x'.repeat(20_000_000);
    const result = await read(`a,b\n1,"${field}"\n2,${field}\n3,y\n`, {}, 'data.csv', 64 * 1024);
    assert.deepEqual(
      result.rows.map((row) => [row[0], (row[1] as string).length]),
      [
        ['1', field.length],
        ['2', field.length],
        ['3', 1],
      ],
    );
  });

  it('stops at a value longer than any text can be, naming its line and column', async () => {
    const chunk = Buffer.alloc(8 << 20, 'x');
    const endless: FileHandle = {
      name: 'data.csv',
      size: 0,
      open: async () => Readable.from((function* () {
        yield Buffer.from('a,b,c\n1,2,3\n4,"');
        for (let i = 0; i < 80; i++) yield chunk;
      })(), { objectMode: false }),
      readRange: async () => new Uint8Array(),
    };
    await assert.rejects(readAll(csvFormat, endless), (error: unknown) => {
      assert.ok(error instanceof BadRecordError);
      assert.match(error.message, /^data\.csv:3: b: value of over 536\.9 MB exceeds the 536\.9 MB b2betl can hold in one value/);
      return true;
    });
  });

  it('refuses options that cannot work, naming the file', async () => {
    await assert.rejects(read('a\n', { delimiter: '"' }), ConfigError);
    await assert.rejects(read('a\n', { encoding: 'ebcdic' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /data\.csv: unsupported encoding "ebcdic"/);
      return true;
    });
  });
});
