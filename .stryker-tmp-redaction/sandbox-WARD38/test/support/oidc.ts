/**
 * Google-style OIDC ID tokens for tests: a test RSA key, its self-signed X.509 certificate
 * served on 127.0.0.1 in the shape of https://www.googleapis.com/oauth2/v1/certs, and RS256
 * tokens with the claims Cloud Scheduler's tokens carry.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestIssuer {
  /** The URL serving `{kid: certificate PEM}` (for B2BETL_TEST_OIDC_CERTS_URL). */
  readonly certsUrl: string;
  /** An ID token signed by the served key; claims override the defaults. */
  token(claims?: Record<string, unknown>): string;
  /** A token signed by a key whose certificate is not served. */
  foreignToken(claims?: Record<string, unknown>): string;
  /** How many times the certificates were fetched. */
  readonly fetches: () => number;
  stop(): Promise<void>;
}

/** A self-signed certificate for `key`, made by openssl (as Google's certificates are X.509). */
function certificateFor(privateKey: KeyObject): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'b2betl-oidc-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const certFile = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-new', '-x509', '-key', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=b2betl-test-issuer'], { stdio: 'ignore' });
    return readFileSync(certFile, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function signJwt(key: KeyObject, kid: string, claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signed = `${encode({ alg: 'RS256', kid, typ: 'JWT' })}.${encode(claims)}`;
  return `${signed}.${sign('RSA-SHA256', Buffer.from(signed), key).toString('base64url')}`;
}

/** Starts a test issuer; tokens default to `audience` and `email`, valid for an hour. */
export async function startTestIssuer(defaults: { audience: string; email: string }): Promise<TestIssuer> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { privateKey: foreignKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(20).toString('hex');
  const certs = JSON.stringify({ [kid]: certificateFor(privateKey) });
  let fetches = 0;
  const server = http.createServer((request, response) => {
    fetches++;
    response.writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'cache-control': 'public, max-age=300' });
    response.end(certs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const claims = (extra: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    return { iss: 'https://accounts.google.com', aud: defaults.audience, azp: '1234567890', sub: '1234567890', email: defaults.email, email_verified: true, iat: now, exp: now + 3600, ...extra };
  };
  return {
    certsUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/v1/certs`,
    token: (extra = {}) => signJwt(privateKey, kid, claims(extra)),
    foreignToken: (extra = {}) => signJwt(foreignKey, kid, claims(extra)),
    fetches: () => fetches,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
