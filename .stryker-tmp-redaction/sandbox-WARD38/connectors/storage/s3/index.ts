/** Amazon S3 and S3-compatible stores: the `s3` connection type's object store. */
// @ts-nocheck

import type { ConnectorContext, ObjectStore } from '../../../src/core/connector.js';

/** Opens the bucket of an `s3` connection. */
export async function store(context: ConnectorContext): Promise<ObjectStore> {
  const { S3Store } = await import('./s3-store.js');
  return S3Store.connect(context);
}
