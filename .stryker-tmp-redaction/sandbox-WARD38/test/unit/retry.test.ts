import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EtlError, TransientError, messageOf } from '../../src/core/errors.js';
import { withRetry } from '../../src/core/retry.js';
import { connectionError } from '../../connectors/sources/sql/sql-endpoint.js';

const endpoint = { name: 'shop', product: 'PostgreSQL', host: 'db', port: 5432, user: 'etl', secrets: [] };

test('a transient failure is retried, and the last one says that the attempts are used up', async () => {
  const retries: number[] = [];
  let calls = 0;
  const failure = withRetry(
    async () => {
      calls++;
      throw connectionError('transient', new Error('Connection terminated unexpectedly'), endpoint, 'reading rows');
    },
    { attempts: 3, baseMs: 1, onRetry: (_error, attempt) => void retries.push(attempt) },
  );
  await assert.rejects(failure, (error: unknown) => {
    assert.ok(error instanceof TransientError);
    assert.match(messageOf(error), /^PostgreSQL connection lost while reading rows \(db:5432 as user etl\): Connection terminated unexpectedly \(gave up after 3 attempts\)/);
    // The hint names what to do, never a retry that will not happen.
    assert.doesNotMatch(messageOf(error), /retried|retrying/);
    assert.match(String((error as EtlError).hint), /check that PostgreSQL stays reachable at db:5432/);
    return true;
  });
  assert.equal(calls, 3);
  assert.deepEqual(retries, [1, 2]);
});

test('a permanent failure is thrown at once, as it was', async () => {
  let calls = 0;
  const permanent = new EtlError('bad value');
  await assert.rejects(
    withRetry(async () => {
      calls++;
      throw permanent;
    }, { attempts: 4, baseMs: 1 }),
    (error) => error === permanent,
  );
  assert.equal(calls, 1);
});

test('a transient failure followed by success returns the result', async () => {
  let calls = 0;
  const value = await withRetry(async () => {
    if (++calls < 2) throw new TransientError('blip');
    return 42;
  }, { attempts: 4, baseMs: 1 });
  assert.equal(value, 42);
});
