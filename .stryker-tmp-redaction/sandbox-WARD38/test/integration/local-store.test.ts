import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { store as localStore } from '../../connectors/storage/local/index.js';
import { PreconditionFailed, type ObjectInfo, type ObjectStore } from '../../src/core/connector.js';
import { ConfigError, EtlError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { tempFolder } from '../support/formats.js';

let folder: { dir: string; cleanup: () => Promise<void> };
let root: string;
let store: ObjectStore;

async function open(pathValue: string, baseDir = os.tmpdir()): Promise<ObjectStore> {
  return localStore({ name: 'files', config: { type: 'local', path: pathValue }, baseDir, log: silentLogger });
}

async function list(prefix: string): Promise<ObjectInfo[]> {
  const items: ObjectInfo[] = [];
  for await (const item of store.list(prefix)) items.push(item);
  return items;
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

before(async () => {
  folder = await tempFolder('local-store');
  root = path.join(folder.dir, 'root');
  const files: Record<string, string> = {
    'a.csv': 'a',
    'a0.csv': 'a0',
    'a/b.csv': 'ab',
    'a/c/d.csv': 'acd',
    'b/x.json': '{}',
    'b/y/z.parquet': 'zz',
    'data_2024_01.csv': 'jan',
    'data_2024_02.csv': 'feb',
    'empty/.keep': '',
  };
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), content);
  }
  store = await open(root);
});

after(() => folder.cleanup());

describe('local store', () => {
  it('lists nested folders in lexicographic path order, with size, time and version', async () => {
    const items = await list('');
    assert.deepEqual(
      items.map((item) => item.path),
      ['a.csv', 'a/b.csv', 'a/c/d.csv', 'a0.csv', 'b/x.json', 'b/y/z.parquet', 'data_2024_01.csv', 'data_2024_02.csv', 'empty/.keep'],
    );
    const sorted = [...items.map((item) => item.path)].sort((x, y) => (x < y ? -1 : 1));
    assert.deepEqual(
      items.map((item) => item.path),
      sorted,
    );
    const acd = items.find((item) => item.path === 'a/c/d.csv')!;
    assert.equal(acd.size, 3);
    assert.match(acd.modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(acd.version!, /^3-\d+(\.\d+)?$/);
  });

  it('lists under a prefix, folder or partial name', async () => {
    assert.deepEqual(
      (await list('a/')).map((item) => item.path),
      ['a/b.csv', 'a/c/d.csv'],
    );
    assert.deepEqual(
      (await list('data_2024_')).map((item) => item.path),
      ['data_2024_01.csv', 'data_2024_02.csv'],
    );
    assert.deepEqual(
      (await list('b/y')).map((item) => item.path),
      ['b/y/z.parquet'],
    );
    assert.deepEqual(await list('nothing/here/'), []);
  });

  it('reads whole files and byte ranges', async () => {
    assert.equal(await text(await store.read('a/c/d.csv')), 'acd');
    assert.equal(Buffer.from(await store.readRange('data_2024_01.csv', 1, 3)).toString(), 'an');
    assert.equal(Buffer.from(await store.readRange('data_2024_01.csv', 2, 100)).toString(), 'n');
    assert.equal(store.url('a/c/d.csv'), path.join(root, 'a', 'c', 'd.csv'));
    await assert.rejects(store.read('missing.csv'), (error: unknown) => {
      assert.ok(error instanceof EtlError);
      assert.ok(error.message.includes(path.join(root, 'missing.csv')));
      return true;
    });
  });

  it('stats files, and says undefined for what is not there', async () => {
    const info = await store.stat('b/x.json');
    assert.equal(info?.path, 'b/x.json');
    assert.equal(info?.size, 2);
    assert.equal(await store.stat('b/none.json'), undefined);
    assert.equal(await store.stat('b'), undefined);
  });

  it('writes atomically with generation preconditions', async () => {
    const first = await store.write('out/ledger.sqlite', Buffer.from('v1'), { ifGeneration: '0' });
    assert.ok(first);
    assert.equal(await readFile(path.join(root, 'out', 'ledger.sqlite'), 'utf8'), 'v1');
    assert.equal((await store.stat('out/ledger.sqlite'))?.version, first);

    await assert.rejects(store.write('out/ledger.sqlite', Buffer.from('again'), { ifGeneration: '0' }), PreconditionFailed);
    await assert.rejects(store.write('out/ledger.sqlite', Buffer.from('v2'), { ifGeneration: 'stale-version' }), PreconditionFailed);

    // Same size, written at once: the version must still change.
    const second = await store.write('out/ledger.sqlite', Buffer.from('v2'), { ifGeneration: first });
    assert.notEqual(second, first);
    assert.equal(await readFile(path.join(root, 'out', 'ledger.sqlite'), 'utf8'), 'v2');
    await assert.rejects(store.write('out/ledger.sqlite', Buffer.from('v3'), { ifGeneration: first }), PreconditionFailed);

    const streamed = await store.write('out/stream.txt', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    assert.equal(await text(await store.read('out/stream.txt')), 'hello world');
    assert.equal((await store.stat('out/stream.txt'))?.version, streamed);

    // Nothing temporary is left behind, and listings never show temporary files.
    assert.deepEqual((await readdir(path.join(root, 'out'))).sort(), ['ledger.sqlite', 'stream.txt']);
    assert.deepEqual(
      (await list('out/')).map((item) => item.path),
      ['out/ledger.sqlite', 'out/stream.txt'],
    );
  });

  it('lets only one of several concurrent conditional writers win', async () => {
    const base = await store.write('race/state', Buffer.from('base'));
    const attempts = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.write('race/state', Buffer.from(`writer ${i}`), { ifGeneration: base })),
    );
    assert.equal(attempts.filter((attempt) => attempt.status === 'fulfilled').length, 1);
    assert.ok(attempts.filter((attempt) => attempt.status === 'rejected').every((attempt) => (attempt as PromiseRejectedResult).reason instanceof PreconditionFailed));
  });

  it('notices a change of content with the same size and an old time', async () => {
    const file = path.join(root, 'same-size.csv');
    await writeFile(file, 'aaaa');
    const before = await store.stat('same-size.csv');
    await writeFile(file, 'bbbb');
    await utimes(file, new Date(), new Date(Date.now() + 5000));
    const changed = await store.stat('same-size.csv');
    assert.notEqual(changed?.version, before?.version);
  });

  it('deletes, with and without a precondition', async () => {
    const version = await store.write('gone/a.txt', Buffer.from('a'));
    await assert.rejects(store.delete('gone/a.txt', { ifGeneration: 'other' }), PreconditionFailed);
    await store.delete('gone/a.txt', { ifGeneration: version });
    assert.equal(await store.stat('gone/a.txt'), undefined);
    await store.write('gone/b.txt', Buffer.from('b'));
    await store.delete('gone/b.txt');
    await store.delete('gone/b.txt');
    assert.deepEqual(await list('gone/'), []);
  });

  it('refuses paths that leave the folder', async () => {
    await assert.rejects(store.read('../outside.txt'), ConfigError);
    await assert.rejects(store.write('a/../../outside.txt', Buffer.from('x')), ConfigError);
  });

  it('names the connection and its path when the folder is missing', async () => {
    const missing = path.join(folder.dir, 'no-such-folder');
    const absent = await open(missing);
    const drain = async (): Promise<void> => {
      for await (const item of absent.list('')) assert.fail(`listed ${item.path}`);
    };
    await assert.rejects(drain(), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.ok(error.message.includes('files') && error.message.includes(missing), error.message);
      return true;
    });
    await assert.rejects(absent.read('x.csv'), ConfigError);
  });

  it('resolves a relative path against the config folder', async () => {
    const relative = await open('root', folder.dir);
    assert.equal(relative.url('a.csv'), path.join(root, 'a.csv'));
    assert.equal(await text(await relative.read('a.csv')), 'a');
  });
});
