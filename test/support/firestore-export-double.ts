/**
 * A strict in-process test double of the Firestore Admin API's managed export (v1 REST), for the
 * real `@google-cloud/firestore` FirestoreAdminClient (REST transport, `apiEndpoint`, a fixed
 * token). `exportDocuments` checks the database name, the body's fields, collection ids and the
 * gs:// output prefix as the REST reference states them, answers with a long-running operation,
 * and writes the export's files into the GCS double; `operations.get` reports PROCESSING a few
 * times, then SUCCESSFUL (or the failure a test asks for).
 *
 * The files are laid out as a real export lays them out (an `.overall_export_metadata` file, and
 * per collection id `all_namespaces/kind_<id>/all_namespaces_kind_<id>.export_metadata` and
 * `output-N`), but their content is not the real format (LevelDB log records of entity
 * protocol buffers): `output-0` holds the documents as JSON lines, which tests may read.
 *
 * Reference: https://cloud.google.com/firestore/docs/reference/rest/v1/projects.databases/exportDocuments
 */
import type { GcsDouble } from './gcs-double.js';
import { ApiFailure, invalid, serveRest, type InjectedFailure, type SeenRequest } from './google-rest-double.js';

/** A document as the export writes it. */
export interface ExportedDocument {
  /** `users/u1`, `orgs/o1/users/u2`. */
  readonly path: string;
  readonly data: Record<string, unknown>;
}

/** An export request as the double received it. */
export interface SeenExport {
  readonly name: string;
  readonly collectionIds: readonly string[];
  readonly outputUriPrefix: string;
}

export interface FirestoreExportDouble {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly exports: SeenExport[];
  readonly requests: SeenRequest[];
  /** Polls of an operation answered before it is done (default 2). */
  pollsBeforeDone: number;
  /** When set, the next operations end with this error instead of succeeding. */
  failWith: { code: number; message: string } | undefined;
  /** Sees each request first; an answer returned is sent instead of serving it. */
  intercept(handler: ((request: SeenRequest) => InjectedFailure | undefined) | undefined): void;
  stop(): Promise<void>;
}

const DATABASE = /^projects\/([a-z][a-z0-9-]{4,28}[a-z0-9]|[a-z0-9-]+)\/databases\/([^/]+)$/;
const OPERATION = /^projects\/[^/]+\/databases\/[^/]+\/operations\/[^/]+$/;
const BODY_FIELDS = new Set(['collectionIds', 'outputUriPrefix', 'namespaceIds', 'snapshotTime']);
/** gs://BUCKET_NAME[/NAMESPACE_PATH], with Cloud Storage's bucket name rules. */
const OUTPUT_PREFIX = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(\/.*)?$/;
const METADATA_TYPE = 'type.googleapis.com/google.firestore.admin.v1.ExportDocumentsMetadata';
const RESPONSE_TYPE = 'type.googleapis.com/google.firestore.admin.v1.ExportDocumentsResponse';

interface Operation {
  readonly name: string;
  readonly request: SeenExport;
  readonly documents: number;
  readonly startTime: string;
  polls: number;
  failure?: { code: number; message: string };
}

/**
 * Starts the double. `documents(collectionId)` gives the documents of every collection with that
 * id (at any depth, as a real export takes them); `gcs` receives the export's files.
 */
export async function startFirestoreExportDouble(options: { gcs: GcsDouble; documents: (collectionId: string) => Promise<ExportedDocument[]> }): Promise<FirestoreExportDouble> {
  const operations = new Map<string, Operation>();
  const exports: SeenExport[] = [];
  const requests: SeenRequest[] = [];
  let interceptor: ((request: SeenRequest) => InjectedFailure | undefined) | undefined;
  let counter = 0;

  const startExport = async (database: string, body: Record<string, unknown>): Promise<Operation> => {
    if (!DATABASE.test(database)) throw invalid(`Invalid resource field value in the request: name ${database} is not projects/{project_id}/databases/{database_id}`);
    for (const key of Object.keys(body)) {
      if (!BODY_FIELDS.has(key)) throw invalid(`Invalid JSON payload received. Unknown name "${key}": Cannot find field.`);
    }
    const ids = body.collectionIds ?? [];
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) throw invalid("Invalid value at 'collection_ids': expected a list of strings");
    for (const id of ids as string[]) {
      if (!id || id.includes('/') || /^__.*__$/.test(id) || Buffer.byteLength(id) > 1500) throw invalid(`Invalid collection id "${id}"`);
    }
    const prefix = body.outputUriPrefix;
    if (typeof prefix !== 'string') throw invalid('outputUriPrefix is required: a gs://BUCKET_NAME[/NAMESPACE_PATH] URI');
    const match = OUTPUT_PREFIX.exec(prefix);
    if (!match) throw invalid(`Invalid outputUriPrefix ${prefix}: expected gs://BUCKET_NAME[/NAMESPACE_PATH]`);
    const [, bucket, folder = ''] = match;
    const request: SeenExport = { name: database, collectionIds: ids as string[], outputUriPrefix: prefix };
    exports.push(request);
    const written = await writeExport(options.gcs, bucket, folder.replace(/^\/|\/$/g, ''), request.collectionIds, options.documents);
    const operation: Operation = { name: `${database}/operations/export-${++counter}`, request, documents: written, startTime: new Date().toISOString(), polls: 0, failure: double.failWith };
    operations.set(operation.name, operation);
    return operation;
  };

  const describe = (operation: Operation): Record<string, unknown> => {
    const done = operation.polls > double.pollsBeforeDone;
    const state = !done ? 'PROCESSING' : operation.failure ? 'FAILED' : 'SUCCESSFUL';
    const completed = done ? operation.documents : Math.floor((operation.documents * operation.polls) / (double.pollsBeforeDone + 1));
    return {
      name: operation.name,
      metadata: {
        '@type': METADATA_TYPE,
        startTime: operation.startTime,
        ...(done ? { endTime: new Date().toISOString() } : {}),
        operationState: state,
        progressDocuments: { estimatedWork: String(operation.documents), completedWork: String(completed) },
        collectionIds: operation.request.collectionIds,
        outputUriPrefix: operation.request.outputUriPrefix,
      },
      done,
      ...(done && operation.failure ? { error: operation.failure } : {}),
      ...(done && !operation.failure ? { response: { '@type': RESPONSE_TYPE, outputUriPrefix: operation.request.outputUriPrefix } } : {}),
    };
  };

  const server = await serveRest({
    prefix: '/v1/',
    requests,
    intercept: (request) => interceptor?.(request),
    serve: async (method, path, _query, body) => {
      const exportMatch = /^(.+):exportDocuments$/.exec(path);
      if (exportMatch) {
        if (method !== 'POST') throw new ApiFailure(405, `${method} is not allowed on exportDocuments`);
        return describe(await startExport(exportMatch[1], body));
      }
      if (method === 'GET' && OPERATION.test(path)) {
        const operation = operations.get(path);
        if (!operation) throw new ApiFailure(404, `Operation ${path} not found`);
        operation.polls++;
        return describe(operation);
      }
      throw new ApiFailure(404, `no such method: ${method} ${path}`);
    },
  });
  const double: FirestoreExportDouble = {
    endpoint: server.endpoint,
    exports,
    requests,
    pollsBeforeDone: 2,
    failWith: undefined,
    intercept: (handler) => (interceptor = handler),
    stop: () => server.stop(),
  };
  return double;
}

/** Writes an export's files into the bucket; returns the documents written. */
async function writeExport(gcs: GcsDouble, bucket: string, folder: string, ids: readonly string[], documents: (id: string) => Promise<ExportedDocument[]>): Promise<number> {
  try {
    gcs.names(bucket);
  } catch {
    throw invalid(`Bucket ${bucket} does not exist.`);
  }
  const base = folder.split('/').at(-1) || 'export';
  const at = (name: string) => (folder ? `${folder}/${name}` : name);
  let total = 0;
  for (const id of ids) {
    const docs = await documents(id);
    total += docs.length;
    const kind = `all_namespaces/kind_${id}`;
    gcs.seed(bucket, at(`${kind}/output-0`), docs.map((doc) => JSON.stringify(doc, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))).join('\n'));
    gcs.seed(bucket, at(`${kind}/all_namespaces_kind_${id}.export_metadata`), JSON.stringify({ collectionId: id, documents: docs.length, outputs: ['output-0'] }));
  }
  gcs.seed(bucket, at(`${base}.overall_export_metadata`), JSON.stringify({ collectionIds: ids }));
  return total;
}
