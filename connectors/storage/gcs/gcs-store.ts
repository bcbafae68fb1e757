/**
 * Google Cloud Storage as an {@link ObjectStore}: paged listings, streamed and ranged reads,
 * writes with generation preconditions.
 */
import { createHash, randomUUID } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Bucket, File, FileMetadata } from '@google-cloud/storage';
import { PreconditionFailed, type ConnectorContext, type ObjectInfo, type ObjectStore } from '../../../src/core/connector.js';
import { ConfigError, EtlError, ObjectChanged, TransientError } from '../../../src/core/errors.js';
import { redact } from '../../../src/core/redact.js';
import { failWhenStalled } from '../body-stream.js';
import { googleCredentials } from './gcs-credentials.js';

/** Tuning a caller may set; the defaults suit production. */
export interface GcsStoreOptions {
  /** Objects per listing request (GCS allows up to 1000). */
  readonly pageSize?: number;
  /** Retries of transient failures inside the client. */
  readonly retries?: number;
  /** Where `secret://` credentials are read from (a Secret Manager double in tests). */
  readonly secretEndpoint?: string;
}

type GcsConfig = Extract<ConnectorContext['config'], { type: 'gcs' }>;

/** Custom metadata key that marks a conditional write as ours, to settle a lost answer. */
const WRITE_ID = 'b2betl-write-id';

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET']);

/** Makes a connection `prefix` a folder root: no leading `/`, one trailing `/` (or empty). */
export function normalizeRoot(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed ? `${trimmed}/` : '';
}

interface ErrorShape {
  code?: number | string;
  status?: number;
  message?: string;
  response?: { status?: number };
  errors?: { reason?: string; message?: string }[];
}

/** The service's own message: the SDK sometimes puts the raw JSON error body in `message`. */
function serviceMessage(error: ErrorShape): string {
  const raw = error.message ?? String(error);
  if (raw.trimStart().startsWith('{')) {
    try {
      const body = JSON.parse(raw) as { error?: { message?: string } };
      if (body.error?.message) return body.error.message;
    } catch {
      // not JSON after all
    }
  }
  return raw;
}

function statusOf(error: ErrorShape): number | undefined {
  if (typeof error.code === 'number') return error.code;
  if (typeof error.status === 'number') return error.status;
  if (typeof error.response?.status === 'number') return error.response.status;
  const raw = error.message ?? '';
  if (raw.trimStart().startsWith('{')) {
    try {
      const code = (JSON.parse(raw) as { error?: { code?: number } }).error?.code;
      if (typeof code === 'number') return code;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/** A GCS bucket (or a folder of it) holding files. */
export class GcsStore implements ObjectStore {
  readonly kind = 'gcs';

  private constructor(
    private readonly bucket: Bucket,
    readonly bucketName: string,
    private readonly root: string,
    private readonly connection: string,
    private readonly pageSize: number,
    private readonly secrets: readonly string[],
  ) {}

  /** Opens the bucket of a `gcs` connection (no request is made until first use). */
  static async connect(context: ConnectorContext, options: GcsStoreOptions = {}): Promise<GcsStore> {
    const config = context.config as GcsConfig;
    if (config.type !== 'gcs') throw ConfigError.of(`connection ${context.name} is of type ${config.type}, not gcs`);
    if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(config.bucket)) {
      throw ConfigError.of(
        `connection ${context.name}: "${config.bucket}" is not a valid GCS bucket name`,
        'give the bare bucket name (lowercase letters, digits, - _ .), without gs:// and put any folder in prefix',
      );
    }
    const credentials = await googleCredentials(config.credentials, {
      connection: context.name,
      baseDir: context.baseDir,
      secretEndpoint: options.secretEndpoint,
    });
    const { Storage } = await import('@google-cloud/storage');
    const projectId = config.project ?? (typeof credentials?.project_id === 'string' ? credentials.project_id : undefined);
    const storage = new Storage({
      ...(projectId ? { projectId } : {}),
      ...(credentials ? { credentials } : {}),
      // A custom endpoint without credentials (fake-gcs-server, a test double) takes no auth at all.
      ...(config.endpoint ? { apiEndpoint: config.endpoint.replace(/\/+$/, ''), useAuthWithCustomEndpoint: credentials !== undefined } : {}),
      retryOptions: { autoRetry: (options.retries ?? 3) > 0, maxRetries: options.retries ?? 3 },
    });
    const secrets = [config.credentials, typeof credentials?.private_key === 'string' ? credentials.private_key : undefined].filter(
      (value): value is string => typeof value === 'string' && value.length >= 8,
    );
    return new GcsStore(
      storage.bucket(config.bucket),
      config.bucket,
      normalizeRoot(config.prefix),
      context.name,
      Math.max(1, Math.min(options.pageSize ?? 1000, 1000)),
      secrets,
    );
  }

  url(path: string): string {
    return `gs://${this.bucketName}/${this.key(path)}`;
  }

  nativeUri(path: string): string {
    return this.url(path);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let pageToken: string | undefined;
    do {
      const query = {
        prefix: this.key(prefix),
        maxResults: this.pageSize,
        autoPaginate: false,
        fields: 'items(name,size,updated,generation),nextPageToken',
        ...(pageToken ? { pageToken } : {}),
      };
      // With `fields`, the client hands back plain metadata instead of File objects: lighter.
      let items: FileMetadata[];
      let next: { pageToken?: string } | null;
      try {
        [items, next] = (await this.bucket.getFiles(query)) as unknown as [FileMetadata[], { pageToken?: string } | null];
      } catch (error) {
        throw this.fail('list', prefix, error);
      }
      for (const item of items) {
        const name = String(item.name);
        // Folder placeholders (`a/b/`) that consoles create hold no data.
        if (name.endsWith('/')) continue;
        yield this.info(name, item);
      }
      pageToken = next?.pageToken;
    } while (pageToken);
  }

  async read(path: string, version?: string): Promise<Readable> {
    const source = this.file(path, version).createReadStream({ validation: 'crc32c' });
    const out = new PassThrough();
    return new Promise<Readable>((resolve, reject) => {
      let settled = false;
      source.once('response', (response: { statusCode?: number; status?: number }) => {
        const status = response.statusCode ?? response.status ?? 200;
        if (status < 300 && !settled) {
          settled = true;
          resolve(out);
        }
      });
      source.on('error', (error) => {
        const mapped = this.readFailure(path, version, error);
        if (settled) out.destroy(mapped);
        else {
          settled = true;
          out.destroy();
          reject(mapped);
        }
      });
      failWhenStalled(source, out, (seconds) => new TransientError(`connection to GCS lost during read ${this.url(path)}: no bytes for ${seconds} s`, 'retried automatically'));
      source.pipe(out);
    });
  }

  async readRange(path: string, start: number, end: number, version?: string): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    try {
      const [bytes] = await this.file(path, version).download({ start, end: end - 1, validation: false });
      return bytes;
    } catch (error) {
      // Past the end of the object: nothing to read, as a file read would say.
      if (statusOf(error as ErrorShape) === 416) return new Uint8Array(0);
      throw this.readFailure(path, version, error);
    }
  }

  /** A read's error; reading a generation no longer there means the object was replaced or removed. */
  private readFailure(path: string, version: string | undefined, error: unknown): Error {
    const mapped = this.fail('read', path, error);
    return version !== undefined && mapped instanceof ObjectNotFound ? new ObjectChanged(this.url(path)) : mapped;
  }

  /**
   * The whole object together with the generation those bytes belong to (the download is
   * pinned to the generation stat saw), or undefined when absent.
   */
  async readVersion(path: string): Promise<{ data: Buffer; version: string } | undefined> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const info = await this.stat(path);
      if (!info?.version) return undefined;
      try {
        const [data] = await this.file(path, info.version).download({ validation: 'crc32c' });
        return { data, version: info.version };
      } catch (error) {
        // Replaced between stat and download: that generation is gone, look again.
        if (!(this.fail('read', path, error) instanceof ObjectNotFound)) throw this.fail('read', path, error);
      }
    }
    throw new TransientError(`${this.url(path)} keeps changing while being read`, 'retry the run');
  }

  async stat(path: string): Promise<ObjectInfo | undefined> {
    try {
      const [metadata] = await this.file(path).getMetadata();
      return this.info(metadata.name ?? this.key(path), metadata);
    } catch (error) {
      const mapped = this.fail('stat', path, error);
      if (mapped instanceof ObjectNotFound) return undefined;
      throw mapped;
    }
  }

  async write(path: string, data: Buffer | Readable, options: { ifGeneration?: string } = {}): Promise<string | undefined> {
    const file = this.file(path);
    const preconditionOpts = options.ifGeneration !== undefined ? { ifGenerationMatch: Number(options.ifGeneration) } : undefined;
    // A conditional write carries a fresh id in its custom metadata, to tell our own landed write.
    const writeId = preconditionOpts ? randomUUID() : undefined;
    const custom = writeId ? { metadata: { [WRITE_ID]: writeId } } : {};
    const { CRC32C } = await import('@google-cloud/storage');
    const crc = new CRC32C();
    try {
      if (Buffer.isBuffer(data)) {
        crc.update(data);
        // The declared hashes make GCS reject a damaged upload atomically, so client-side
        // validation (which deletes the object after the fact) stays off.
        await file.save(data, {
          resumable: false,
          validation: false,
          metadata: { crc32c: crc.toString(), md5Hash: createHash('md5').update(data).digest('base64'), ...custom },
          ...(preconditionOpts ? { preconditionOpts } : {}),
        });
      } else {
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            crc.update(chunk);
            callback(null, chunk);
          },
        });
        await pipeline(
          data,
          hashing,
          file.createWriteStream({ resumable: true, validation: false, metadata: custom, ...(preconditionOpts ? { preconditionOpts } : {}) }),
        );
      }
    } catch (error) {
      if (!writeId || !(await this.landed(file, writeId))) throw this.fail('write', path, error);
    }
    const generation = file.metadata.generation === undefined ? undefined : String(file.metadata.generation);
    if (file.metadata.crc32c !== undefined && file.metadata.crc32c !== crc.toString()) {
      // Only the generation this write created is removed, never a newer one.
      if (generation) await file.delete({ ifGenerationMatch: Number(generation) }).catch(() => undefined);
      throw new TransientError(`upload of ${this.url(path)} arrived damaged (CRC32C mismatch) and was removed`, 'retry the run');
    }
    return generation;
  }

  /**
   * Whether a conditional write that seemed to fail landed. When its answer is lost, the client's
   * retry of a simple upload is refused by the write's own result, and a resumable one stops
   * with a "data loss" error. Our write id on the object says it landed (equal bytes would not:
   * another writer may have put the same content), and leaves its metadata on `file`.
   */
  private async landed(file: File, writeId: string): Promise<boolean> {
    try {
      const [metadata] = await file.getMetadata();
      return metadata.metadata?.[WRITE_ID] === writeId;
    } catch {
      return false;
    }
  }

  async delete(path: string, options: { ifGeneration?: string } = {}): Promise<void> {
    try {
      await this.file(path).delete(options.ifGeneration !== undefined ? { ifGenerationMatch: Number(options.ifGeneration) } : {});
    } catch (error) {
      const mapped = this.fail('delete', path, error);
      if (mapped instanceof ObjectNotFound) {
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

  /** The object, or one generation of it. */
  private file(path: string, generation?: string): File {
    return this.bucket.file(this.key(path), generation === undefined ? {} : { generation: Number(generation) });
  }

  private info(name: string, metadata: FileMetadata): ObjectInfo {
    return {
      path: name.slice(this.root.length),
      size: Number(metadata.size ?? 0),
      modified: new Date(String(metadata.updated)).toISOString(),
      version: metadata.generation === undefined ? undefined : String(metadata.generation),
    };
  }

  /** Turns an SDK or network error into one that says what to check, without secrets. */
  private fail(action: string, path: string, error: unknown): Error {
    if (error instanceof EtlError || error instanceof PreconditionFailed) return error;
    const shape = (error ?? {}) as ErrorShape;
    const status = statusOf(shape);
    const message = redact(serviceMessage(shape), this.secrets);
    const where = this.url(path);
    const connection = `connection ${this.connection}`;
    if (status === 412) return new PreconditionFailed(where);
    if (status === 404 && /specified bucket does not exist/i.test(message)) {
      return new EtlError(
        `GCS bucket ${this.bucketName} not found (${connection})`,
        `check the bucket name in ${connection} and that its project is the one the credentials belong to`,
      );
    }
    if (status === 404) return new ObjectNotFound(`${where} not found`, `check the path; list the folder with gsutil ls ${where.replace(/[^/]*$/, '')}`);
    if (status === 401 || /invalid_grant|unauthorized_client|invalid_client|Could not load the default credentials/i.test(message)) {
      return new EtlError(
        `GCS did not accept the credentials of ${connection} (${action} ${where}): ${message}`,
        `check credentials in ${connection} (key file path, inline JSON or secret://); without it, run gcloud auth application-default login`,
      );
    }
    if (status === 403) {
      return new EtlError(
        `permission denied to ${action} ${where} (${connection}): ${message}`,
        `grant the account of ${connection} roles/storage.objectViewer on bucket ${this.bucketName} to read, roles/storage.objectAdmin to write`,
      );
    }
    if (status === 429 || (status !== undefined && status >= 500)) {
      return new TransientError(`GCS answered ${status} to ${action} ${where}: ${message}`, 'retried automatically; if it persists, check status.cloud.google.com');
    }
    const code = typeof shape.code === 'string' ? shape.code : undefined;
    if ((code && TRANSIENT_CODES.has(code)) || /socket hang up|network|ECONNRESET/i.test(message)) {
      return new TransientError(`connection to GCS lost during ${action} ${where}: ${message}`);
    }
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND') {
      return new EtlError(`cannot reach GCS to ${action} ${where}: ${message}`, `check the network, and endpoint in ${connection} if set`);
    }
    return new EtlError(`GCS ${action} ${where} failed${status ? ` (${status})` : ''}: ${message}`);
  }
}

/** An object that does not exist (stat and delete turn it into "absent"). */
class ObjectNotFound extends EtlError {}
