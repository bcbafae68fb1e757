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
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GcsDouble } from './gcs-double.js';

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
  /** Polls of an operation answered before it is done (default 2). */
  pollsBeforeDone: number;
  /** When set, the next operations end with this error instead of succeeding. */
  failWith: { code: number; message: string } | undefined;
  stop(): Promise<void>;
}

const STATUS_NAMES: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 404: 'NOT_FOUND', 405: 'METHOD_NOT_ALLOWED' };
const DATABASE = /^projects\/([a-z][a-z0-9-]{4,28}[a-z0-9]|[a-z0-9-]+)\/databases\/([^/]+)$/;
const OPERATION = /^projects\/[^/]+\/databases\/[^/]+\/operations\/[^/]+$/;
const BODY_FIELDS = new Set(['collectionIds', 'outputUriPrefix', 'namespaceIds', 'snapshotTime']);
/** gs://BUCKET_NAME[/NAMESPACE_PATH], with Cloud Storage's bucket name rules. */
const OUTPUT_PREFIX = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(\/.*)?$/;
const METADATA_TYPE = 'type.googleapis.com/google.firestore.admin.v1.ExportDocumentsMetadata';
const RESPONSE_TYPE = 'type.googleapis.com/google.firestore.admin.v1.ExportDocumentsResponse';

class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

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
  let counter = 0;

  const startExport = async (database: string, body: Record<string, unknown>): Promise<Operation> => {
    if (!DATABASE.test(database)) throw new ApiFailure(400, `Invalid resource field value in the request: name ${database} is not projects/{project_id}/databases/{database_id}`);
    for (const key of Object.keys(body)) {
      if (!BODY_FIELDS.has(key)) throw new ApiFailure(400, `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`);
    }
    const ids = body.collectionIds ?? [];
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) throw new ApiFailure(400, 'Invalid value at \'collection_ids\': expected a list of strings');
    for (const id of ids as string[]) {
      if (!id || id.includes('/') || /^__.*__$/.test(id) || Buffer.byteLength(id) > 1500) throw new ApiFailure(400, `Invalid collection id "${id}"`);
    }
    const prefix = body.outputUriPrefix;
    if (typeof prefix !== 'string') throw new ApiFailure(400, 'outputUriPrefix is required: a gs://BUCKET_NAME[/NAMESPACE_PATH] URI');
    const match = OUTPUT_PREFIX.exec(prefix);
    if (!match) throw new ApiFailure(400, `Invalid outputUriPrefix ${prefix}: expected gs://BUCKET_NAME[/NAMESPACE_PATH]`);
    const [, bucket, folder = ''] = match;
    const request: SeenExport = { name: database, collectionIds: ids as string[], outputUriPrefix: prefix };
    exports.push(request);
    const path = folder.replace(/^\/|\/$/g, '');
    const written = await writeExport(options.gcs, bucket, path, request.collectionIds, options.documents);
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

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      void (async () => {
        try {
          if (req.headers.authorization !== 'Bearer b2betl-test-token') throw new ApiFailure(401, 'Request is missing required authentication credential.');
          const url = new URL(req.url ?? '/', 'http://localhost');
          const path = decodeURIComponent(url.pathname);
          const exportMatch = /^\/v1\/(.+):exportDocuments$/.exec(path);
          if (exportMatch) {
            if (req.method !== 'POST') throw new ApiFailure(405, `${req.method} is not allowed on exportDocuments`);
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = text ? JSON.parse(text) : {};
            } catch {
              throw new ApiFailure(400, 'Invalid JSON payload received.');
            }
            if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiFailure(400, 'Invalid JSON payload received: expected an object');
            answer(200, describe(await startExport(exportMatch[1], body as Record<string, unknown>)));
            return;
          }
          const name = path.replace(/^\/v1\//, '');
          if (req.method === 'GET' && OPERATION.test(name)) {
            const operation = operations.get(name);
            if (!operation) throw new ApiFailure(404, `Operation ${name} not found`);
            operation.polls++;
            answer(200, describe(operation));
            return;
          }
          throw new ApiFailure(404, `no such method: ${req.method} ${path}`);
        } catch (error) {
          const status = error instanceof ApiFailure ? error.status : 500;
          answer(status, { error: { code: status, message: (error as Error).message, status: STATUS_NAMES[status] ?? 'INTERNAL' } });
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const double: FirestoreExportDouble = {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exports,
    pollsBeforeDone: 2,
    failWith: undefined,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return double;
}

/** Writes an export's files into the bucket; returns the documents written. */
async function writeExport(gcs: GcsDouble, bucket: string, folder: string, ids: readonly string[], documents: (id: string) => Promise<ExportedDocument[]>): Promise<number> {
  try {
    gcs.names(bucket);
  } catch {
    throw new ApiFailure(400, `Bucket ${bucket} does not exist.`);
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
