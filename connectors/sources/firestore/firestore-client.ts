/**
 * Opening a Firestore client from a `type: firestore` connection: a project, an optional
 * database, credentials (key file path or inline JSON; Application Default Credentials when
 * absent) and an emulator host (`emulator_host`, else `FIRESTORE_EMULATOR_HOST`).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Firestore, Settings } from '@google-cloud/firestore';
import type { ConnectorContext } from '../../../src/core/connector.js';
import { ConfigError } from '../../../src/core/errors.js';

/** The Firestore SDK module, imported lazily. */
export type FirestoreSdk = typeof import('@google-cloud/firestore');

/** An open client and where it points, for messages (never holding a secret). */
export interface FirestoreHandle {
  readonly sdk: FirestoreSdk;
  readonly db: Firestore;
  /** `project my-proj, database (default)` or `emulator 127.0.0.1:8080, project p`. */
  readonly where: string;
}

type FirestoreConnection = Extract<ConnectorContext['config'], { type: 'firestore' }>;

/** Builds the client settings; exported for tests of the credential forms. */
export function firestoreSettings(
  connection: FirestoreConnection,
  baseDir: string,
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): { settings: Settings; where: string } {
  const database = connection.database ?? '(default)';
  // integers as bigint keep INT64 exact and tell them apart from doubles such as 2.0
  const settings: Settings = { projectId: connection.project, databaseId: database, useBigInt: true };
  const emulator = connection.emulator_host || env.FIRESTORE_EMULATOR_HOST;
  if (emulator) {
    // a fixed universe domain spares a metadata-server lookup that has no meaning here
    return { settings: { ...settings, host: emulator, ssl: false, universeDomain: 'googleapis.com' }, where: `emulator ${emulator}, project ${connection.project}` };
  }
  const where = `project ${connection.project}, database ${database}`;
  const credentials = connection.credentials?.trim();
  if (!credentials) return { settings, where };
  if (credentials.startsWith('{')) {
    let key: { client_email?: unknown; private_key?: unknown };
    try {
      key = JSON.parse(credentials) as typeof key;
    } catch {
      throw ConfigError.of(
        `connection ${name}: credentials look like inline JSON but do not parse`,
        'give the service account key JSON exactly as downloaded, or a path to the key file',
      );
    }
    if (typeof key.client_email !== 'string' || typeof key.private_key !== 'string') {
      throw ConfigError.of(
        `connection ${name}: the inline credentials JSON has no client_email/private_key`,
        'use a service account key (type: service_account), or leave credentials out to use Application Default Credentials',
      );
    }
    return { settings: { ...settings, credentials: { client_email: key.client_email, private_key: key.private_key } }, where };
  }
  if (credentials.startsWith('secret://')) {
    throw ConfigError.of(
      `connection ${name}: secret:// credentials are not supported by the Firestore source yet`,
      'give a key file path, or the key JSON through an environment variable: credentials: "${FIRESTORE_KEY_JSON}"',
    );
  }
  const keyFile = path.resolve(baseDir, credentials);
  if (!existsSync(keyFile)) {
    throw ConfigError.of(
      `connection ${name}: credentials key file ${keyFile} does not exist`,
      'give the path of a service account key file (relative to etl.config.yaml), inline key JSON, or leave credentials out to use Application Default Credentials',
    );
  }
  return { settings: { ...settings, keyFilename: keyFile }, where };
}

/** Opens a client; nothing is contacted until the first request. */
export async function openFirestore(context: ConnectorContext): Promise<FirestoreHandle> {
  const connection = context.config;
  if (connection.type !== 'firestore') throw new Error(`connection ${context.name} is not a firestore connection`);
  const { settings, where } = firestoreSettings(connection, context.baseDir, context.name);
  const sdk = (await import('@google-cloud/firestore')) as FirestoreSdk;
  return { sdk, db: new sdk.Firestore(settings), where };
}
