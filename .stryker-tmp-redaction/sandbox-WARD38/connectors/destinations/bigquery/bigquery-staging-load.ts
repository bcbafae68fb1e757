/**
 * The one load job of a run into its staging table: local unit files uploaded as one gzip
 * stream, or gs:// URIs (of files copied to `staging: gs://…`, or of the source files).
 */
// @ts-nocheck

import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { JobMetadata } from '@google-cloud/bigquery';
import type { ObjectStore } from '../../../src/core/connector.js';
import { EtlError } from '../../../src/core/errors.js';
import { runJob, type BigQueryHandle } from '../../bigquery-common/bigquery-client.js';
import type { BigQueryField } from '../../bigquery-common/bigquery-types.js';
import type { BigQueryDestination } from './bigquery-destination.js';

/** Where the loaded bytes come from: local files uploaded, or gs:// URIs. */
export type LoadSource = { kind: 'files'; files: readonly string[] } | { kind: 'uris'; uris: readonly string[] };

/** The one load job of a run: everything into the staging table, replacing what it held. */
export async function loadStaging(destination: BigQueryDestination, name: string, fields: readonly BigQueryField[], source: LoadSource, id: string, options: Record<string, unknown> = {}): Promise<JobMetadata> {
  const load = {
    destinationTable: { projectId: destination.project, datasetId: destination.datasetId, tableId: name },
    sourceFormat: 'NEWLINE_DELIMITED_JSON',
    schema: { fields },
    writeDisposition: 'WRITE_TRUNCATE',
    createDisposition: 'CREATE_NEVER',
    ...options,
  };
  if (source.kind === 'uris') {
    return runJob(destination.handle, { id, action: `load ${source.uris.length} file(s) into ${name}`, configuration: { load: { ...load, sourceUris: source.uris } } });
  }
  return runJob(destination.handle, {
    id,
    action: `load staged rows into ${name}`,
    table: { dataset: destination.datasetId, table: name },
    configuration: { load },
    // One gzip member over every unit file: about 7x fewer bytes to send (docs/bigquery.md).
    upload: () => Readable.from(concatenate(source.files)).pipe(createGzip({ level: 1 })),
  });
}

/** The bytes of several files, one after another. */
async function* concatenate(files: readonly string[]): AsyncGenerator<Buffer> {
  for (const file of files) {
    for await (const chunk of createReadStream(file)) yield chunk as Buffer;
  }
}

/**
 * The GCS bucket of `staging: gs://bucket/prefix`, opened with the connection's credentials.
 * With a test `endpoint`, `B2BETL_STAGING_GCS_ENDPOINT` names the GCS stand-in to stage through.
 */
export async function stagingStore(handle: BigQueryHandle, staging: string): Promise<ObjectStore> {
  const match = /^gs:\/\/([^/]+)\/?(.*)$/.exec(staging);
  if (!match) throw new EtlError(`staging ${staging} of connection ${handle.name} is not a gs://bucket/prefix URI`);
  const { store } = await import('../../storage/gcs/index.js');
  const emulator = handle.config.endpoint ? process.env.B2BETL_STAGING_GCS_ENDPOINT : undefined;
  return store({
    name: `${handle.name} staging`,
    config: {
      type: 'gcs',
      bucket: match[1],
      prefix: match[2],
      ...(handle.config.credentials ? { credentials: handle.config.credentials } : {}),
      ...(emulator ? { endpoint: emulator.startsWith('http') ? emulator : `http://${emulator}` } : {}),
      project: handle.project,
    },
    baseDir: handle.baseDir,
    log: handle.log,
  });
}
