/** Azure Blob Storage: the `azure` connection type's object store. */
// @ts-nocheck

import type { ConnectorContext, ObjectStore } from '../../../src/core/connector.js';

/** Opens the container of an `azure` connection. */
export async function store(context: ConnectorContext): Promise<ObjectStore> {
  const { AzureStore } = await import('./azure-store.js');
  return AzureStore.connect(context);
}
