/** A Google service account key with a real RSA private key, usable against the local doubles. */
import { generateKeyPairSync } from 'node:crypto';

export interface ServiceAccountKey {
  /** The key file's JSON text. */
  readonly json: string;
  /** A line of the private key: what must never show in any output. */
  readonly secret: string;
}

/**
 * A key in a universe other than googleapis.com: its client signs its own access tokens (a JWT
 * sent as `Bearer …`), so no token server is needed, and every request carries a real secret.
 */
export function serviceAccountKey(): ServiceAccountKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const json = JSON.stringify({
    type: 'service_account',
    project_id: 'p',
    private_key_id: 'k1',
    client_email: 'etl@p.iam.gserviceaccount.com',
    private_key: pem,
    universe_domain: 'b2betl.test',
  });
  return { json, secret: pem.split('\n')[2] };
}
