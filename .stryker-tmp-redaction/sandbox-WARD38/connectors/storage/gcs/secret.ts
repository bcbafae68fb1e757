/**
 * Reads `secret://projects/P/secrets/S/versions/V` references from Google Secret Manager with
 * Application Default Credentials.
 */
// @ts-nocheck

import { ConfigError, EtlError, TransientError } from '../../../src/core/errors.js';

const SECRET_PATTERN = /^secret:\/\/(projects\/[^/]+\/secrets\/[^/]+(?:\/versions\/[^/]+)?)$/;
const DEFAULT_ENDPOINT = 'https://secretmanager.googleapis.com';

/** Whether a config value is a Secret Manager reference. */
export function isSecretReference(value: string): boolean {
  return value.startsWith('secret://');
}

/** The Secret Manager resource name of a reference (`versions/latest` when none is given). */
export function secretName(reference: string): string {
  const match = SECRET_PATTERN.exec(reference.trim());
  if (!match) {
    throw ConfigError.of(
      `invalid secret reference ${reference}`,
      'write it as secret://projects/PROJECT/secrets/NAME/versions/VERSION (VERSION may be latest)',
    );
  }
  return match[1].includes('/versions/') ? match[1] : `${match[1]}/versions/latest`;
}

interface AccessResponse {
  payload?: { data?: string; dataCrc32c?: string };
}

/** Minimal HTTP answer both google-auth-library and fetch can give. */
interface SecretAnswer {
  status: number;
  data: unknown;
}

async function requestWithAdc(url: string): Promise<SecretAnswer> {
  const { GoogleAuth } = await import('google-auth-library');
  const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  try {
    const response = await auth.request<AccessResponse>({ url, method: 'GET', validateStatus: () => true });
    return { status: response.status, data: response.data };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/default credentials/i.test(message)) {
      throw new EtlError(
        'no Google credentials found to read Secret Manager references',
        'run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service account key file',
      );
    }
    throw new TransientError(`cannot reach Secret Manager: ${message.replace(/Bearer\s+[\w.~+/=-]+/g, 'Bearer ***')}`);
  }
}

async function requestWithoutAuth(url: string): Promise<SecretAnswer> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new TransientError(`cannot reach Secret Manager at ${new URL(url).origin}: ${(error as Error).message}`);
  }
  const text = await response.text();
  let data: unknown = text;
  try {
    data = JSON.parse(text);
  } catch {
    // keep the text: it only feeds the error message
  }
  return { status: response.status, data };
}

/**
 * The value of a secret version, as UTF-8 text. With `endpoint` (a test double or an emulator)
 * requests go there without credentials.
 */
export async function resolveSecret(reference: string, options: { endpoint?: string } = {}): Promise<string> {
  const name = secretName(reference);
  const base = (options.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const url = `${base}/v1/${name}:access`;
  const answer = options.endpoint ? await requestWithoutAuth(url) : await requestWithAdc(url);
  if (answer.status === 404) {
    throw new EtlError(`secret ${name} not found`, 'check the project, secret name and version in the secret:// reference (the version must be enabled)');
  }
  if (answer.status === 401 || answer.status === 403) {
    throw new EtlError(
      `permission denied reading secret ${name}`,
      'grant roles/secretmanager.secretAccessor on the secret to the account b2betl runs as',
    );
  }
  if (answer.status === 429 || answer.status >= 500) throw new TransientError(`Secret Manager answered ${answer.status} for ${name}`);
  if (answer.status !== 200) throw new EtlError(`Secret Manager answered ${answer.status} for ${name}`);
  const payload = (answer.data as AccessResponse).payload;
  if (typeof payload?.data !== 'string') throw new EtlError(`secret ${name} has no payload`);
  const bytes = Buffer.from(payload.data, 'base64');
  if (payload.dataCrc32c !== undefined) {
    const { CRC32C } = await import('@google-cloud/storage');
    const crc = new CRC32C();
    crc.update(bytes);
    if (String(crc.valueOf() >>> 0) !== String(payload.dataCrc32c)) {
      throw new TransientError(`secret ${name} arrived corrupted (CRC32C mismatch)`, 'retry the run');
    }
  }
  return bytes.toString('utf8');
}
