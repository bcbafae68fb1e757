/**
 * Opening a Firestore client from a `type: firestore` connection: a project, an optional
 * database, credentials (key file path, inline JSON or `secret://` reference; Application
 * Default Credentials when absent) and an emulator host (`emulator_host`, else
 * `FIRESTORE_EMULATOR_HOST`).
 */
// @ts-nocheck

import type { Firestore, Settings } from '@google-cloud/firestore';
import type { ConnectorContext } from '../../../src/core/connector.js';

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

/** Where credentials and the emulator host come from besides the connection. */
export interface SettingsContext {
  readonly name: string;
  readonly baseDir: string;
  readonly env?: NodeJS.ProcessEnv;
  /** A Secret Manager endpoint for `secret://` references (a test double); the real API otherwise. */
  readonly secretEndpoint?: string;
}

/**
 * Builds the client settings. Credentials (a key file path, inline JSON or a `secret://`
 * reference) are read by the shared Google credentials resolver and passed whole, so every key
 * type Google's auth library knows (service_account, authorized_user, external_account) works.
 */
export async function firestoreSettings(connection: FirestoreConnection, context: SettingsContext): Promise<{ settings: Settings; where: string }> {
  const database = connection.database ?? '(default)';
  // integers as bigint keep INT64 exact and tell them apart from doubles such as 2.0
  const settings: Settings = { projectId: connection.project, databaseId: database, useBigInt: true };
  const emulator = connection.emulator_host || (context.env ?? process.env).FIRESTORE_EMULATOR_HOST;
  if (emulator) {
    // a fixed universe domain spares a metadata-server lookup that has no meaning here
    return { settings: { ...settings, host: emulator, ssl: false, universeDomain: 'googleapis.com' }, where: `emulator ${emulator}, project ${connection.project}` };
  }
  const where = `project ${connection.project}, database ${database}`;
  const { googleCredentials } = await import('../../storage/gcs/gcs-credentials.js');
  const credentials = await googleCredentials(connection.credentials, { connection: context.name, baseDir: context.baseDir, secretEndpoint: context.secretEndpoint });
  return { settings: credentials ? { ...settings, credentials: credentials as Settings['credentials'] } : settings, where };
}

/** Opens a client; nothing is contacted until the first request. */
export async function openFirestore(context: ConnectorContext): Promise<FirestoreHandle> {
  const connection = context.config;
  if (connection.type !== 'firestore') throw new Error(`connection ${context.name} is not a firestore connection`);
  const { settings, where } = await firestoreSettings(connection, { name: context.name, baseDir: context.baseDir });
  const sdk = (await import('@google-cloud/firestore')) as FirestoreSdk;
  return { sdk, db: new sdk.Firestore(settings), where };
}
