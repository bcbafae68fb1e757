/**
 * Amazon S3 (and S3-compatible stores: MinIO, R2, s3rver) as an {@link ObjectStore}: paged
 * listings, streamed and ranged reads, writes with `If-None-Match` / `If-Match` conditions.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type {
  CompleteMultipartUploadCommandOutput,
  CreateMultipartUploadCommandOutput,
  GetObjectCommandOutput,
  HeadObjectCommandOutput,
  ListObjectsV2CommandOutput,
  PutObjectCommandOutput,
  S3Client,
  UploadPartCommandOutput,
} from '@aws-sdk/client-s3';
import { PreconditionFailed, type ConnectorContext, type ObjectInfo, type ObjectStore } from '../../../src/core/connector.js';
import { ConfigError, EtlError, ObjectChanged, TransientError } from '../../../src/core/errors.js';
import { redact } from '../../../src/core/redact.js';
import { bodyStream } from '../body-stream.js';

/** Tuning a caller may set; the defaults suit production. */
export interface S3StoreOptions {
  /** Keys per listing request (S3 allows up to 1000). */
  readonly pageSize?: number;
  /** Attempts per request, first one included. */
  readonly maxAttempts?: number;
  /** Size of multipart upload parts for streamed writes (S3's minimum is 5 MiB). */
  readonly partSize?: number;
}

type S3Config = Extract<ConnectorContext['config'], { type: 's3' }>;
type S3Module = typeof import('@aws-sdk/client-s3');

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** User metadata key that marks a conditional PUT as ours, to settle a broken pipe. */
const WRITE_ID = 'b2betl-write-id';
const TRANSIENT_NAMES = new Set([
  'SlowDown',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
]);
const AUTH_NAMES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'CredentialsProviderError']);

/** The condition of a write, and the write id that marks a conditional one as ours. */
interface ConditionalWrite {
  readonly conditions: { IfNoneMatch?: string; IfMatch?: string };
  readonly metadata: Record<string, string>;
  readonly writeId?: string;
}

interface ErrorShape {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** Makes a connection `prefix` a folder root: no leading `/`, one trailing `/` (or empty). */
function normalizeRoot(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+/, '').replace(/\/+$/, '');
  return trimmed ? `${trimmed}/` : '';
}

/** An ETag without the quotes S3 wraps it in. */
function bareEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** An S3 bucket (or a folder of it) holding files. */
export class S3Store implements ObjectStore {
  readonly kind = 's3';
  private bucketVerified = false;

  private constructor(
    private readonly sdk: S3Module,
    private readonly client: S3Client,
    readonly bucket: string,
    private readonly root: string,
    private readonly connection: string,
    private readonly options: Required<Pick<S3StoreOptions, 'pageSize' | 'partSize'>>,
    private readonly secrets: readonly string[],
  ) {}

  /** Opens the bucket of an `s3` connection (no request is made until first use). */
  static async connect(context: ConnectorContext, options: S3StoreOptions = {}): Promise<S3Store> {
    const config = context.config as S3Config;
    if (config.type !== 's3') throw ConfigError.of(`connection ${context.name} is of type ${config.type}, not s3`);
    if (config.bucket.includes('/') || config.bucket.startsWith('s3:')) {
      throw ConfigError.of(`connection ${context.name}: bucket "${config.bucket}" is not a bare bucket name`, 'give the bucket name alone and put any folder in prefix');
    }
    if (Boolean(config.access_key_id) !== Boolean(config.secret_access_key)) {
      throw ConfigError.of(
        `connection ${context.name}: access_key_id and secret_access_key go together`,
        'give both, or neither to use a profile or the default AWS credential chain',
      );
    }
    // The SDK warns on every Node 20 run about its future Node 22 requirement; b2betl supports 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const sdk = await import('@aws-sdk/client-s3');
    const client = new sdk.S3Client({
      ...(config.region ? { region: config.region } : config.endpoint ? { region: 'us-east-1' } : {}),
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      ...(config.force_path_style !== undefined ? { forcePathStyle: config.force_path_style } : {}),
      ...(config.profile ? { profile: config.profile } : {}),
      ...(config.access_key_id && config.secret_access_key
        ? {
            credentials: {
              accessKeyId: config.access_key_id,
              secretAccessKey: config.secret_access_key,
              ...(config.session_token ? { sessionToken: config.session_token } : {}),
            },
          }
        : {}),
      maxAttempts: options.maxAttempts ?? 3,
      // Checksums only where S3 demands them: S3-compatible servers mishandle the streaming
      // trailer checksums newer SDKs add by default.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const secrets = [config.secret_access_key, config.session_token].filter((value): value is string => Boolean(value));
    return new S3Store(
      sdk,
      client,
      config.bucket,
      normalizeRoot(config.prefix),
      context.name,
      {
        pageSize: Math.max(1, Math.min(options.pageSize ?? 1000, 1000)),
        partSize: Math.max(options.partSize ?? DEFAULT_PART_SIZE, 5 * 1024 * 1024),
      },
      secrets,
    );
  }

  url(path: string): string {
    return `s3://${this.bucket}/${this.key(path)}`;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.send<ListObjectsV2CommandOutput>('list', prefix, new this.sdk.ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: this.key(prefix),
        MaxKeys: this.options.pageSize,
        ...(token ? { ContinuationToken: token } : {}),
      }));
      for (const item of page.Contents ?? []) {
        // Folder placeholders (`a/b/`) hold no data.
        if (!item.Key || item.Key.endsWith('/')) continue;
        yield {
          path: item.Key.slice(this.root.length),
          size: Number(item.Size ?? 0),
          modified: (item.LastModified ?? new Date(0)).toISOString(),
          version: bareEtag(item.ETag),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async read(path: string, version?: string): Promise<Readable> {
    const answer = await this.get(path, version);
    return bodyStream(answer.Body as Readable | undefined, this.url(path), (error) => this.fail('read', path, error));
  }

  async readRange(path: string, start: number, end: number, version?: string): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    let answer: GetObjectCommandOutput;
    try {
      answer = await this.get(path, version, `bytes=${start}-${end - 1}`);
    } catch (error) {
      // Past the end of the object: nothing to read, as a file read would say.
      if ((error as ErrorShape).name === 'InvalidRange' || (error as ErrorShape).$metadata?.httpStatusCode === 416) return new Uint8Array(0);
      throw error;
    }
    try {
      return answer.Body ? await answer.Body.transformToByteArray() : new Uint8Array(0);
    } catch (error) {
      throw this.fail('read', path, error);
    }
  }

  /**
   * GetObject, with `version` only that ETag: S3 refuses another (412, If-Match), and the answer's
   * own ETag is checked too, for servers that ignore the condition.
   */
  private async get(path: string, version: string | undefined, range?: string): Promise<GetObjectCommandOutput> {
    const request = { Bucket: this.bucket, Key: this.key(path), ...(range ? { Range: range } : {}), ...(version !== undefined ? { IfMatch: `"${version}"` } : {}) };
    let answer: GetObjectCommandOutput;
    try {
      answer = (await this.client.send(new this.sdk.GetObjectCommand(request))) as GetObjectCommandOutput;
    } catch (error) {
      const status = (error as ErrorShape).$metadata?.httpStatusCode;
      if (version !== undefined && (status === 412 || (error as ErrorShape).name === 'NoSuchKey')) throw new ObjectChanged(this.url(path));
      if ((error as ErrorShape).name === 'InvalidRange' || status === 416) throw error;
      throw this.fail('read', path, error);
    }
    if (version !== undefined && bareEtag(answer.ETag) !== version) {
      (answer.Body as Readable | undefined)?.destroy?.();
      throw new ObjectChanged(this.url(path));
    }
    return answer;
  }

  async stat(path: string): Promise<ObjectInfo | undefined> {
    try {
      const head = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      return {
        path: path.replace(/^\/+/, ''),
        size: Number(head.ContentLength ?? 0),
        modified: (head.LastModified ?? new Date(0)).toISOString(),
        version: bareEtag(head.ETag),
      };
    } catch (error) {
      if ((error as ErrorShape).$metadata?.httpStatusCode === 404) {
        // A HEAD 404 has no body: tell a missing object from a missing bucket once.
        await this.verifyBucket();
        return undefined;
      }
      throw this.fail('stat', path, error);
    }
  }

  async write(path: string, data: Buffer | Readable, options: { ifGeneration?: string } = {}): Promise<string | undefined> {
    const write = this.conditionalWrite(options.ifGeneration);
    if (Buffer.isBuffer(data)) return this.settled(path, write, () => this.put(path, data, write));
    const parts: Buffer[] = [];
    let buffered = 0;
    let upload: { id: string; parts: { PartNumber: number; ETag?: string }[] } | undefined;
    try {
      for await (const chunk of data as AsyncIterable<Buffer | string>) {
        const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        parts.push(bytes);
        buffered += bytes.length;
        if (buffered >= this.options.partSize) {
          upload ??= await this.startMultipart(path, write);
          await this.uploadPart(path, upload, Buffer.concat(parts));
          parts.length = 0;
          buffered = 0;
        }
      }
      if (!upload) return await this.settled(path, write, () => this.put(path, Buffer.concat(parts), write));
      if (buffered > 0) await this.uploadPart(path, upload, Buffer.concat(parts));
      const { id, parts: uploaded } = upload;
      return await this.settled(path, write, async () => {
        const done = await this.send<CompleteMultipartUploadCommandOutput>('write', path, new this.sdk.CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: this.key(path),
          UploadId: id,
          MultipartUpload: { Parts: uploaded },
          ...write.conditions,
        }));
        return bareEtag(done.ETag);
      });
    } catch (error) {
      if (upload) {
        await this.client
          .send(new this.sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key(path), UploadId: upload.id }))
          .catch(() => undefined);
      }
      throw error instanceof PreconditionFailed || error instanceof EtlError ? error : this.fail('write', path, error);
    }
  }

  async delete(path: string, options: { ifGeneration?: string } = {}): Promise<void> {
    try {
      await this.client.send(
        new this.sdk.DeleteObjectCommand({
          Bucket: this.bucket,
          Key: this.key(path),
          ...(options.ifGeneration !== undefined ? { IfMatch: `"${options.ifGeneration}"` } : {}),
        }),
      );
    } catch (error) {
      const shape = error as ErrorShape;
      if (options.ifGeneration !== undefined && (shape.name === 'NoSuchKey' || shape.$metadata?.httpStatusCode === 404) && shape.name !== 'NoSuchBucket') {
        throw new PreconditionFailed(this.url(path));
      }
      throw this.fail('delete', path, error);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private key(path: string): string {
    return this.root + path.replace(/^\/+/, '');
  }

  /**
   * The request headers of a write: its condition, and for a conditional write a fresh write id
   * in the object's metadata, by which {@link settled} tells our own landed write.
   */
  private conditionalWrite(ifGeneration: string | undefined): ConditionalWrite {
    if (ifGeneration === undefined) return { conditions: {}, metadata: {} };
    const writeId = randomUUID();
    return {
      conditions: ifGeneration === '0' ? { IfNoneMatch: '*' } : { IfMatch: `"${ifGeneration}"` },
      metadata: { [WRITE_ID]: writeId },
      writeId,
    };
  }

  private async put(path: string, body: Buffer, write: ConditionalWrite): Promise<string | undefined> {
    const answer = await this.send<PutObjectCommandOutput>('write', path, new this.sdk.PutObjectCommand({
      Bucket: this.bucket,
      Key: this.key(path),
      Body: body,
      ContentLength: body.length,
      Metadata: write.metadata,
      ...write.conditions,
    }));
    return bareEtag(answer.ETag);
  }

  /**
   * Runs the last request of a write. A conditional one that fails may not have failed: S3 may
   * refuse it before reading the body and close the connection, so the client sees a broken pipe
   * instead of the 412; and when a write lands but its answer is lost, the client's retry is
   * refused by the write's own result. The object tells what happened: our write id in its
   * metadata means the write landed (equal bytes would not: another writer may have put the same
   * content); a condition that no longer holds means it was refused; anything else is the error
   * it looked like.
   */
  private async settled(path: string, write: ConditionalWrite, request: () => Promise<string | undefined>): Promise<string | undefined> {
    try {
      return await request();
    } catch (error) {
      if (!write.writeId || !(error instanceof TransientError || error instanceof PreconditionFailed)) throw error;
      let head: HeadObjectCommandOutput | undefined;
      try {
        head = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      } catch (headError) {
        if ((headError as ErrorShape).$metadata?.httpStatusCode !== 404) throw error;
      }
      const version = bareEtag(head?.ETag);
      const { IfNoneMatch, IfMatch } = write.conditions;
      if (version && head?.Metadata?.[WRITE_ID] === write.writeId) return version;
      if (IfNoneMatch && head) throw new PreconditionFailed(this.url(path));
      if (IfMatch && version !== bareEtag(IfMatch)) throw new PreconditionFailed(this.url(path));
      throw error;
    }
  }

  private async startMultipart(path: string, write: ConditionalWrite): Promise<{ id: string; parts: { PartNumber: number; ETag?: string }[] }> {
    const created = await this.send<CreateMultipartUploadCommandOutput>('write', path, new this.sdk.CreateMultipartUploadCommand({
      Bucket: this.bucket,
      Key: this.key(path),
      Metadata: write.metadata,
    }));
    if (!created.UploadId) throw new EtlError(`S3 gave no upload id for ${this.url(path)}`);
    return { id: created.UploadId, parts: [] };
  }

  private async uploadPart(path: string, upload: { id: string; parts: { PartNumber: number; ETag?: string }[] }, body: Buffer): Promise<void> {
    const PartNumber = upload.parts.length + 1;
    const answer = await this.send<UploadPartCommandOutput>('write', path, new this.sdk.UploadPartCommand({
      Bucket: this.bucket,
      Key: this.key(path),
      UploadId: upload.id,
      PartNumber,
      Body: body,
      ContentLength: body.length,
    }));
    upload.parts.push({ PartNumber, ETag: answer.ETag });
  }

  private async verifyBucket(): Promise<void> {
    if (this.bucketVerified) return;
    await this.send('stat', '', new this.sdk.HeadBucketCommand({ Bucket: this.bucket }));
    this.bucketVerified = true;
  }

  /** Sends a command, turning failures into errors that say what to check. */
  private async send<Output>(action: string, path: string, command: { readonly input: unknown } & object): Promise<Output> {
    try {
      return (await this.client.send(command as Parameters<S3Client['send']>[0])) as Output;
    } catch (error) {
      throw this.fail(action, path, error);
    }
  }

  /** Turns an SDK or network error into one that says what to check, without secrets. */
  private fail(action: string, path: string, error: unknown): Error {
    if (error instanceof EtlError || error instanceof PreconditionFailed) return error;
    const shape = (error ?? {}) as ErrorShape;
    const name = shape.name ?? shape.Code ?? shape.code ?? '';
    const status = shape.$metadata?.httpStatusCode;
    const message = redact(shape.message && shape.message !== 'UnknownError' ? shape.message : name || String(error), this.secrets);
    const where = this.url(path);
    const connection = `connection ${this.connection}`;
    if (status === 412 || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict') {
      return new PreconditionFailed(where);
    }
    if (name === 'NoSuchBucket' || (status === 404 && path === '' && action === 'stat')) {
      return new EtlError(`S3 bucket ${this.bucket} not found (${connection})`, `check bucket${this.client.config.endpoint ? ', endpoint' : ' and region'} in ${connection}`);
    }
    if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
      return new NotFound(`${where} not found`, `check the path; list the folder with aws s3 ls ${where.replace(/[^/]*$/, '')}`);
    }
    if (AUTH_NAMES.has(name) || status === 401 || /credential|Could not load credentials/i.test(name)) {
      return new EtlError(
        `S3 did not accept the credentials of ${connection} (${action} ${where}): ${message}`,
        `check access_key_id / secret_access_key / session_token or profile in ${connection}, or the AWS credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID…)`,
      );
    }
    if (name === 'AccessDenied' || status === 403) {
      return new EtlError(
        `access denied to ${action} ${where} (${connection}): ${message}`,
        `allow s3:ListBucket and s3:GetObject (s3:PutObject / s3:DeleteObject to write) on bucket ${this.bucket} for these credentials`,
      );
    }
    if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
      return new EtlError(`S3 bucket ${this.bucket} is in another region (${connection}): ${message}`, `set region in ${connection} to the bucket's region`);
    }
    if (/Region is missing/i.test(message)) {
      return new ConfigError([{ file: '', path: '', message: `no AWS region for ${connection}`, fix: `set region in ${connection} or AWS_REGION` }]);
    }
    if (TRANSIENT_NAMES.has(name) || TRANSIENT_NAMES.has(shape.code ?? '') || status === 429 || (status !== undefined && status >= 500) || /socket hang up|ECONNRESET/i.test(message)) {
      return new TransientError(`S3 failed to ${action} ${where}${status ? ` (${status})` : ''}: ${message}`, 'retried automatically; if it persists, check the S3 service status');
    }
    if (name === 'ECONNREFUSED' || name === 'ENOTFOUND' || shape.code === 'ECONNREFUSED' || shape.code === 'ENOTFOUND') {
      return new EtlError(`cannot reach S3 to ${action} ${where}: ${message}`, `check the network, and endpoint in ${connection} if set`);
    }
    return new EtlError(`S3 ${action} ${where} failed${status ? ` (${status})` : ''}: ${message}`);
  }
}

/** An object that does not exist. */
class NotFound extends EtlError {}
