/**
 * Azure Blob Storage as an {@link ObjectStore}: paged listings, streamed and ranged reads,
 * writes with ETag conditions.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlockBlobClient, ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import { PreconditionFailed, type ConnectorContext, type ObjectInfo, type ObjectStore } from '../../../src/core/connector.js';
import { ConfigError, EtlError, ObjectChanged, TransientError } from '../../../src/core/errors.js';
import { redact } from '../../../src/core/redact.js';
import { bodyStream } from '../body-stream.js';

/** Tuning a caller may set; the defaults suit production. */
export interface AzureStoreOptions {
  /** Blobs per listing request (Azure allows up to 5000). */
  readonly pageSize?: number;
  /** Attempts per request, first one included. */
  readonly maxTries?: number;
}

type AzureConfig = Extract<ConnectorContext['config'], { type: 'azure' }>;

/** Metadata name that marks a conditional write as ours, to settle a lost answer (names are C# identifiers). */
const WRITE_ID = 'b2betl_write_id';

const TRANSIENT_CODES = new Set(['ServerBusy', 'InternalError', 'OperationTimedOut', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN']);
const AUTH_CODES = new Set(['AuthenticationFailed', 'InvalidAuthenticationInfo', 'NoAuthenticationInformation']);
const PERMISSION_CODES = new Set(['AuthorizationFailure', 'AuthorizationPermissionMismatch', 'AuthorizationResourceTypeMismatch', 'AuthorizationServiceMismatch']);

interface ErrorShape {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  details?: { errorCode?: string };
}

/** Makes a connection `prefix` a folder root: no leading `/`, one trailing `/` (or empty). */
function normalizeRoot(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed ? `${trimmed}/` : '';
}

/** An ETag without its quotes: listings give it bare, uploads quoted. */
function bareEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** Whether a blob endpoint names the account in its first path segment (Azurite, IP hosts). */
function pathStyle(url: URL): boolean {
  return /^(\d+\.\d+\.\d+\.\d+|localhost|\[[0-9a-f:]+\])$/i.test(url.hostname);
}

/** An Azure Blob container (or a folder of it) holding files. */
export class AzureStore implements ObjectStore {
  readonly kind = 'azure';

  private constructor(
    private readonly container: ContainerClient,
    readonly containerName: string,
    private readonly root: string,
    private readonly connection: string,
    private readonly pageSize: number,
    private readonly secrets: readonly string[],
  ) {}

  /** Opens the container of an `azure` connection (no request is made until first use). */
  static async connect(context: ConnectorContext, options: AzureStoreOptions = {}): Promise<AzureStore> {
    const config = context.config as AzureConfig;
    const name = context.name;
    if (config.type !== 'azure') throw ConfigError.of(`connection ${name} is of type ${config.type}, not azure`);
    if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(config.container)) {
      throw ConfigError.of(
        `connection ${name}: "${config.container}" is not a valid container name`,
        'give the bare container name (3-63 lowercase letters, digits and single hyphens); put any folder in prefix',
      );
    }
    const ways = [config.connection_string !== undefined, config.account !== undefined || config.account_key !== undefined, config.sas_url !== undefined];
    if (ways.filter(Boolean).length !== 1) {
      throw ConfigError.of(
        `connection ${name}: give exactly one of connection_string, account + account_key, or sas_url`,
        'connection_string from the portal (Access keys), or account and account_key, or a SAS URL',
      );
    }
    if (config.account_key !== undefined && !config.account) throw ConfigError.of(`connection ${name}: account_key needs account`);
    if (config.account && !config.account_key) {
      throw ConfigError.of(`connection ${name}: account needs account_key`, 'or give connection_string or sas_url instead');
    }
    const sdk = await import('@azure/storage-blob');
    const pipeline: StoragePipelineOptions = { retryOptions: { maxTries: options.maxTries ?? 3 } };
    const secrets = [config.connection_string, config.account_key, config.sas_url ? new URL(config.sas_url).search.slice(1) : undefined].filter(
      (value): value is string => Boolean(value) && value!.length >= 8,
    );
    let container: ContainerClient;
    try {
      if (config.connection_string) {
        container = sdk.BlobServiceClient.fromConnectionString(config.connection_string, pipeline).getContainerClient(config.container);
      } else if (config.account && config.account_key) {
        const base = config.endpoint ?? `https://${config.account}.blob.core.windows.net`;
        const credential = new sdk.StorageSharedKeyCredential(config.account, config.account_key);
        container = new sdk.BlobServiceClient(base, credential, pipeline).getContainerClient(config.container);
      } else {
        container = AzureStore.fromSas(sdk, config.sas_url!, config.container, name, pipeline);
      }
    } catch (error) {
      if (error instanceof EtlError) throw error;
      // The SDK's parse errors may quote the connection string: report only which key is wrong.
      throw ConfigError.of(
        `connection ${name}: ${config.connection_string ? 'connection_string' : config.sas_url ? 'sas_url' : 'account / account_key'} is malformed`,
        'copy it again from the Azure portal (Storage account → Access keys, or Shared access signature)',
      );
    }
    return new AzureStore(container, config.container, normalizeRoot(config.prefix), name, Math.max(1, Math.min(options.pageSize ?? 5000, 5000)), secrets);
  }

  private static fromSas(sdk: typeof import('@azure/storage-blob'), sasUrl: string, containerName: string, connection: string, pipeline: StoragePipelineOptions): ContainerClient {
    const url = new URL(sasUrl);
    const segments = url.pathname.split('/').filter(Boolean);
    const containerSegment = segments[pathStyle(url) ? 1 : 0];
    if (!containerSegment) return new sdk.BlobServiceClient(sasUrl, undefined, pipeline).getContainerClient(containerName);
    if (decodeURIComponent(containerSegment) !== containerName) {
      throw ConfigError.of(
        `connection ${connection}: sas_url is for container ${decodeURIComponent(containerSegment)}, but container is ${containerName}`,
        'make container match the SAS URL, or use an account-level SAS',
      );
    }
    return new sdk.ContainerClient(sasUrl, undefined, pipeline);
  }

  url(path: string): string {
    const url = new URL(this.container.getBlobClient(this.key(path)).url);
    url.search = '';
    return url.toString();
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const pages = this.container.listBlobsFlat({ prefix: this.key(prefix) }).byPage({ maxPageSize: this.pageSize });
    while (true) {
      let page: Awaited<ReturnType<typeof pages.next>>;
      try {
        page = await pages.next();
      } catch (error) {
        throw this.fail('list', prefix, error);
      }
      if (page.done) return;
      for (const blob of page.value.segment.blobItems) {
        // Folder placeholders (`a/b/`) hold no data.
        if (blob.name.endsWith('/')) continue;
        yield {
          path: blob.name.slice(this.root.length),
          size: Number(blob.properties.contentLength ?? 0),
          modified: blob.properties.lastModified.toISOString(),
          version: bareEtag(blob.properties.etag),
        };
      }
    }
  }

  async read(path: string, version?: string): Promise<Readable> {
    let body: NodeJS.ReadableStream | undefined;
    try {
      body = await this.download(path, version);
    } catch (error) {
      throw this.fail('read', path, error);
    }
    return bodyStream(body, this.url(path), (error) => this.fail('read', path, error));
  }

  async readRange(path: string, start: number, end: number, version?: string): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    try {
      // download() rather than downloadToBuffer(): a range reaching past the end is cut short,
      // which downloadToBuffer treats as an error.
      const body = await this.download(path, version, start, end - start);
      const chunks: Buffer[] = [];
      for await (const chunk of body ?? []) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch (error) {
      // Past the end of the blob: nothing to read, as a file read would say.
      const shape = error as ErrorShape;
      if (shape.statusCode === 416 || shape.code === 'InvalidRange') return new Uint8Array(0);
      throw this.fail('read', path, error);
    }
  }

  /**
   * A blob's body, with `version` only that ETag: Azure refuses another (412, If-Match), and the
   * answer's own ETag is checked too.
   */
  private async download(path: string, version: string | undefined, offset?: number, count?: number): Promise<NodeJS.ReadableStream | undefined> {
    try {
      const answer = await this.container.getBlobClient(this.key(path)).download(offset, count, version === undefined ? {} : { conditions: { ifMatch: `"${version}"` } });
      if (version !== undefined && bareEtag(answer.etag) !== version) {
        (answer.readableStreamBody as Readable | undefined)?.destroy();
        throw new ObjectChanged(this.url(path));
      }
      return answer.readableStreamBody;
    } catch (error) {
      const shape = error as ErrorShape;
      const code = shape.code ?? shape.details?.errorCode;
      if (version !== undefined && (shape.statusCode === 412 || code === 'ConditionNotMet' || code === 'BlobNotFound')) throw new ObjectChanged(this.url(path));
      throw error;
    }
  }

  async stat(path: string): Promise<ObjectInfo | undefined> {
    try {
      const properties = await this.container.getBlobClient(this.key(path)).getProperties();
      return {
        path: path.replace(/^\/+/, ''),
        size: Number(properties.contentLength ?? 0),
        modified: (properties.lastModified ?? new Date(0)).toISOString(),
        version: bareEtag(properties.etag),
      };
    } catch (error) {
      const mapped = this.fail('stat', path, error);
      if (mapped instanceof NotFound) return undefined;
      throw mapped;
    }
  }

  async write(path: string, data: Buffer | Readable, options: { ifGeneration?: string } = {}): Promise<string | undefined> {
    const blob = this.container.getBlockBlobClient(this.key(path));
    const conditions =
      options.ifGeneration === undefined ? undefined : options.ifGeneration === '0' ? { ifNoneMatch: '*' } : { ifMatch: `"${options.ifGeneration}"` };
    // A conditional write carries a fresh id in the blob's metadata, to tell our own landed write.
    const writeId = conditions ? randomUUID() : undefined;
    const upload = conditions ? { conditions, metadata: { [WRITE_ID]: writeId! } } : {};
    try {
      const answer = Buffer.isBuffer(data) ? await blob.uploadData(data, upload) : await blob.uploadStream(data, 4 * 1024 * 1024, 4, upload);
      return bareEtag(answer.etag);
    } catch (error) {
      const landed = writeId ? await this.landed(blob, writeId) : undefined;
      if (landed) return landed;
      throw this.fail('write', path, error);
    }
  }

  /**
   * The version a conditional write that seemed to fail left, if it landed: when its answer is
   * lost, the client's retry is refused by the write's own result. Our write id on the blob says
   * it landed (equal bytes would not: another writer may have put the same content).
   */
  private async landed(blob: BlockBlobClient, writeId: string): Promise<string | undefined> {
    try {
      const properties = await blob.getProperties();
      return properties.metadata?.[WRITE_ID] === writeId ? bareEtag(properties.etag) : undefined;
    } catch {
      return undefined;
    }
  }

  async delete(path: string, options: { ifGeneration?: string } = {}): Promise<void> {
    try {
      await this.container.getBlobClient(this.key(path)).delete(options.ifGeneration !== undefined ? { conditions: { ifMatch: `"${options.ifGeneration}"` } } : {});
    } catch (error) {
      const mapped = this.fail('delete', path, error);
      if (mapped instanceof NotFound) {
        if (options.ifGeneration !== undefined) throw new PreconditionFailed(this.url(path));
        return;
      }
      throw mapped;
    }
  }

  async close(): Promise<void> {}

  private key(path: string): string {
    return this.root + path.replace(/^\/+/, '');
  }

  /** Turns an SDK or network error into one that says what to check, without secrets. */
  private fail(action: string, path: string, error: unknown): Error {
    if (error instanceof EtlError || error instanceof PreconditionFailed) return error;
    const shape = (error ?? {}) as ErrorShape;
    const status = shape.statusCode;
    const code = shape.code ?? shape.details?.errorCode ?? '';
    // The first line is the service's sentence; RequestId and Time lines follow it.
    const message = redact((shape.message ?? String(error)).split('\n')[0], this.secrets);
    const where = this.url(path);
    const connection = `connection ${this.connection}`;
    if (status === 412 || code === 'ConditionNotMet' || code === 'BlobAlreadyExists' || code === 'TargetConditionNotMet') {
      return new PreconditionFailed(where);
    }
    if (code === 'ContainerNotFound') {
      return new EtlError(`Azure container ${this.containerName} not found (${connection})`, `check container and the account in ${connection}`);
    }
    if (code === 'BlobNotFound' || status === 404) {
      return new NotFound(`${where} not found`, 'check the path and the prefix of the connection');
    }
    const said = message ? `: ${message}` : code ? `: ${code}` : '';
    if (AUTH_CODES.has(code) || status === 401 || (status === 403 && (/authenticate/i.test(message) || !message))) {
      return new EtlError(
        `Azure refused the credentials of ${connection} (${action} ${where})${said}`,
        `check connection_string, account + account_key or sas_url in ${connection} (a SAS may have expired or lack read/list permission)`,
      );
    }
    if (PERMISSION_CODES.has(code) || status === 403) {
      return new EtlError(
        `permission denied to ${action} ${where} (${connection})${said}`,
        'give the SAS read and list permissions (write and delete to write), or grant Storage Blob Data Reader / Contributor',
      );
    }
    if (TRANSIENT_CODES.has(code) || status === 429 || (status !== undefined && status >= 500) || /ECONNRESET|socket hang up|operation was aborted/i.test(message)) {
      return new TransientError(`Azure failed to ${action} ${where}${status ? ` (${status})` : ''}${said}`, 'retried automatically; if it persists, check Azure status');
    }
    if (/ECONNREFUSED|ENOTFOUND/.test(message) || code === 'REQUEST_SEND_ERROR') {
      return new EtlError(`cannot reach Azure to ${action} ${where}${said}`, `check the network and the account / endpoint in ${connection}`);
    }
    return new EtlError(`Azure ${action} ${where} failed${status ? ` (${status})` : ''}${said}`);
  }
}

/** A blob that does not exist. */
class NotFound extends EtlError {}
