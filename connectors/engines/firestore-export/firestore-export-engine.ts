/**
 * Large Firestore catalog loads: a managed export of the collection to Cloud Storage (a
 * long-running operation, polled to completion), then one BigQuery load job of the export
 * (DATASTORE_BACKUP) into the run's staging table, then the usual commit with the marker.
 * The export types the fields itself and has no cursor: catalog loads only (docs/scale.md).
 */
import type { BeforeCommit, Engine, EngineDecline, EngineRequest, EngineRun, LoadMarker } from '../../../src/core/connector.js';
import { describeEstimate } from '../../../src/core/engine-choice.js';
import { EtlError } from '../../../src/core/errors.js';
import { apiFailure } from '../../../src/core/google-api.js';
import { markerWith } from '../../../src/core/marker-state.js';
import { jobId } from '../../bigquery-common/bigquery-client.js';

type FirestoreConnection = Extract<EngineRequest['source']['config'], { type: 'firestore' }>;

/** Where a test on the emulator points the Admin API (the emulator has no managed export). */
const ADMIN_ENDPOINT_VARIABLE = 'B2BETL_FIRESTORE_ADMIN_ENDPOINT';
/** Bearer token sent to a test endpoint: no credentials leave the machine. */
const TEST_ACCESS_TOKEN = 'b2betl-test-token';
const FIRST_POLL_MS = 200;
const LONGEST_POLL_MS = 10_000;

/** What the run sends: the export request and the load of its metadata file. */
interface ExportPlan {
  readonly collection: string;
  readonly exportRequest: { name: string; collectionIds: string[]; outputUriPrefix: string };
  readonly metadataUri: string;
  readonly load: Record<string, unknown>;
}

/** The collection id an export selects for the job, or why the job cannot be exported. */
function collectionOf(request: EngineRequest): string | EngineDecline {
  const source = request.job.source;
  if (source.collection_group) return source.collection_group;
  const collection = source.collection ?? '';
  if (collection.includes('/')) return { declined: `managed export selects collections by id, not by path: ${collection} cannot be exported alone` };
  return collection;
}

function exportPlan(request: EngineRequest, connection: FirestoreConnection, collection: string, tempLocation: string): ExportPlan {
  const prefix = `${tempLocation.replace(/\/+$/, '')}/firestore-export/${jobId(request.job.name)}/${request.runId}`;
  const kind = `kind_${collection}`;
  return {
    collection,
    exportRequest: { name: `projects/${connection.project}/databases/${connection.database ?? '(default)'}`, collectionIds: [collection], outputUriPrefix: prefix },
    // The export's layout: one metadata file per collection id, the file a load job names.
    metadataUri: `${prefix}/all_namespaces/${kind}/all_namespaces_${kind}.export_metadata`,
    load: {
      sourceFormat: 'DATASTORE_BACKUP',
      // An export carries its own schema: a load of one may give none.
      schema: undefined,
      ...(request.job.source.columns ? { projectionFields: [...request.job.source.columns] } : {}),
    },
  };
}

async function plan(request: EngineRequest): Promise<EngineRun | EngineDecline | undefined> {
  const settings = request.dataflow;
  if (request.source.config.type !== 'firestore' || request.destination.config.type !== 'bigquery' || !request.destination.connector.tableStage || !settings) return undefined;
  const threshold = settings.threshold_rows;
  const large = request.estimate !== undefined && request.estimate.rows >= threshold;
  const limit = `dataflow.threshold_rows (${threshold.toLocaleString('en-US')})`;
  if (request.strategy !== 'catalog') {
    return large ? { declined: `${describeEstimate(request)} reach ${limit}, but a managed export has no incremental cursor: only catalog loads use it` } : undefined;
  }
  if (!large) return { declined: `${describeEstimate(request)}, under ${limit}` };
  const collection = collectionOf(request);
  if (typeof collection !== 'string') return collection;
  const connection = request.source.config;
  const testEndpoint = connection.emulator_host ? process.env[ADMIN_ENDPOINT_VARIABLE] : undefined;
  if (connection.emulator_host && !testEndpoint) return { declined: `connection ${request.source.name} points at the Firestore emulator, which has no managed export` };
  const exported = exportPlan(request, connection, collection, settings.temp_location);
  const destination = request.destination.connector;
  return {
    description: `export ${collection} with Firestore managed export to ${exported.exportRequest.outputUriPrefix}, then load it into ${destination.locate(request.table)} with one BigQuery load job (DATASTORE_BACKUP)`,
    reason: `a catalog load of ${describeEstimate(request)}, at or over ${limit}; the export types the fields itself and reads no cursor, so only catalog loads take this path`,
    details: {
      exportDocuments: exported.exportRequest,
      load: { ...exported.load, sourceUris: [exported.metadataUri] },
      ...(destination.stagingLocation ? { staging: destination.stagingLocation(request.job.name, request.runId) } : {}),
    },
    async run(marker: LoadMarker, signal: AbortSignal, committing: BeforeCommit) {
      await runExport(request, connection, exported, testEndpoint, signal);
      const stage = await destination.tableStage!({ runId: request.runId, job: request.job, table: request.table, strategy: request.strategy, primaryKey: request.primaryKey, columns: [], replace: request.replace, log: request.log });
      try {
        const { rows, columns } = await stage.loadUris!([exported.metadataUri], exported.load, 'export_load');
        // An export of a collection id holds every collection of that id at any depth.
        if (request.job.source.collection && request.estimate && rows !== request.estimate.rows) {
          throw new EtlError(
            `the export of ${collection} holds ${rows} document(s), but count() of the collection gave ${request.estimate.rows}: collections named ${collection} under other documents are exported with it, or documents changed while it ran; nothing was committed`,
            `use collection_group: ${collection} to load every collection of that id, or engine: local for this job`,
          );
        }
        await committing(rows, columns);
        await stage.commit(markerWith(marker, rows, columns));
        return { rows, columns };
      } finally {
        await stage.abort();
      }
    },
  };
}

/** Starts the export and waits for its operation to finish; throws with the API's reason and the fix. */
async function runExport(request: EngineRequest, connection: FirestoreConnection, exported: ExportPlan, testEndpoint: string | undefined, signal: AbortSignal): Promise<void> {
  const client = await adminClient(request, connection, testEndpoint);
  const action = `export ${exported.collection} of project ${connection.project} to ${exported.exportRequest.outputUriPrefix}`;
  try {
    let [operation] = await client.exportDocuments(exported.exportRequest).catch((error: unknown) => Promise.reject(exportError(error, action)));
    request.log.info(`${action}: operation ${operation.name}`);
    let delay = FIRST_POLL_MS;
    while (!operation.done) {
      if (signal.aborted) throw new EtlError(`${action}: stopped while the export ran (operation ${operation.name} goes on by itself); nothing was committed`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(LONGEST_POLL_MS, delay * 2);
      operation = (await client.checkExportDocumentsProgress(operation.name!).catch((error: unknown) => Promise.reject(exportError(error, action)))) as typeof operation;
      const progress = (operation.metadata as { progressDocuments?: { completedWork?: string | number; estimatedWork?: string | number } } | undefined)?.progressDocuments;
      if (progress?.completedWork !== undefined) request.log.info(`${action}: ${progress.completedWork} of ~${progress.estimatedWork ?? '?'} document(s)`);
    }
    if (operation.error) throw exportError(operation.error, action);
  } finally {
    await client.close();
  }
}

/** The Admin API client: the connection's credentials, or a test endpoint (the emulator has no Admin API). */
async function adminClient(request: EngineRequest, connection: FirestoreConnection, testEndpoint: string | undefined) {
  // The module defines v1 as a lazy getter, which only its CommonJS default export carries.
  const { v1 } = (await import('@google-cloud/firestore')).default;
  const options: Record<string, unknown> = { fallback: true, projectId: connection.project };
  if (testEndpoint) {
    const url = new URL(testEndpoint);
    const { OAuth2Client } = await import('google-auth-library');
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: TEST_ACCESS_TOKEN, expiry_date: Date.now() + 24 * 3_600_000 });
    Object.assign(options, { apiEndpoint: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), protocol: url.protocol.slice(0, -1), authClient: auth });
  } else {
    const { googleCredentials } = await import('../../storage/gcs/gcs-credentials.js');
    const credentials = await googleCredentials(connection.credentials, { connection: request.source.name, baseDir: request.baseDir });
    if (credentials) options.credentials = credentials;
  }
  return new v1.FirestoreAdminClient(options as never);
}

/** The names of the gRPC codes a finished operation's `error` carries. */
const GRPC_STATUS: Record<number, string> = { 7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED', 9: 'FAILED_PRECONDITION', 16: 'UNAUTHENTICATED' };
const HTTP_STATUS: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 412: 'FAILED_PRECONDITION', 429: 'RESOURCE_EXHAUSTED' };

/** An Admin API failure (a refused call, or a finished operation's error), naming the permission, API or quota and what to do. */
function exportError(error: unknown, action: string): EtlError {
  const { http, body, text } = apiFailure(error);
  const code = Number((error as { code?: unknown }).code);
  const status = body.status ?? (http !== undefined ? HTTP_STATUS[http] : GRPC_STATUS[code]);
  if (/SERVICE_DISABLED|has not been used|is disabled/i.test(text) || body.details?.some((detail) => detail.reason === 'SERVICE_DISABLED')) {
    return new EtlError(`${action}: the Cloud Firestore API is not enabled: ${text}`, 'enable it: gcloud services enable firestore.googleapis.com');
  }
  if (status === 'PERMISSION_DENIED' || status === 'UNAUTHENTICATED') {
    return new EtlError(
      `${action}: permission denied: ${text}`,
      "grant the connection's service account roles/datastore.importExportAdmin, and the Firestore service agent (service-PROJECT_NUMBER@gcp-sa-firestore.iam.gserviceaccount.com) write access to the dataflow.temp_location bucket",
    );
  }
  if (status === 'RESOURCE_EXHAUSTED') return new EtlError(`${action}: quota exceeded: ${text}`, 'Firestore allows 50 exports at once and 20 export requests a minute per project: run the job again later');
  if (status === 'FAILED_PRECONDITION') return new EtlError(`${action}: ${text}`, 'check that dataflow.temp_location names an existing bucket in a location the database may export to');
  return new EtlError(`${action}: ${text}`);
}

/** The engine that loads large Firestore catalogs through a managed export. */
export const firestoreExportEngine: Engine = { name: 'firestore-export', plan };
