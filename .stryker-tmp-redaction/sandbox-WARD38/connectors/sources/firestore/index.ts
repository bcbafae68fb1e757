/** The Firestore connector: a source of collections and collection groups. */
// @ts-nocheck

import type { ConnectorContext, SourceConnector } from '../../../src/core/connector.js';
import { openFirestore } from './firestore-client.js';
import { FirestoreSource } from './firestore-source.js';

/** Opens a Firestore source for a `type: firestore` connection. */
export async function source(context: ConnectorContext): Promise<SourceConnector> {
  return new FirestoreSource(await openFirestore(context), context.name);
}
