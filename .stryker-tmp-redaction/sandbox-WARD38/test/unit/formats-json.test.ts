import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { jsonFormat } from '../../connectors/formats/json/json-format.js';
import { jsonlFormat } from '../../connectors/formats/json/jsonl-format.js';
import type { FileFormat, FileHandle } from '../../src/core/connector.js';
import { BadRecordError } from '../../src/core/errors.js';
import { bytesHandle, readAll } from '../support/formats.js';

const BIG = '12345678901234567890';

/** A file of `head`, then 8 MiB chunks of `x` past the longest text V8 holds, then `tail`. */
function endless(name: string, head: string, tail: string): FileHandle {
  const chunk = Buffer.alloc(8 << 20, 'x');
  return {
    name,
    size: 0,
    open: async () =>
      Readable.from(
        (function* () {
          yield Buffer.from(head);
          for (let i = 0; i < 66; i++) yield chunk;
          yield Buffer.from(tail);
        })(),
        { objectMode: false },
      ),
    readRange: async () => new Uint8Array(),
  };
}

/** Asserts that reading `file` fails with a value too large, and the message's start. */
async function assertTooLarge(format: FileFormat, file: FileHandle, start: RegExp): Promise<void> {
  await assert.rejects(readAll(format, file), (error: unknown) => {
    assert.ok(error instanceof BadRecordError);
    assert.match(error.message, start);
    assert.match(error.message, /value of over 536\.9 MB exceeds the 536\.9 MB b2betl can hold in one value/);
    return true;
  });
}
const JUST_PAST_DOUBLE = '9007199254740993';

describe('jsonl format', () => {
  const read = (text: string | Buffer, options = {}, chunkSize?: number, name = 'data.jsonl') =>
    readAll(jsonlFormat, bytesHandle(name, text, chunkSize), options);

  it('reads one object per line, fields in first-seen order, rows aligned', async () => {
    const text = '{"id":1,"name":"Ann"}\n\n{"name":"Bob","id":2,"tags":["a"]}\r\n   \n{"id":3,"nested":{"x":1.5}}\n';
    const result = await read(text);
    assert.deepEqual(result.fields, ['id', 'name', 'tags', 'nested']);
    assert.deepEqual(result.positions, [1, 3, 5]);
    assert.deepEqual(result.records, [
      { id: 1, name: 'Ann', tags: undefined, nested: undefined },
      { id: 2, name: 'Bob', tags: ['a'], nested: undefined },
      { id: 3, name: undefined, tags: undefined, nested: { x: 1.5 } },
    ]);
    assert.deepEqual(result.rejects, []);
  });

  it('rejects an invalid line with its line number and the parse error, and loads the rest', async () => {
    const result = await read('{"id":1}\n{"id": 2,,}\n[1,2]\n"text"\n{"id":5}');
    assert.deepEqual(result.rows, [[1], [5]]);
    assert.deepEqual(result.positions, [1, 5]);
    assert.equal(result.rejects.length, 3);
    assert.equal(result.rejects[0]!.position, 2);
    assert.match(result.rejects[0]!.reason, /^invalid JSON: /);
    assert.equal(result.rejects[0]!.raw, '{"id": 2,,}');
    assert.deepEqual(
      result.rejects.slice(1).map((reject) => [reject.position, reject.reason]),
      [
        [3, 'line 3 is an array, not a JSON object'],
        [4, 'line 4 is a string, not a JSON object'],
      ],
    );
  });

  it('keeps integers beyond 2^53 exact as bigint', async () => {
    const text = `{"a":${BIG},"b":${JUST_PAST_DOUBLE},"c":-${BIG},"d":9007199254740991,"e":1.5,"f":"${BIG}","g":{"deep":[${BIG}]}}\n`;
    const [record] = (await read(text)).records;
    assert.equal(record!.a, BigInt(BIG));
    assert.equal(record!.b, BigInt(JUST_PAST_DOUBLE));
    assert.equal(record!.c, -BigInt(BIG));
    assert.equal(record!.d, 9007199254740991);
    assert.equal(record!.e, 1.5);
    assert.equal(record!.f, BIG);
    assert.deepEqual(record!.g, { deep: [BigInt(BIG)] });
  });

  it('gives the same result in any chunking, and batches by batchSize', async () => {
    const text = Array.from({ length: 50 }, (_, i) => JSON.stringify({ i, name: `Zoë 美咲 ${i}` })).join('\n');
    const whole = await read(text, { batchSize: 20 });
    assert.deepEqual(
      whole.batches.map((batch) => batch.rows.length),
      [20, 20, 10],
    );
    const chunked = await read(text, { batchSize: 20 }, 3);
    assert.deepEqual(chunked.rows, whole.rows);
    assert.deepEqual(chunked.positions, Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('reads lines of any length in time linear in them, across any chunking', async () => {
    const long = 'y'.repeat(30_000_000);
    const text = `{"id":1,"t":"${long}"}\n{"id":2,"t":"b"}\n{"id":3,"t":"${long}"}`;
    for (const chunkSize of [64 * 1024, 1 << 20]) {
      const result = await read(text, {}, chunkSize);
      assert.deepEqual(
        result.rows.map(([id, t]) => [id, (t as string).length]),
        [
          [1, long.length],
          [2, 1],
          [3, long.length],
        ],
      );
      assert.deepEqual(result.positions, [1, 2, 3]);
    }
  });

  it('stops at a value longer than any text can be, naming its line and column', async () => {
    await assertTooLarge(jsonlFormat, endless('data.jsonl', '{"id":1}\n{"id":2,"b":{"c":"x"},"note":"', '"}\n'), /^data\.jsonl:2: note: /);
  });

  it('rejects lines with bytes that are not UTF-8', async () => {
    const bytes = Buffer.concat([Buffer.from('{"a":"ok"}\n{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]);
    const result = await read(bytes);
    assert.deepEqual(result.rows, [['ok']]);
    assert.equal(result.rejects[0]!.position, 2);
    assert.match(result.rejects[0]!.reason, /not valid UTF-8/);
  });

  it('reads gzip-compressed files by their name', async () => {
    const result = await read(gzipSync('{"id":1}\n{"id":2}\n'), {}, undefined, 'data.ndjson.gz');
    assert.deepEqual(result.rows, [[1], [2]]);
  });
});

describe('json format', () => {
  const read = (text: string | Buffer, options = {}, chunkSize?: number) => readAll(jsonFormat, bytesHandle('data.json', text, chunkSize), options);

  it('reads a top-level array of objects, positions are element numbers', async () => {
    const text = `[\n {"id":1,"name":"Ann","tags":["x",{"y":2}]},\n {"id":2,"extra":null},\n {"name":"Cy","id":3}\n]\n`;
    const result = await read(text);
    assert.deepEqual(result.fields, ['id', 'name', 'tags', 'extra']);
    assert.deepEqual(result.positions, [1, 2, 3]);
    assert.deepEqual(result.records, [
      { id: 1, name: 'Ann', tags: ['x', { y: 2 }], extra: undefined },
      { id: 2, name: undefined, tags: undefined, extra: null },
      { id: 3, name: 'Cy', tags: undefined, extra: undefined },
    ]);
  });

  it('reads a single object as one row', async () => {
    const result = await read('\ufeff{"id": 7, "payload": {"a": [1, 2]}}');
    assert.deepEqual(result.fields, ['id', 'payload']);
    assert.deepEqual(result.rows, [[7, { a: [1, 2] }]]);
    assert.deepEqual(result.positions, [1]);
  });

  it('reads several top-level objects one after another (JSON Lines named .json)', async () => {
    const result = await read('{"id":1}\n{"id":2,"x":true}\n');
    assert.deepEqual(result.fields, ['id', 'x']);
    assert.deepEqual(result.rows, [[1], [2, true]]);
    assert.deepEqual(result.positions, [1, 2]);
  });

  it('keeps integers beyond 2^53 exact as bigint', async () => {
    const result = await read(`[{"a":${BIG},"b":${JUST_PAST_DOUBLE},"c":-${BIG},"d":[${BIG}],"e":0.1,"f":1e21}]`);
    const [record] = result.records;
    assert.equal(record!.a, BigInt(BIG));
    assert.equal(record!.b, BigInt(JUST_PAST_DOUBLE));
    assert.equal(record!.c, -BigInt(BIG));
    assert.deepEqual(record!.d, [BigInt(BIG)]);
    assert.equal(record!.e, 0.1);
    assert.equal(record!.f, 1e21);
  });

  it('rejects elements that are not objects', async () => {
    const result = await read('[{"a":1}, 2, [3], null, {"a":5}]');
    assert.deepEqual(result.rows, [[1], [5]]);
    assert.deepEqual(result.positions, [1, 5]);
    assert.deepEqual(
      result.rejects.map((reject) => [reject.position, reject.reason, reject.raw]),
      [
        [2, 'element 2 is a number, not a JSON object', '2'],
        [3, 'element 3 is an array, not a JSON object', '[3]'],
        [4, 'element 4 is null, not a JSON object', 'null'],
      ],
    );
  });

  it('streams a large array in batches with the same rows in any chunking', async () => {
    const elements = Array.from({ length: 2500 }, (_, i) => ({ id: i + 1, name: `Zoë ${i}`, ...(i % 100 === 0 ? { late: i } : {}) }));
    const text = JSON.stringify(elements);
    const result = await read(text, { batchSize: 1000 });
    assert.deepEqual(
      result.batches.map((batch) => batch.rows.length),
      [1000, 1000, 500],
    );
    assert.deepEqual(result.batches[0]!.fields, ['id', 'name', 'late']);
    assert.equal(result.rows.length, 2500);
    assert.deepEqual(result.rows[2499], [2500, 'Zoë 2499', undefined]);
    assert.deepEqual(result.positions.slice(-2), [2499, 2500]);
    const chunked = await read(text, { batchSize: 1000 }, 5);
    assert.deepEqual(chunked.rows, result.rows);
  });

  it('fails the file on invalid JSON, naming the file', async () => {
    await assert.rejects(read('[{"a":1},{"a":2},{"a":]'), (error: unknown) => {
      assert.ok(error instanceof BadRecordError);
      assert.match(error.message, /^data\.json: not valid JSON.*unexpected token/);
      return true;
    });
    // Read in small chunks, the elements before the error are counted.
    await assert.rejects(read('[{"a":1},{"a":2},{"a":]', {}, 4), /data\.json: not valid JSON after element 2/);
  });

  it('stops at a value longer than any text can be, naming its element and column', async () => {
    await assertTooLarge(jsonFormat, endless('data.json', '[{"id":1},{"id":2,"note":{"inner":"', '"}}]'), /^data\.json: element 2: note: /);
  });

  it('yields one empty batch for an empty array', async () => {
    const result = await read('[]');
    assert.equal(result.batches.length, 1);
    assert.deepEqual(result.rows, []);
  });
});
