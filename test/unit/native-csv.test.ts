/** Which local CSV files DuckDB parses as the CSV format does, from their bytes. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readsAlike } from '../../connectors/sources/files/native-csv.js';

describe('readsAlike', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(path.join(tmpdir(), 'b2betl-native-'))));
  after(() => rm(dir, { recursive: true, force: true }));
  const check = async (content: string | Buffer, delimiter = ',', quote = '"') => {
    const file = path.join(dir, 'f.csv');
    await writeFile(file, content);
    return readsAlike(file, delimiter, quote);
  };

  it('takes quoted fields, and spaces that are text', async () => {
    assert.equal(await check('id,t\n1,"a, b"\n2,"say ""x"", y"\n3, a b\n'), true);
    assert.equal(await check(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('"id",t\n1,a\n')])), true);
    assert.equal(await check('id;t\n1; x\n', ';'), true);
  });

  it('refuses spaces before an opening quote, anywhere in a line', async () => {
    assert.equal(await check('id,t\n1, "a"\n'), false);
    assert.equal(await check('id,t\n1,   "a"\n'), false);
    assert.equal(await check('id,t\n  "1",a\n'), false);
    assert.equal(await check(' "id",t\n1,a\n'), false);
    assert.equal(await check("id;t\n1; 'a'\n", ';', "'"), false);
  });

  it('refuses UTF-16 and a blank line before the header', async () => {
    assert.equal(await check(Buffer.from([0xff, 0xfe, 0x69, 0x00])), false);
    assert.equal(await check('\nid,t\n1,a\n'), false);
    assert.equal(await check('\r\nid,t\n1,a\n'), false);
  });

  it('finds the pattern across the edge of the chunks it reads', async () => {
    const chunk = 4 << 20;
    for (const at of [chunk - 300, chunk - 200, chunk - 2, chunk - 1, chunk, chunk + 5]) {
      const filler = 'x'.repeat(at - 3) + '\n1';
      const content = `${filler}, "a"\n${'y,z\n'.repeat(100)}`;
      assert.equal(content.indexOf(', "'), at - 1);
      assert.equal(await check(content), false, `pattern at byte ${at - 1}`);
      assert.equal(await check(content.replace(', "', ',  ')), true, `no pattern near byte ${at - 1}`);
    }
  });
});
