/** Token verification in-process, the test-certificate hook's limits, and Cloud Logging lines. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { redact } from '../../src/core/redact.js';
import { cloudLogger, traceOf } from '../../src/serve/cloud-log.js';
import { TEST_CERTS_ENV, testCertsUrl, TokenVerifier } from '../../src/serve/token.js';
import { startTestIssuer, type TestIssuer } from '../support/oidc.js';

const AUDIENCE = 'https://b2betl-abc123-lm.a.run.app';
const INVOKER = 'etl-scheduler@my-proj.iam.gserviceaccount.com';

describe('TokenVerifier', () => {
  let issuer: TestIssuer;
  let verifier: TokenVerifier;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    issuer = await startTestIssuer({ audience: AUDIENCE, email: INVOKER });
    verifier = new TokenVerifier(AUDIENCE, [INVOKER.toUpperCase()], issuer.certsUrl);
  });
  after(() => issuer?.stop());

  test('a valid token of a listed account passes (emails compare without case)', async () => {
    assert.deepEqual(await verifier.verify(`Bearer ${issuer.token()}`), { ok: true, email: INVOKER });
    assert.deepEqual(await verifier.verify(`bearer ${issuer.token({ iss: 'accounts.google.com' })}`), { ok: true, email: INVOKER });
  });

  const refused: [string, () => string, number, RegExp][] = [
    ['a Basic header', () => 'Basic dXNlcjpwYXNz', 401, /not "Bearer <ID token>"/],
    ['two segments', () => 'Bearer abc.def', 401, /malformed token/],
    ['an unsigned token (alg none)', () => `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ aud: AUDIENCE })).toString('base64url')}.`, 401, /malformed token/],
    ['a token issued in the future', () => `Bearer ${issuer.token({ iat: now() + 600, exp: now() + 4200 })}`, 401, /future/],
    ['a token issued 2 minutes ahead (beyond the skew)', () => `Bearer ${issuer.token({ iat: now() + 120, exp: now() + 3720 })}`, 401, /future/],
    ['a token living longer than a day', () => `Bearer ${issuer.token({ exp: now() + 3 * 86_400 })}`, 401, /longer than a day/],
    ['a token without an email', () => `Bearer ${issuer.token({ email: undefined })}`, 403, /no email claim/],
    ['another audience', () => `Bearer ${issuer.token({ aud: 'https://elsewhere' })}`, 401, /wrong audience/],
  ];
  for (const [name, header, status, reason] of refused) {
    test(`refuses ${name}`, async () => {
      const verdict = await verifier.verify(header());
      assert.equal(verdict.ok, false);
      if (verdict.ok) return;
      assert.equal(verdict.status, status);
      assert.match(verdict.reason, reason);
      assert.ok(!verdict.reason.includes('eyJ'), 'the reason never carries the token');
    });
  }

  test('certificates that cannot be fetched make a 503, not a pass', async () => {
    const offline = new TokenVerifier(AUDIENCE, [INVOKER], 'http://127.0.0.1:9/certs');
    const verdict = await offline.verify(`Bearer ${issuer.token()}`);
    assert.deepEqual(verdict.ok ? 'passed' : [verdict.status, verdict.reason], [503, "cannot fetch Google's signing certificates to check the token"]);
  });
});

test('the test certificate hook takes loopback URLs only', () => {
  assert.equal(testCertsUrl({}).url, undefined);
  for (const url of ['http://127.0.0.1:8080/certs', 'http://localhost:1/c', 'http://[::1]:2/c']) {
    const hook = testCertsUrl({ [TEST_CERTS_ENV]: url });
    assert.equal(hook.url, new URL(url).href);
    assert.match(hook.warning!, /not Google's/);
  }
  for (const url of ['https://evil.example/certs', 'http://10.0.0.5/certs', 'file:///etc/certs.json', 'not a url']) {
    const hook = testCertsUrl({ [TEST_CERTS_ENV]: url });
    assert.equal(hook.url, undefined, url);
    assert.match(hook.warning!, /is ignored: it must be a loopback URL/);
  }
});

test('Cloud Logging lines: severity, message, trace, span and labels; tokens redacted', () => {
  const lines: string[] = [];
  const log = cloudLogger({}, { write: (line) => lines.push(line) }).child({ ...traceOf('105445aa7843bc8bf206b12000100000/7;o=1', 'my-proj'), labels: { job: 'orders' } });
  log.child({ labels: { run_id: 'r1' } }).error('failed with Bearer abc.def.ghi and eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln');
  log.debug('hidden unless verbose');
  const entry = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.equal(lines.length, 1);
  assert.equal(entry.severity, 'ERROR');
  assert.equal(entry.message, 'failed with Bearer *** and ***');
  assert.equal(entry['logging.googleapis.com/trace'], 'projects/my-proj/traces/105445aa7843bc8bf206b12000100000');
  assert.equal(entry['logging.googleapis.com/spanId'], '7');
  assert.deepEqual(entry['logging.googleapis.com/labels'], { job: 'orders', run_id: 'r1' });
  assert.deepEqual(traceOf('not-a-trace', 'my-proj'), {});
  assert.deepEqual(traceOf('105445aa7843bc8bf206b12000100000', undefined), {});
  assert.equal(redact('token ya29.a0AfH6SMBx and key -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----'), 'token *** and key ***');
});
