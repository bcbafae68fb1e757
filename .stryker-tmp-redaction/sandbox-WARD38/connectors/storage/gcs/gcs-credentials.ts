/**
 * Google credentials from a connection's `credentials` value: a key file path, inline JSON, a
 * `secret://` reference, or nothing (Application Default Credentials).
 */
// @ts-nocheck

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../../../src/core/errors.js';
import { isSecretReference, resolveSecret, secretName } from './secret.js';

const HOW = 'give a service account key file path, the key JSON inline, or secret://projects/P/secrets/S/versions/V; leave it out to use Application Default Credentials';

/** Parsed credentials for a Google client, or undefined for Application Default Credentials. */
export async function googleCredentials(
  value: string | undefined,
  context: { connection: string; baseDir: string; secretEndpoint?: string },
): Promise<Record<string, unknown> | undefined> {
  if (value === undefined || value.trim() === '') return undefined;
  const where = `credentials of connection ${context.connection}`;
  let text = value.trim();
  let origin = 'inline JSON';
  if (isSecretReference(text)) {
    origin = `secret ${secretName(text)}`;
    text = (await resolveSecret(text, { endpoint: context.secretEndpoint })).trim();
  } else if (!text.startsWith('{')) {
    const file = path.resolve(context.baseDir, text);
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw ConfigError.of(`${where}: cannot read key file ${file} (${code ?? 'unreadable'})`, HOW);
    }
    origin = `key file ${file}`;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's message quotes the text, which may hold a private key: say only where.
    throw ConfigError.of(`${where}: ${origin} is not valid JSON`, HOW);
  }
  if (!parsed || typeof parsed !== 'object' || typeof (parsed as { type?: unknown }).type !== 'string') {
    throw ConfigError.of(`${where}: ${origin} has no "type" field (service_account, authorized_user, external_account…)`, HOW);
  }
  return parsed as Record<string, unknown>;
}
