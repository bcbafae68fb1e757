/** Google Cloud Storage: the `gcs` connection type's object store. */
// @ts-nocheck

import type { ConnectorContext, ObjectStore } from '../../../src/core/connector.js';

/** Opens the bucket of a `gcs` connection. */
export async function store(context: ConnectorContext): Promise<ObjectStore> {
  const { GcsStore } = await import('./gcs-store.js');
  return GcsStore.connect(context);
}
