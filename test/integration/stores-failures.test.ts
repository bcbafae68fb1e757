/** Object stores under failure: transient errors from the service, and credentials that never show. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { describe, it } from 'node:test';
import { PreconditionFailed, type ObjectStore } from '../../src/core/connector.js';
import { ConfigError, EtlError, TransientError } from '../../src/core/errors.js';
import { AzureStore } from '../../connectors/storage/azure/azure-store.js';
import { GcsStore } from '../../connectors/storage/gcs/gcs-store.js';
import { S3Store } from '../../connectors/storage/s3/s3-store.js';
import { startAzurite } from '../support/azurite.js';
import { startGcsDouble } from '../support/gcs-double.js';
import { collect, messageAndHint, storeContext as context, text } from '../support/store-testing.js';
import { listenLoopback } from '../support/http-listen.js';

const BUCKET = 'conformance-bucket';

// ---------------------------------------------------------------------------------------------
// Transient failures

/** A server that answers every request with `status` and `body`, or drops the connection. */
async function faultyServer(answer: { status: number; body: string; type: string } | 'reset'): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    request.resume();
    if (answer === 'reset') {
      request.socket.destroy();
      return;
    }
    response.writeHead(answer.status, { 'content-type': answer.type, 'x-ms-error-code': /<Code>(\w+)</.exec(answer.body)?.[1] ?? '' });
    response.end(answer.body);
  });
  return listenLoopback(server);
}

describe('transient failures', () => {
  const cases: { kind: string; busy: { status: number; body: string; type: string }; open(endpoint: string): Promise<ObjectStore> }[] = [
    {
      kind: 'gcs',
      busy: { status: 503, type: 'application/json', body: JSON.stringify({ error: { code: 503, message: 'Backend Error', errors: [{ reason: 'backendError' }] } }) },
      open: (endpoint) => GcsStore.connect(context('lake', { type: 'gcs', bucket: BUCKET, endpoint }), { retries: 0 }),
    },
    {
      kind: 's3',
      busy: { status: 503, type: 'application/xml', body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>' },
      open: (endpoint) =>
        S3Store.connect(
          context('lake', { type: 's3', bucket: BUCKET, endpoint, force_path_style: true, region: 'us-east-1', access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY' }),
          { maxAttempts: 1 },
        ),
    },
    {
      kind: 'azure',
      busy: { status: 503, type: 'application/xml', body: '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is busy.</Message></Error>' },
      open: (endpoint) =>
        AzureStore.connect(context('lake', { type: 'azure', container: BUCKET, account: 'devstoreaccount1', account_key: Buffer.from('k'.repeat(64)).toString('base64'), endpoint: `${endpoint}/devstoreaccount1` }), {
          maxTries: 1,
        }),
    },
  ];
  for (const { kind, busy, open } of cases) {
    it(`${kind}: a 503 and a dropped connection are TransientErrors`, async () => {
      for (const answer of [busy, 'reset'] as const) {
        const server = await faultyServer(answer);
        try {
          const store = await open(server.endpoint);
          await assert.rejects(collect(store, ''), (error: unknown) => error instanceof TransientError, `listing against ${answer === 'reset' ? 'a dropped connection' : '503'}`);
          await assert.rejects(store.write('a.txt', Buffer.from('a')), (error: unknown) => error instanceof TransientError);
          await store.close?.();
        } finally {
          await server.stop();
        }
      }
    });
  }
});

describe('s3: a conditional PUT cut off before its answer', () => {
  /**
   * Drops every PUT before answering, as S3 may when it refuses one. HEAD shows `etag` (404
   * without), and the write id the PUT carried when the object is to be `ours`.
   */
  async function cuttingServer(etag: string | undefined, ours: boolean): Promise<{ endpoint: string; stop(): Promise<void> }> {
    let writeId: string | undefined;
    const server = http.createServer((request, response) => {
      if (request.method === 'PUT') {
        writeId = request.headers['x-amz-meta-b2betl-write-id'] as string | undefined;
        return void request.socket.destroy();
      }
      request.resume();
      const bucket = new URL(request.url!, 'http://x').pathname.replace(/\/$/, '') === `/${BUCKET}`;
      const found = request.method === 'HEAD' && (etag !== undefined || bucket);
      const headers: http.OutgoingHttpHeaders = found && etag && !bucket ? { etag: `"${etag}"`, 'content-length': '4' } : {};
      if (ours && writeId) headers['x-amz-meta-b2betl-write-id'] = writeId;
      response.writeHead(found ? 200 : 404, headers);
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
    };
  }
  const open = (endpoint: string) =>
    S3Store.connect(context('lake', { type: 's3', bucket: BUCKET, endpoint, force_path_style: true, region: 'us-east-1', access_key_id: 'AKIAIOSFODNN7EXAMPLE', secret_access_key: 'x' }), {
      maxAttempts: 1,
    });
  const body = Buffer.from('mine');
  const md5 = createHash('md5').update(body).digest('hex');

  for (const { name, etag, ours, ifGeneration, outcome } of [
    { name: 'an object that exists refused If-None-Match', etag: 'f00d', ours: false, ifGeneration: '0', outcome: 'refused' },
    { name: 'an object of another version refused If-Match', etag: 'f00d', ours: false, ifGeneration: 'beef', outcome: 'refused' },
    { name: 'an object carrying our write id means the write landed', etag: md5, ours: true, ifGeneration: '0', outcome: 'landed' },
    { name: 'our bytes written by someone else refused If-None-Match', etag: md5, ours: false, ifGeneration: '0', outcome: 'refused' },
    { name: 'a condition that still holds leaves the transport error', etag: undefined, ours: false, ifGeneration: '0', outcome: 'transient' },
  ] as const) {
    it(name, async () => {
      const server = await cuttingServer(etag, ours);
      try {
        const store = await open(server.endpoint);
        const written = store.write('state.json', body, { ifGeneration });
        if (outcome === 'landed') assert.equal(await written, md5);
        else await assert.rejects(written, outcome === 'refused' ? PreconditionFailed : TransientError);
        await store.close?.();
      } finally {
        await server.stop();
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Store-specific credential paths

describe('store credentials', () => {
  it('gcs: a malformed inline key never echoes its private key', async () => {
    const privateKey = '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\\n-----END PRIVATE KEY-----\\n';
    const broken = `{"type": "service_account", "private_key": "${privateKey}", "client_email": "etl@p.iam.gserviceaccount.com",}`;
    await assert.rejects(
      GcsStore.connect(context('lake', { type: 'gcs', bucket: BUCKET, credentials: broken })),
      (error: unknown) => error instanceof ConfigError && /not valid JSON/.test(error.message) && !error.describe().includes('MIIEvQ'),
    );
    await assert.rejects(
      GcsStore.connect(context('lake', { type: 'gcs', bucket: BUCKET, credentials: './no-such-key.json' })),
      (error: unknown) => error instanceof ConfigError && /cannot read key file/.test(error.message),
    );
  });

  it('gcs: credentials can come from Secret Manager', async () => {
    const double = await startGcsDouble({ buckets: [BUCKET] });
    try {
      const key = { type: 'service_account', project_id: 'p', private_key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', client_email: 'etl@p.iam.gserviceaccount.com' };
      double.setSecret('projects/p/secrets/gcs-key/versions/3', JSON.stringify(key));
      const { googleCredentials } = await import('../../connectors/storage/gcs/gcs-credentials.js');
      const credentials = await googleCredentials('secret://projects/p/secrets/gcs-key/versions/3', {
        connection: 'lake',
        baseDir: os.tmpdir(),
        secretEndpoint: double.endpoint,
      });
      assert.deepEqual(credentials, key);
      await assert.rejects(
        googleCredentials('secret://projects/p/secrets/absent/versions/1', { connection: 'lake', baseDir: os.tmpdir(), secretEndpoint: double.endpoint }),
        (error: unknown) => error instanceof EtlError && /secret projects\/p\/secrets\/absent\/versions\/1 not found/.test(error.message),
      );
      await assert.rejects(
        googleCredentials('secret://projects/p/oops', { connection: 'lake', baseDir: os.tmpdir(), secretEndpoint: double.endpoint }),
        ConfigError,
      );
    } finally {
      await double.stop();
    }
  });

  it('azure: a SAS URL works and never shows in url() or errors', async () => {
    const azurite = await startAzurite();
    try {
      const sdk = await import('@azure/storage-blob');
      const credential = new sdk.StorageSharedKeyCredential(azurite.account, azurite.accountKey);
      const service = new sdk.BlobServiceClient(azurite.blobEndpoint, credential);
      await service.getContainerClient('sas-box').create();
      const expiresOn = new Date(Date.now() + 3_600_000);
      const containerSas = await service.getContainerClient('sas-box').generateSasUrl({ permissions: sdk.ContainerSASPermissions.parse('racwdl'), expiresOn });
      const signature = new URL(containerSas).searchParams.get('sig')!;
      assert.ok(signature);
      const store = await AzureStore.connect(context('box', { type: 'azure', container: 'sas-box', sas_url: containerSas, prefix: 'in' }), { maxTries: 1 });
      await store.write('a.txt', Buffer.from('via sas'));
      assert.deepEqual((await collect(store, '')).map((item) => item.path), ['a.txt']);
      const withKey = await AzureStore.connect(
        context('box', { type: 'azure', container: 'sas-box', account: azurite.account, account_key: azurite.accountKey, endpoint: azurite.blobEndpoint, prefix: 'in' }),
        { maxTries: 1 },
      );
      assert.equal(await text(await withKey.read('a.txt')), 'via sas');
      assert.ok(!store.url('a.txt').includes(signature));
      assert.ok(!store.url('a.txt').includes('sig='));

      const readOnly = await service.getContainerClient('sas-box').generateSasUrl({ permissions: sdk.ContainerSASPermissions.parse('rl'), expiresOn });
      const readOnlySignature = new URL(readOnly).searchParams.get('sig')!;
      const limited = await AzureStore.connect(context('box', { type: 'azure', container: 'sas-box', sas_url: readOnly }), { maxTries: 1 });
      await assert.rejects(
        limited.write('b.txt', Buffer.from('no')),
        (error: unknown) => error instanceof EtlError && !messageAndHint(error).includes(readOnlySignature) && !/sig=[^*]/.test(messageAndHint(error)),
      );
      await assert.rejects(
        AzureStore.connect(context('box', { type: 'azure', container: 'other-box', sas_url: containerSas })),
        (error: unknown) => error instanceof ConfigError && !error.describe().includes(signature),
      );
      const badString = `DefaultEndpointsProtocol=http;AccountName=${azurite.account};AccountKey=${azurite.accountKey}`;
      await assert.rejects(
        AzureStore.connect(context('box', { type: 'azure', container: 'sas-box', connection_string: `${badString};BlobEndpoint=not a url` })),
        (error: unknown) => !(error instanceof Error) || !error.message.includes(azurite.accountKey),
      );
    } finally {
      await azurite.stop();
    }
  });

  it('s3: half a key pair is a config error that names neither value', async () => {
    await assert.rejects(
      S3Store.connect(context('lake', { type: 's3', bucket: BUCKET, secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY' })),
      (error: unknown) => error instanceof ConfigError && !error.describe().includes('wJalrXUtnFEMI'),
    );
  });
});
