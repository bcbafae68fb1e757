/**
 * The GCS double answers the real @google-cloud/storage client and raw HTTP like the service:
 * types, pagination, preconditions, error bodies, uploads of every kind, ranged media.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CRC32C, Storage } from '@google-cloud/storage';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.js';

let double: GcsDouble;
let storage: Storage;

before(async () => {
  double = await startGcsDouble({ buckets: ['unit-bucket'] });
  storage = new Storage({ apiEndpoint: double.endpoint, projectId: 'test', retryOptions: { autoRetry: false } });
});

after(async () => {
  await double.stop();
});

async function getJson(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${double.endpoint}${path}`);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

describe('GCS double', () => {
  it('answers 404 with the GCS error body for an unknown bucket and object', async () => {
    const bucket = await getJson('/storage/v1/b/no-such-bucket/o');
    assert.equal(bucket.status, 404);
    assert.deepEqual(bucket.body, {
      error: {
        code: 404,
        message: 'The specified bucket does not exist.',
        errors: [{ message: 'The specified bucket does not exist.', domain: 'global', reason: 'notFound' }],
      },
    });
    const object = await getJson('/storage/v1/b/unit-bucket/o/missing.txt');
    assert.equal(object.status, 404);
    assert.equal(object.body.error.message, 'No such object: unit-bucket/missing.txt');
    await assert.rejects(storage.bucket('unit-bucket').file('missing.txt').download(), (error: any) => error.code === 404);
  });

  it('answers 400 when an upload lacks uploadType or name', async () => {
    const noType = await fetch(`${double.endpoint}/upload/storage/v1/b/unit-bucket/o?name=x`, { method: 'POST', body: 'x' });
    assert.equal(noType.status, 400);
    const noName = await fetch(`${double.endpoint}/upload/storage/v1/b/unit-bucket/o?uploadType=media`, { method: 'POST', body: 'x' });
    assert.equal(noName.status, 400);
    assert.equal(((await noName.json()) as any).error.errors[0].reason, 'required');
  });

  it('gives string sizes and generations, correct hashes, and a new generation on every write', async () => {
    const file = storage.bucket('unit-bucket').file('types/a.txt');
    const data = Buffer.from('hello hashes');
    await file.save(data, { resumable: false });
    const first = file.metadata.generation;
    await file.save(data, { resumable: false });
    const second = file.metadata.generation;
    const { body } = await getJson('/storage/v1/b/unit-bucket/o/types%2Fa.txt');
    assert.equal(typeof body.size, 'string');
    assert.equal(body.size, String(data.length));
    assert.equal(typeof body.generation, 'string');
    assert.equal(body.generation, String(second));
    assert.ok(BigInt(String(second)) > BigInt(String(first)));
    assert.equal(body.md5Hash, createHash('md5').update(data).digest('base64'));
    const crc = new CRC32C();
    crc.update(data);
    assert.equal(body.crc32c, crc.toString());
    assert.match(body.updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // The client validates both hashes against x-goog-hash on a full download.
    const [md5Checked] = await file.download({ validation: 'md5' });
    assert.equal(md5Checked.toString(), 'hello hashes');
    const [crcChecked] = await file.download({ validation: 'crc32c' });
    assert.equal(crcChecked.toString(), 'hello hashes');
  });

  it('pages listings with prefix, delimiter, maxResults and pageToken', async () => {
    for (let index = 0; index < 7; index += 1) double.seed('unit-bucket', `page/file-${index}.txt`, `${index}`);
    double.seed('unit-bucket', 'page/sub/one.txt', '1');
    double.seed('unit-bucket', 'page/sub/two.txt', '2');
    double.seed('unit-bucket', 'pagex/other.txt', 'x');
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const { body } = await getJson(`/storage/v1/b/unit-bucket/o?prefix=page/&maxResults=3${token ? `&pageToken=${token}` : ''}`);
      pages += 1;
      assert.ok((body.items ?? []).length <= 3);
      names.push(...(body.items ?? []).map((item: { name: string }) => item.name));
      token = body.nextPageToken;
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(names, [...Array.from({ length: 7 }, (_, index) => `page/file-${index}.txt`), 'page/sub/one.txt', 'page/sub/two.txt']);

    const folders = await getJson('/storage/v1/b/unit-bucket/o?prefix=page/&delimiter=/&maxResults=100');
    assert.deepEqual(folders.body.prefixes, ['page/sub/']);
    assert.equal(folders.body.items.length, 7);

    const [firstPage, nextQuery] = await storage.bucket('unit-bucket').getFiles({ prefix: 'page/', maxResults: 4, autoPaginate: false });
    assert.equal(firstPage.length, 4);
    const [rest] = await storage.bucket('unit-bucket').getFiles(nextQuery as object);
    assert.deepEqual(rest.map((file) => file.name), ['page/file-4.txt', 'page/file-5.txt', 'page/file-6.txt', 'page/sub/one.txt']);
  });

  it('enforces generation and metageneration preconditions with 412 bodies', async () => {
    const file = storage.bucket('unit-bucket').file('pre/x.txt');
    await file.save('one', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const generation = String(file.metadata.generation);
    await assert.rejects(file.save('two', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }), (error: any) => error.code === 412);
    await assert.rejects(file.save('two', { resumable: false, preconditionOpts: { ifGenerationMatch: Number(generation) + 1 } }), (error: any) => error.code === 412);
    const raw = await fetch(`${double.endpoint}/upload/storage/v1/b/unit-bucket/o?uploadType=media&name=pre/x.txt&ifGenerationMatch=0`, { method: 'POST', body: 'x' });
    assert.equal(raw.status, 412);
    const body = (await raw.json()) as any;
    assert.equal(body.error.code, 412);
    assert.equal(body.error.errors[0].reason, 'conditionNotMet');
    assert.equal(double.object('unit-bucket', 'pre/x.txt')?.data.toString(), 'one');

    const notMatch = await fetch(`${double.endpoint}/upload/storage/v1/b/unit-bucket/o?uploadType=media&name=pre/x.txt&ifGenerationNotMatch=${generation}`, { method: 'POST', body: 'x' });
    assert.equal(notMatch.status, 412);
    const metaMatch = await fetch(`${double.endpoint}/upload/storage/v1/b/unit-bucket/o?uploadType=media&name=pre/x.txt&ifMetagenerationMatch=1`, { method: 'POST', body: 'three' });
    assert.equal(metaMatch.status, 200);
    const notModified = await fetch(`${double.endpoint}/storage/v1/b/unit-bucket/o/pre%2Fx.txt?ifGenerationNotMatch=${double.object('unit-bucket', 'pre/x.txt')!.generation}`);
    assert.equal(notModified.status, 304);

    await assert.rejects(file.delete({ ifGenerationMatch: Number(generation) }), (error: any) => error.code === 412);
    await file.delete({ ifGenerationMatch: Number(double.object('unit-bucket', 'pre/x.txt')!.generation) });
    assert.equal(double.object('unit-bucket', 'pre/x.txt'), undefined);
  });

  it('takes resumable uploads in several chunks and multipart uploads, and checks declared hashes', async () => {
    const data = Buffer.alloc(700 * 1024);
    for (let index = 0; index < data.length; index += 1) data[index] = index % 251;
    const file = storage.bucket('unit-bucket').file('upload/chunked.bin');
    const before = double.requests.length;
    await file.save(data, { resumable: true, chunkSize: 256 * 1024 });
    const puts = double.requests.slice(before).filter((request) => request.method === 'PUT');
    assert.equal(puts.length, 3);
    assert.ok(double.object('unit-bucket', 'upload/chunked.bin')!.data.equals(data));

    await storage.bucket('unit-bucket').file('upload/multi.txt').save('multipart body', { resumable: false, metadata: { contentType: 'text/plain' } });
    assert.equal(double.object('unit-bucket', 'upload/multi.txt')?.contentType, 'text/plain');
    await assert.rejects(
      storage.bucket('unit-bucket').file('upload/bad.txt').save('content', { resumable: false, validation: false, metadata: { crc32c: 'AAAAAA==' } }),
      (error: any) => error.code === 400,
    );
    assert.equal(double.object('unit-bucket', 'upload/bad.txt'), undefined);
  });

  it('serves ranged media with 206 and Content-Range, and 416 past the end', async () => {
    double.seed('unit-bucket', 'range/r.txt', '0123456789');
    const ranged = await fetch(`${double.endpoint}/storage/v1/b/unit-bucket/o/range%2Fr.txt?alt=media`, { headers: { range: 'bytes=2-5' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), 'bytes 2-5/10');
    assert.equal(await ranged.text(), '2345');
    const tail = await fetch(`${double.endpoint}/download/storage/v1/b/unit-bucket/o/range%2Fr.txt?alt=media`, { headers: { range: 'bytes=-3' } });
    assert.equal(await tail.text(), '789');
    const past = await fetch(`${double.endpoint}/storage/v1/b/unit-bucket/o/range%2Fr.txt?alt=media`, { headers: { range: 'bytes=20-30' } });
    assert.equal(past.status, 416);
    const [viaClient] = await storage.bucket('unit-bucket').file('range/r.txt').download({ start: 3, end: 6 });
    assert.equal(viaClient.toString(), '3456');
  });

  it('serves Secret Manager versions with a CRC32C and injects failures on demand', async () => {
    double.setSecret('projects/p/secrets/s/versions/1', 'secret value');
    const { status, body } = await getJson('/v1/projects/p/secrets/s/versions/1:access');
    assert.equal(status, 200);
    assert.equal(Buffer.from(body.payload.data, 'base64').toString(), 'secret value');
    const crc = new CRC32C();
    crc.update(Buffer.from('secret value'));
    assert.equal(body.payload.dataCrc32c, String(crc.valueOf() >>> 0));
    assert.equal((await getJson('/v1/projects/p/secrets/none/versions/1:access')).status, 404);

    double.intercept((request) => (request.path.endsWith('/o') ? { status: 503 } : undefined));
    assert.equal((await getJson('/storage/v1/b/unit-bucket/o')).status, 503);
    double.intercept(() => 'reset');
    await assert.rejects(fetch(`${double.endpoint}/storage/v1/b/unit-bucket/o`));
    double.intercept(undefined);
    assert.equal((await getJson('/storage/v1/b/unit-bucket/o')).status, 200);
  });
});
