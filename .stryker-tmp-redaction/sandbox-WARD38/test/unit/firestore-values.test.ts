/** Firestore value mapping, cursor state and connection settings, without a server. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { converterFor } from '../../src/core/convert.js';
import { ConfigError, EtlError, TransientError } from '../../src/core/errors.js';
import { firestoreSettings } from '../../connectors/sources/firestore/firestore-client.js';
import {
  compareInstants,
  cursorState,
  formatInstant,
  instantFromMicros,
  parseInstant,
  readCursorState,
} from '../../connectors/sources/firestore/firestore-cursor.js';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.js';
import { firestoreError } from '../../connectors/sources/firestore/firestore-errors.js';
import { columnNameOf, unusableFieldName } from '../../connectors/sources/firestore/firestore-rows.js';
import { FirestoreValues, timestampMicros } from '../../connectors/sources/firestore/firestore-values.js';

let sdk: typeof import('@google-cloud/firestore');
let db: import('@google-cloud/firestore').Firestore;

before(async () => {
  sdk = await import('@google-cloud/firestore');
  // never contacted: only used to build document references
  db = new sdk.Firestore({ projectId: 'offline', host: '127.0.0.1:9', ssl: false, universeDomain: 'googleapis.com' });
});

after(async () => {
  await db.terminate();
});

describe('FirestoreValues', () => {
  test('types of every Firestore kind', () => {
    const values = new FirestoreValues(sdk, 'string');
    const json = new FirestoreValues(sdk, 'json');
    const cases: [unknown, string, string | undefined, string | undefined][] = [
      [null, 'null', undefined, undefined],
      [true, 'boolean', 'BOOL', 'BOOL'],
      [3n, 'integer', 'INT64', 'INT64'],
      [3, 'double', 'FLOAT64', 'FLOAT64'],
      ['s', 'string', 'STRING', 'STRING'],
      [new sdk.Timestamp(1, 2), 'timestamp', 'TIMESTAMP', 'TIMESTAMP'],
      [Buffer.from('x'), 'bytes', 'BYTES', 'BYTES'],
      [db.doc('a/b'), 'reference', 'STRING', 'STRING'],
      [new sdk.GeoPoint(1, 2), 'geopoint', 'STRING', 'JSON'],
      [sdk.FieldValue.vector([1, 2]), 'vector', 'STRING', 'JSON'],
      [[1n], 'array', 'STRING', 'JSON'],
      [{ a: 1n }, 'map', 'STRING', 'JSON'],
    ];
    for (const [value, kind, type, jsonType] of cases) {
      assert.equal(values.kindOf(value), kind);
      assert.equal(values.typeOf(value), type, kind);
      assert.equal(json.typeOf(value), jsonType, kind);
    }
  });

  test('timestamps are exact microseconds, truncating nanoseconds toward the earlier instant', () => {
    assert.equal(timestampMicros(new sdk.Timestamp(1_700_000_000, 999_999_999)), 1_700_000_000_999_999n);
    assert.equal(timestampMicros(new sdk.Timestamp(-1, 999)), -1_000_000n);
    assert.equal(timestampMicros(new sdk.Timestamp(253_402_300_799, 999_999_999)), 253_402_300_799_999_999n);
    assert.equal(timestampMicros(new sdk.Timestamp(-62_135_596_800, 0)), -62_135_596_800_000_000n);
  });

  test('raw values suit the column type and are judged by the converter', () => {
    const values = new FirestoreValues(sdk, 'string');
    const at = new sdk.Timestamp(1_700_000_000, 123_456_789);
    assert.equal(values.raw(at, 'TIMESTAMP'), 1_700_000_000_123_456n);
    assert.equal(values.raw(at, 'STRING'), '2023-11-14T22:13:20.123456Z');
    assert.equal(converterFor('TIMESTAMP', { from: 'TIMESTAMP' })(values.raw(at, 'TIMESTAMP')), 1_700_000_000_123_456n);
    assert.equal(values.raw(db.doc('users/u1'), 'STRING'), 'users/u1');
    assert.equal(values.raw('plain', 'JSON'), '"plain"');
    assert.equal(values.raw(5n, 'JSON'), '5');
    assert.equal(values.raw(null, 'JSON'), null);
    assert.equal(values.raw(undefined, 'STRING'), null);
    const bytes = values.raw(Buffer.from([1, 2]), 'BYTES');
    assert.ok(bytes instanceof Uint8Array);
    // a map in an INT64 column arrives as JSON text, which the INT64 converter rejects
    assert.throws(() => converterFor('INT64')(values.raw({ a: 1n }, 'INT64')));
  });

  test('nested values become JSON with every Firestore kind made plain', () => {
    const values = new FirestoreValues(sdk, 'string');
    const nested = {
      at: new sdk.Timestamp(0, 1_999),
      geo: new sdk.GeoPoint(-33.5, 151.25),
      ref: db.doc('a/b/c/d'),
      bytes: Buffer.from('hi'),
      big: 9_007_199_254_740_993n,
      small: -42n,
      odd: [Number.NaN, Number.POSITIVE_INFINITY, -0.5],
      vector: sdk.FieldValue.vector([0.5, 1]),
      deep: { list: [{ x: null }] },
    };
    assert.equal(
      values.raw(nested, 'STRING'),
      '{"at":"1970-01-01T00:00:00.000001Z","geo":{"lat":-33.5,"lng":151.25},"ref":"a/b/c/d","bytes":"aGk=","big":"9007199254740993","small":-42,' +
        '"odd":["NaN","Infinity",-0.5],"vector":[0.5,1],"deep":{"list":[{"x":null}]}}',
    );
  });
});

describe('field names', () => {
  test('names without any letter or digit cannot become columns; other scripts can', () => {
    assert.ok(unusableFieldName('!!!'));
    assert.ok(unusableFieldName(''));
    assert.ok(unusableFieldName('🙂'));
    assert.ok(!unusableFieldName('名前'));
    assert.ok(!unusableFieldName('a-b'));
    assert.ok(!unusableFieldName('%'.repeat(2) + '1'));
  });

  test('a field named like a metadata column is renamed', () => {
    assert.equal(columnNameOf('document_id'), 'document_id_value');
    assert.equal(columnNameOf('_extracted_at'), '_extracted_at_value');
    assert.equal(columnNameOf('name'), 'name');
  });
});

describe('cursor state', () => {
  test('instants keep nanoseconds and order correctly', () => {
    assert.equal(formatInstant({ seconds: 1_700_000_000, nanos: 5 }), '2023-11-14T22:13:20.000000005Z');
    assert.equal(formatInstant({ seconds: -1, nanos: 500_000_000 }), '1969-12-31T23:59:59.500000000Z');
    assert.deepEqual(instantFromMicros(-1n), { seconds: -1, nanos: 999_999_000 });
    assert.equal(compareInstants({ seconds: 1, nanos: 2 }, { seconds: 1, nanos: 3 }), -1);
    assert.equal(compareInstants({ seconds: 2, nanos: 0 }, { seconds: 1, nanos: 999_999_999 }), 1);
    assert.equal(compareInstants({ seconds: 2, nanos: 0 }, { seconds: 2, nanos: 0 }), 0);
  });

  test('load.start and window bounds parse as ISO 8601', () => {
    assert.deepEqual(parseInstant('2024-01-01T00:00:00.000001+01:00', 'load.start'), { seconds: 1_704_063_600, nanos: 1000 });
    assert.deepEqual(parseInstant(new Date(Date.UTC(2024, 0, 1)), 'load.start'), { seconds: 1_704_067_200, nanos: 0 });
    assert.throws(() => parseInstant('yesterday', 'load.start'), (error: unknown) => error instanceof ConfigError && /load\.start "yesterday"/.test(error.message));
    assert.throws(() => parseInstant(1_704_067_200, 'load.start'), ConfigError);
  });

  test('the stored state round-trips and guards against a changed cursor field', () => {
    const state = cursorState('updated_at', { seconds: 10, nanos: 20 }, ['c/b', 'c/a']);
    assert.deepEqual(state, { field: 'updated_at', at: '1970-01-01T00:00:10.000000020Z', seconds: 10, nanos: 20, ids: ['c/a', 'c/b'] });
    assert.deepEqual(readCursorState(JSON.parse(JSON.stringify(state)), 'updated_at', 'job'), state);
    assert.equal(readCursorState(undefined, 'updated_at', 'job'), undefined);
    assert.throws(() => readCursorState(state, 'created_at', 'job'), /--full-refresh/);
    assert.throws(() => readCursorState({ value: '2024-01-01', seen: [] }, 'updated_at', 'job'), /not a Firestore cursor/);
  });
});

describe('connection settings', () => {
  let dir: string;
  let double: GcsDouble;
  const key = { type: 'service_account', project_id: 'p', client_email: 'etl@p.iam.gserviceaccount.com', private_key: '-----BEGIN PRIVATE KEY-----\nTOPSECRET\n-----END PRIVATE KEY-----\n' };
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'b2betl-fs-'));
    await writeFile(path.join(dir, 'key.json'), JSON.stringify(key));
    double = await startGcsDouble({ buckets: [] });
    double.setSecret('projects/p/secrets/firestore-key/versions/2', JSON.stringify(key));
  });
  after(async () => {
    await double.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const connection = (extra: Record<string, string> = {}) => ({ type: 'firestore' as const, project: 'p', ...extra });
  const settingsOf = (extra: Record<string, string>, env: NodeJS.ProcessEnv = {}) =>
    firestoreSettings(connection(extra), { name: 'fs', baseDir: dir, env, secretEndpoint: double.endpoint });

  test('an emulator host from the connection or FIRESTORE_EMULATOR_HOST, without credentials', async () => {
    const fromConfig = await settingsOf({ emulator_host: '127.0.0.1:8080', credentials: '/nowhere.json' });
    assert.equal(fromConfig.settings.host, '127.0.0.1:8080');
    assert.equal(fromConfig.settings.ssl, false);
    assert.equal(fromConfig.settings.credentials, undefined);
    const fromEnv = await settingsOf({}, { FIRESTORE_EMULATOR_HOST: 'localhost:9000' });
    assert.equal(fromEnv.settings.host, 'localhost:9000');
    assert.equal(fromEnv.where, 'emulator localhost:9000, project p');
  });

  test('credentials as a key file path (relative to the config), inline JSON, a secret:// reference, or none', async () => {
    const file = await settingsOf({ credentials: 'key.json', database: 'analytics' });
    assert.deepEqual(file.settings.credentials, key);
    assert.equal(file.settings.databaseId, 'analytics');
    assert.equal(file.settings.useBigInt, true);
    const inline = await settingsOf({ credentials: JSON.stringify(key) });
    assert.deepEqual(inline.settings.credentials, key);
    assert.ok(!inline.where.includes('TOPSECRET'));
    const secret = await settingsOf({ credentials: 'secret://projects/p/secrets/firestore-key/versions/2' });
    assert.deepEqual(secret.settings.credentials, key);
    const none = await settingsOf({});
    assert.equal(none.settings.credentials, undefined);
    assert.equal(none.settings.databaseId, '(default)');
  });

  test('unusable credentials fail with the fix and never echo the secret', async () => {
    await assert.rejects(
      settingsOf({ credentials: '{"type": "service_account", "private_key": "TOPSECRET"' }),
      (error: unknown) => error instanceof ConfigError && /not valid JSON/.test(error.message) && !error.describe().includes('TOPSECRET'),
    );
    await assert.rejects(settingsOf({ credentials: 'missing.json' }), /cannot read key file .*missing\.json/);
    await assert.rejects(settingsOf({ credentials: 'secret://projects/p/secrets/absent/versions/1' }), /not found/);
  });
});

describe('errors', () => {
  const grpc = (code: number, message: string) => Object.assign(new Error(message), { code });

  test('unavailable, deadline and quota errors are transient; others say what to do', () => {
    const unavailable = firestoreError(grpc(14, '14 UNAVAILABLE: No connection established'), 'reading collection events', 'emulator 127.0.0.1:1, project p');
    assert.ok(unavailable instanceof TransientError);
    assert.equal(unavailable.message, 'Firestore reading collection events failed (emulator 127.0.0.1:1, project p): 14 UNAVAILABLE: No connection established');
    assert.ok(firestoreError(grpc(8, 'quota'), 'count', 'x') instanceof TransientError);
    const denied = firestoreError(grpc(7, 'PERMISSION_DENIED'), 'count', 'project p, database (default)');
    assert.ok(denied instanceof EtlError && !(denied instanceof TransientError));
    assert.match((denied as EtlError).describe(), /roles\/datastore\.viewer/);
    assert.match((firestoreError(grpc(9, 'FAILED_PRECONDITION: The query requires an index'), 'count', 'x') as EtlError).describe(), /create it from the link/);
    const config = ConfigError.of('bad');
    assert.equal(firestoreError(config, 'count', 'x'), config);
  });
});
