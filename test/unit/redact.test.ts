/** The one redaction module: every secret shape, registered values, nested JSON, and what a connection's secrets are. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { redact, redactValue, registerSecrets, secretsOf } from '../../src/core/redact.js';

describe('redact', () => {
  it('scrubs every known secret shape and leaves the rest of the text', () => {
    const cases: [string, string][] = [
      ['Authorization: Bearer abc.DEF-1~+/=', 'Authorization: Bearer ***'],
      ['key -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY----- end', 'key *** end'],
      ['key -----BEGIN RSA PRIVATE KEY-----\nMIIE cut', 'key ***'],
      ['token ya29.a0AfH6SMBx used', 'token *** used'],
      ['jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln done', 'jwt *** done'],
      ['{"private_key": "abc", "client_email": "x@y"}', '{"private_key": "***", "client_email": "x@y"}'],
      ['client_secret=abc&x=1', 'client_secret=***&x=1'],
      ['refresh_token: r1, access_token=a2, id_token: i3', 'refresh_token: ***, access_token=***, id_token: ***'],
      ['password=hunter2 and PASSWORD: "x y"', 'password=*** and PASSWORD: "***"'],
      // A Secret Manager reference names a secret; it is what a Dataflow launch must show.
      ['{"password": "projects/p/secrets/db/versions/1"} password: secret://projects/p/secrets/db', '{"password": "projects/p/secrets/db/versions/1"} password: secret://projects/p/secrets/db'],
      ['postgres://etl:p%40ss@db:5432/shop', 'postgres://etl:***@db:5432/shop'],
      ['mysql://root:@db/shop', 'mysql://root:***@db/shop'],
      ['DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Zm9v==;EndpointSuffix=x', 'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=***;EndpointSuffix=x'],
      ['SharedAccessSignature=sv=1&sig=2;BlobEndpoint=x', 'SharedAccessSignature=***;BlobEndpoint=x'],
      ['https://a.blob.core.windows.net/c?sv=2020&se=2030&sp=r&sig=abc%2F', 'https://a.blob.core.windows.net/c?sv=***&se=***&sp=***&sig=***'],
      ['https://s3/x?X-Amz-Signature=abc&X-Amz-Credential=AK/1&X-Amz-Security-Token=t', 'https://s3/x?X-Amz-Signature=***&X-Amz-Credential=***&X-Amz-Security-Token=***'],
      ['aws_secret_access_key = abc\naws_session_token=t2', 'aws_secret_access_key = ***\naws_session_token=***'],
      ['password authentication failed for user "etl"', 'password authentication failed for user "etl"'],
      ['https://storage.googleapis.com/b/o?alt=media&prefix=x', 'https://storage.googleapis.com/b/o?alt=media&prefix=x'],
    ];
    for (const [input, expected] of cases) assert.equal(redact(input), expected, input);
  });

  it('scrubs the given secrets, longest first, however short', () => {
    assert.equal(redact('pw is pw, not pwned', ['pw']), '*** is ***, not ***ned');
    assert.equal(redact('a abcd abc', ['abc', 'abcd']), 'a *** ***');
    assert.equal(redact('nothing here', ['']), 'nothing here');
  });

  it('scrubs registered secrets from every text from then on, but not short ones', () => {
    const secret = `reg-${Date.now()}-secret`;
    assert.equal(redact(`x ${secret} y`), `x ${secret} y`);
    registerSecrets([secret, 'short', undefined]);
    assert.equal(redact(`x ${secret} y`), 'x *** y');
    assert.equal(redact('a short word'), 'a short word');
    registerSecrets(['sixsix']);
    assert.equal(redact('a sixsix word'), 'a *** word');
  });

  it('redacts every string of a JSON value, keeping its shape and other types', () => {
    const value = { a: 'Bearer abc', n: 1, b: [null, true, 'ya29.x', { c: 'password=z' }], d: new Date(0) };
    assert.deepEqual(redactValue(value), { a: 'Bearer ***', n: 1, b: [null, true, '***', { c: 'password=***' }], d: new Date(0) });
    assert.equal(redactValue('Bearer t'), 'Bearer ***');
    assert.equal(redactValue(7n), 7n);
  });
});

describe('redactStandardStreams', () => {
  it('scrubs every write to stdout and stderr, strings and bytes, once however often it is called', () => {
    const module = fileURLToPath(new URL('../../src/core/redact.js', import.meta.url));
    const script = `
      const { redactStandardStreams, registerSecrets } = await import(${JSON.stringify(module)});
      registerSecrets(['hunter2-long']);
      redactStandardStreams();
      redactStandardStreams();
      process.stdout.write('out hunter2-long Bearer abc\\n');
      process.stdout.write(Buffer.from('bytes hunter2-long\\n'));
      process.stdout.write(Buffer.from('plain bytes\\n'), () => process.stderr.write('err hunter2-long\\n', 'utf8'));
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, 'out *** Bearer ***\nbytes ***\nplain bytes\n');
    assert.equal(child.stderr, 'err ***\n');
  });
});

describe('secretsOf', () => {
  it('finds the secret values of every connection type', () => {
    assert.deepEqual(secretsOf({ type: 'postgres', host: 'h', user: 'etl', password: 'pw1' }), ['pw1']);
    assert.deepEqual(secretsOf({ type: 'mysql', url: 'mysql://etl:p%40ss@h/db' }), ['p%40ss', 'p@ss']);
    assert.deepEqual(secretsOf({ type: 'postgres', url: 'postgres://etl@h/db' }), []);
    assert.deepEqual(secretsOf({ type: 'postgres', host: 'h', user: 'secret://projects/p/secrets/u/versions/1', password: 'secret://projects/p/secrets/pw/versions/2' }), []);
    assert.deepEqual(secretsOf({ type: 'postgres', url: 'not a url' }), []);
    assert.deepEqual(secretsOf({ type: 's3', access_key_id: 'AKIA', secret_access_key: 'sk', session_token: 'st' }), ['sk', 'st']);
    assert.deepEqual(secretsOf({ type: 'azure', connection_string: 'AccountName=a;AccountKey=k==;SharedAccessSignature=sv=1' }), [
      'AccountName=a;AccountKey=k==;SharedAccessSignature=sv=1',
      'k==',
      'sv=1',
    ]);
    assert.deepEqual(secretsOf({ type: 'azure', account: 'a', account_key: 'k2' }), ['k2']);
    assert.deepEqual(secretsOf({ type: 'azure', sas_url: 'https://a.blob/c?sv=1&sig=2' }), ['https://a.blob/c?sv=1&sig=2', 'sv=1&sig=2']);
    const key = JSON.stringify({ type: 'service_account', private_key: 'PK', client_secret: 'CS', refresh_token: 'RT', access_token: 'AT', client_email: 'e' });
    assert.deepEqual(secretsOf({ type: 'gcs', bucket: 'b', credentials: key }), [key, 'PK', 'CS', 'RT', 'AT']);
    assert.deepEqual(secretsOf({ type: 'gcs', bucket: 'b', credentials: '{not json' }), ['{not json']);
    assert.deepEqual(secretsOf({ type: 'bigquery', project: 'p', credentials: 'key.json' }), ['key.json']);
    assert.deepEqual(secretsOf({ type: 'x', nested: { list: [{ password: 'deep' }], token: 'tk' } }), ['deep', 'tk']);
    assert.deepEqual(secretsOf({ type: 'duckdb', path: './w.duckdb' }), []);
  });

  it('JSON text with a password phrase in a value stays JSON', () => {
    const json = JSON.stringify([{ detail: "Access denied for user 'root'@'127.0.0.1' (using password: YES)", hint: 'check' }, { detail: 'password: abc\\"x' }]);
    const parsed = JSON.parse(redact(json)) as { detail: string }[];
    assert.equal(parsed[0].detail, "Access denied for user 'root'@'127.0.0.1' (using password: ***");
    assert.equal(parsed[1].detail, 'password: ***\\"x');
  });

  it('a message naming a secret setting by its path stays readable', () => {
    const message = 'etl.config.yaml:4:15: connections.db.password: environment variable DB_PASSWORD is not set';
    assert.equal(redact(message), message);
    assert.equal(redact('password: hunter22 was refused'), 'password: *** was refused');
  });
});
