/**
 * A strict in-process test double of the Google Cloud Storage JSON API (and of Secret Manager's
 * `versions:access`), served on 127.0.0.1 for the real `@google-cloud/storage` client through
 * `apiEndpoint`. It answers like the service: string generations and sizes, md5Hash/crc32c,
 * generation preconditions with 412 bodies, 404 bodies, 400 on missing parameters.
 */
import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CRC32C } from '@google-cloud/storage';

/** One live object generation as the double stores it. */
export interface StoredObject {
  readonly bucket: string;
  readonly name: string;
  readonly data: Buffer;
  readonly generation: string;
  readonly metageneration: string;
  readonly contentType: string;
  readonly md5Hash: string;
  readonly crc32c: string;
  readonly created: string;
  readonly updated: string;
  readonly metadata?: Record<string, string>;
}

/** A request as the double saw it, for assertions on paging and preconditions. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
}

/** What an interceptor may do with a request instead of serving it. */
export type Interception =
  | { readonly status: number; readonly reason?: string; readonly message?: string }
  /** Destroys the socket without answering (a dropped connection, a crash mid-upload). */
  | 'reset'
  /** Serves the request, then drops the connection before the answer leaves. */
  | 'lose-answer'
  | undefined;

/** A running double and the helpers tests use to seed and inspect it. */
export interface GcsDouble {
  /** `http://127.0.0.1:<port>`, for `endpoint` / `apiEndpoint`. */
  readonly endpoint: string;
  /** Every request served so far (newest last). */
  readonly requests: SeenRequest[];
  createBucket(name: string): void;
  /** Writes an object directly (a new generation), bypassing HTTP. */
  seed(bucket: string, name: string, data: Buffer | string, options?: { contentType?: string; updated?: Date }): StoredObject;
  /** The live generation of an object, or undefined. */
  object(bucket: string, name: string): StoredObject | undefined;
  /** Names of the bucket's objects, sorted. */
  names(bucket: string): string[];
  /** Stores a Secret Manager secret version (`projects/p/secrets/s/versions/v`). */
  setSecret(name: string, value: string): void;
  /**
   * Sees each request first; returning an interception answers it with an error (or drops the
   * connection) instead of serving it. Remove with `intercept(undefined)`.
   */
  intercept(handler: ((request: SeenRequest & { readonly headers: http.IncomingHttpHeaders }) => Interception) | undefined): void;
  stop(): Promise<void>;
}

interface UploadSession {
  readonly bucket: string;
  readonly name: string;
  readonly metadata: Record<string, unknown>;
  readonly query: Record<string, string>;
  readonly chunks: Buffer[];
  received: number;
  /** The object the session created, once it is complete. */
  created?: StoredObject;
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

const PRECONDITION_MESSAGE = 'At least one of the pre-conditions you specified did not hold.';
const MAX_PAGE = 1000;

function crc32cOf(data: Buffer): string {
  const crc = new CRC32C();
  crc.update(data);
  return crc.toString();
}

function md5Of(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

function errorBody(status: number, reason: string, message: string, extra: Record<string, string> = {}): string {
  return JSON.stringify({ error: { code: status, message, errors: [{ message, domain: 'global', reason, ...extra }] } });
}

function readBody(request: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Splits a `multipart/related` body into its parts (headers are dropped, bodies kept). */
function multipartParts(body: Buffer, contentType: string): { type: string; body: Buffer }[] {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) throw new HttpFailure(400, 'invalid', 'Missing multipart boundary.');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { type: string; body: Buffer }[] = [];
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const afterDelimiter = start + delimiter.length;
    if (body.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, afterDelimiter);
    if (next < 0) throw new HttpFailure(400, 'invalid', 'Malformed multipart body.');
    const part = body.subarray(afterDelimiter + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, headerEnd).toString();
    parts.push({ type: /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1] ?? '', body: part.subarray(headerEnd + 4) });
    start = next;
  }
  return parts;
}

/** Starts a GCS double on 127.0.0.1 with a free port. */
export async function startGcsDouble(options: { buckets?: readonly string[] } = {}): Promise<GcsDouble> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  const sortedNames = new Map<string, string[]>();
  const sessions = new Map<string, UploadSession>();
  const secrets = new Map<string, string>();
  const requests: SeenRequest[] = [];
  let interceptor: Parameters<GcsDouble['intercept']>[0];
  let lastGeneration = BigInt(Date.now()) * 1000n;

  const nextGeneration = (): string => {
    const candidate = BigInt(Date.now()) * 1000n;
    lastGeneration = candidate > lastGeneration ? candidate : lastGeneration + 1n;
    return lastGeneration.toString();
  };

  const bucketOf = (name: string): Map<string, StoredObject> => {
    const bucket = buckets.get(name);
    if (!bucket) throw new HttpFailure(404, 'notFound', 'The specified bucket does not exist.');
    return bucket;
  };

  const names = (bucket: string): string[] => {
    let sorted = sortedNames.get(bucket);
    if (!sorted) {
      // Code-unit order equals GCS's UTF-8 byte order for every name short of astral characters.
      sorted = [...bucketOf(bucket).keys()].sort();
      sortedNames.set(bucket, sorted);
    }
    return sorted;
  };

  const store = (bucket: string, name: string, data: Buffer, contentType: string, metadata?: Record<string, string>, updated?: Date): StoredObject => {
    const objects = bucketOf(bucket);
    const previous = objects.get(name);
    const time = (updated ?? new Date()).toISOString();
    const object: StoredObject = {
      bucket,
      name,
      data,
      generation: nextGeneration(),
      metageneration: '1',
      contentType,
      md5Hash: md5Of(data),
      crc32c: crc32cOf(data),
      created: time,
      updated: time,
      ...(metadata ? { metadata } : {}),
    };
    objects.set(name, object);
    if (!previous) sortedNames.delete(bucket);
    return object;
  };

  const resource = (object: StoredObject, base: string) => {
    const encoded = encodeURIComponent(object.name);
    return {
      kind: 'storage#object',
      id: `${object.bucket}/${object.name}/${object.generation}`,
      selfLink: `${base}/storage/v1/b/${object.bucket}/o/${encoded}`,
      mediaLink: `${base}/download/storage/v1/b/${object.bucket}/o/${encoded}?generation=${object.generation}&alt=media`,
      name: object.name,
      bucket: object.bucket,
      generation: object.generation,
      metageneration: object.metageneration,
      contentType: object.contentType,
      storageClass: 'STANDARD',
      size: String(object.data.length),
      md5Hash: object.md5Hash,
      crc32c: object.crc32c,
      etag: Buffer.from(`${object.generation}/${object.metageneration}`).toString('base64'),
      timeCreated: object.created,
      updated: object.updated,
      timeStorageClassUpdated: object.created,
      ...(object.metadata ? { metadata: object.metadata } : {}),
    };
  };

  const numberParam = (query: Record<string, string>, key: string): string | undefined => {
    const value = query[key];
    if (value === undefined) return undefined;
    if (!/^-?\d+$/.test(value)) throw new HttpFailure(400, 'invalid', `Invalid value for ${key}: ${value}`);
    return BigInt(value).toString();
  };

  /** Checks generation/metageneration preconditions; `read` answers 304 for the NotMatch ones. */
  const checkPreconditions = (current: StoredObject | undefined, query: Record<string, string>, read: boolean) => {
    const fail = (location: string, notModified = false) => {
      if (notModified && read) throw new HttpFailure(304, 'notModified', 'Not Modified');
      throw new HttpFailure(412, 'conditionNotMet', PRECONDITION_MESSAGE, { locationType: 'header', location });
    };
    const generationMatch = numberParam(query, 'ifGenerationMatch');
    if (generationMatch !== undefined) {
      if (generationMatch === '0' ? current !== undefined : current?.generation !== generationMatch) fail('If-Match');
    }
    const generationNotMatch = numberParam(query, 'ifGenerationNotMatch');
    if (generationNotMatch !== undefined) {
      if (!current || (generationNotMatch !== '0' && current.generation === generationNotMatch)) fail('If-None-Match', true);
    }
    const metagenerationMatch = numberParam(query, 'ifMetagenerationMatch');
    if (metagenerationMatch !== undefined && current?.metageneration !== metagenerationMatch) fail('If-Metageneration-Match');
    const metagenerationNotMatch = numberParam(query, 'ifMetagenerationNotMatch');
    if (metagenerationNotMatch !== undefined && (!current || current.metageneration === metagenerationNotMatch)) {
      fail('If-Metageneration-Not-Match', true);
    }
  };

  const liveObject = (bucket: string, name: string, query: Record<string, string>): StoredObject => {
    const object = bucketOf(bucket).get(name);
    const generation = numberParam(query, 'generation');
    if (!object || (generation !== undefined && generation !== object.generation)) {
      throw new HttpFailure(404, 'notFound', `No such object: ${bucket}/${name}`);
    }
    return object;
  };

  /** Validates the hashes a client declared (metadata fields or X-Goog-Hash) against the bytes. */
  const checkDeclaredHashes = (data: Buffer, metadata: Record<string, unknown>, hashHeader: string | undefined) => {
    const declared: { crc32c?: string; md5?: string } = {};
    if (typeof metadata.crc32c === 'string') declared.crc32c = metadata.crc32c;
    if (typeof metadata.md5Hash === 'string') declared.md5 = metadata.md5Hash;
    for (const pair of hashHeader?.split(',') ?? []) {
      const at = pair.indexOf('=');
      const kind = pair.slice(0, at).trim();
      if (kind === 'crc32c' || kind === 'md5') declared[kind] = pair.slice(at + 1).trim();
    }
    const crc32c = crc32cOf(data);
    if (declared.crc32c !== undefined && declared.crc32c !== crc32c) {
      throw new HttpFailure(400, 'invalid', `Provided CRC32C "${declared.crc32c}" doesn't match calculated CRC32C "${crc32c}".`);
    }
    const md5 = md5Of(data);
    if (declared.md5 !== undefined && declared.md5 !== md5) {
      throw new HttpFailure(400, 'invalid', `Provided MD5 hash "${declared.md5}" doesn't match calculated MD5 hash "${md5}".`);
    }
  };

  const finishUpload = (bucket: string, name: string, data: Buffer, metadata: Record<string, unknown>, query: Record<string, string>, hashHeader?: string) => {
    checkPreconditions(bucketOf(bucket).get(name), query, false);
    checkDeclaredHashes(data, metadata, hashHeader);
    const contentType = typeof metadata.contentType === 'string' ? metadata.contentType : 'application/octet-stream';
    const custom = metadata.metadata && typeof metadata.metadata === 'object' ? (metadata.metadata as Record<string, string>) : undefined;
    return store(bucket, name, data, contentType, custom);
  };

  const list = (bucket: string, query: Record<string, string>) => {
    const prefix = query.prefix ?? '';
    const delimiter = query.delimiter;
    const pageSize = query.maxResults === undefined ? MAX_PAGE : Math.min(Number(numberParam(query, 'maxResults')), MAX_PAGE);
    if (!(pageSize > 0)) throw new HttpFailure(400, 'invalid', `Invalid value for maxResults: ${query.maxResults}`);
    let after = '';
    if (query.pageToken) {
      try {
        after = Buffer.from(query.pageToken, 'base64url').toString('utf8');
      } catch {
        throw new HttpFailure(400, 'invalid', 'Invalid page token.');
      }
    }
    const sorted = names(bucket);
    const objects = bucketOf(bucket);
    // Binary search to the first name past both the token and the prefix start: listings of
    // 100k names stay cheap.
    const firstAtOrAfter = (key: string, strictly: boolean): number => {
      let low = 0;
      let high = sorted.length;
      while (low < high) {
        const middle = (low + high) >> 1;
        if (sorted[middle] < key || (strictly && sorted[middle] === key)) low = middle + 1;
        else high = middle;
      }
      return low;
    };
    const low = Math.max(firstAtOrAfter(prefix, false), after ? firstAtOrAfter(after, true) : 0);
    const items: StoredObject[] = [];
    const prefixes: string[] = [];
    let last = '';
    let more = false;
    for (let index = low; index < sorted.length; index += 1) {
      const name = sorted[index];
      if (!name.startsWith(prefix)) break;
      if (items.length + prefixes.length >= pageSize) {
        more = true;
        break;
      }
      const cut = delimiter ? name.indexOf(delimiter, prefix.length) : -1;
      if (cut >= 0) {
        const folder = name.slice(0, cut + delimiter!.length);
        prefixes.push(folder);
        // Skip the rest of this folder: the token points at its last name.
        let end = index;
        while (end + 1 < sorted.length && sorted[end + 1].startsWith(folder)) end += 1;
        index = end;
        last = sorted[end];
      } else {
        items.push(objects.get(name)!);
        last = name;
      }
    }
    return { items, prefixes, nextPageToken: more ? Buffer.from(last).toString('base64url') : undefined };
  };

  const handle = async (request: http.IncomingMessage, response: http.ServerResponse, base: string) => {
    const url = new URL(request.url ?? '/', base);
    const query = Object.fromEntries(url.searchParams);
    const method = request.method ?? 'GET';
    const seen: SeenRequest = { method, path: url.pathname, query };
    requests.push(seen);
    const intercepted = interceptor?.({ ...seen, headers: request.headers });
    if (intercepted === 'reset') {
      request.socket.destroy();
      return;
    }
    if (intercepted === 'lose-answer') {
      response.end = (() => {
        request.socket.destroy();
        return response;
      }) as typeof response.end;
    } else if (intercepted) {
      await readBody(request);
      throw new HttpFailure(intercepted.status, intercepted.reason ?? 'backendError', intercepted.message ?? 'Injected failure.');
    }
    const json = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      response.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
      response.end(text);
    };
    const path = url.pathname;
    let match: RegExpExecArray | null;

    if ((match = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/:]+):access$/.exec(path)) && method === 'GET') {
      const value = secrets.get(match[1]);
      if (value === undefined) throw new HttpFailure(404, 'notFound', `Secret Version [${match[1]}] not found or has no enabled versions.`);
      const data = Buffer.from(value);
      const crc = new CRC32C();
      crc.update(data);
      json(200, { name: match[1], payload: { data: data.toString('base64'), dataCrc32c: String(crc.valueOf() >>> 0) } });
      return;
    }

    if ((match = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path))) {
      const bucket = decodeURIComponent(match[1]);
      bucketOf(bucket);
      const uploadType = query.uploadType;
      if (method === 'POST' && uploadType === 'media') {
        if (!query.name) throw new HttpFailure(400, 'required', 'Required parameter: name');
        const data = await readBody(request);
        const object = finishUpload(bucket, query.name, data, { contentType: request.headers['content-type'] }, query);
        json(200, resource(object, base));
        return;
      }
      if (method === 'POST' && uploadType === 'multipart') {
        const parts = multipartParts(await readBody(request), request.headers['content-type'] ?? '');
        if (parts.length !== 2) throw new HttpFailure(400, 'invalid', 'Multipart upload needs a metadata part and a media part.');
        let metadata: Record<string, unknown>;
        try {
          metadata = JSON.parse(parts[0].body.toString('utf8')) as Record<string, unknown>;
        } catch {
          throw new HttpFailure(400, 'parseError', 'Parse Error');
        }
        const name = query.name ?? (typeof metadata.name === 'string' ? metadata.name : undefined);
        if (!name) throw new HttpFailure(400, 'required', 'Required');
        const object = finishUpload(bucket, name, parts[1].body, { contentType: parts[1].type || undefined, ...metadata }, query);
        json(200, resource(object, base));
        return;
      }
      if (method === 'POST' && uploadType === 'resumable') {
        const body = await readBody(request);
        let metadata: Record<string, unknown> = {};
        if (body.length) {
          try {
            metadata = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
          } catch {
            throw new HttpFailure(400, 'parseError', 'Parse Error');
          }
        }
        const name = query.name ?? (typeof metadata.name === 'string' ? metadata.name : undefined);
        if (!name) throw new HttpFailure(400, 'required', 'Required');
        checkPreconditions(bucketOf(bucket).get(name), query, false);
        const contentType = request.headers['x-upload-content-type'];
        const id = randomUUID();
        sessions.set(id, {
          bucket,
          name,
          metadata: { ...metadata, ...(typeof contentType === 'string' ? { contentType } : {}) },
          query,
          chunks: [],
          received: 0,
        });
        response.writeHead(200, { location: `${base}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`, 'content-length': 0 });
        response.end();
        return;
      }
      if (method === 'PUT' && uploadType === 'resumable') {
        const session = query.upload_id ? sessions.get(query.upload_id) : undefined;
        if (!session) throw new HttpFailure(404, 'notFound', 'No such upload session.');
        const data = await readBody(request);
        // A complete session answers any later request (a status query, a retried last chunk)
        // with the object it created.
        if (session.created) return json(200, resource(session.created, base));
        const range = String(request.headers['content-range'] ?? '');
        const status = /^bytes \*\/(\d+|\*)$/.exec(range);
        const chunk = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(range);
        let total: number | undefined;
        if (status) {
          total = status[1] === '*' ? undefined : Number(status[1]);
        } else if (chunk) {
          if (Number(chunk[1]) !== session.received) {
            throw new HttpFailure(400, 'invalid', `Invalid request. Expected chunk starting at ${session.received}.`);
          }
          session.chunks.push(data);
          session.received += data.length;
          total = chunk[3] === '*' ? undefined : Number(chunk[3]);
          // `bytes 0-*/*` carries the whole object with no declared end.
          if (chunk[2] === '*' && chunk[3] === '*') total = session.received;
        } else if (!range && data.length >= 0) {
          session.chunks.push(data);
          session.received += data.length;
          total = session.received;
        } else {
          throw new HttpFailure(400, 'invalid', `Invalid Content-Range: ${range}`);
        }
        if (total !== undefined && session.received === total) {
          const hashHeader = request.headers['x-goog-hash'];
          session.created = finishUpload(session.bucket, session.name, Buffer.concat(session.chunks), session.metadata, session.query, typeof hashHeader === 'string' ? hashHeader : undefined);
          session.chunks.length = 0;
          json(200, resource(session.created, base));
          return;
        }
        response.writeHead(308, session.received ? { range: `bytes=0-${session.received - 1}`, 'content-length': 0 } : { 'content-length': 0 });
        response.end();
        return;
      }
      throw new HttpFailure(400, 'invalid', 'Upload requests must include an uploadType URL parameter and a URL-encoded object name.');
    }

    const mediaPath = /^\/download\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path);
    if ((match = mediaPath ?? /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path))) {
      const bucket = decodeURIComponent(match[1]);
      const name = decodeURIComponent(match[2]);
      if (method === 'GET') {
        const object = liveObject(bucket, name, query);
        checkPreconditions(object, query, true);
        if (query.alt === 'media') {
          sendMedia(request, response, object);
          return;
        }
        if (mediaPath) throw new HttpFailure(400, 'invalid', 'Download requests need alt=media.');
        json(200, resource(object, base));
        return;
      }
      if (method === 'DELETE') {
        const current = bucketOf(bucket).get(name);
        if (!current) throw new HttpFailure(404, 'notFound', `No such object: ${bucket}/${name}`);
        checkPreconditions(current, query, false);
        bucketOf(bucket).delete(name);
        sortedNames.delete(bucket);
        response.writeHead(204);
        response.end();
        return;
      }
      throw new HttpFailure(405, 'methodNotAllowed', `Method ${method} is not supported by this double for objects.`);
    }

    if ((match = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path)) && method === 'GET') {
      const bucket = decodeURIComponent(match[1]);
      const page = list(bucket, query);
      json(200, {
        kind: 'storage#objects',
        ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
        ...(page.prefixes.length ? { prefixes: page.prefixes } : {}),
        ...(page.items.length ? { items: page.items.map((object) => resource(object, base)) } : {}),
      });
      return;
    }

    if ((match = /^\/storage\/v1\/b\/([^/]+)$/.exec(path)) && method === 'GET') {
      const bucket = decodeURIComponent(match[1]);
      bucketOf(bucket);
      json(200, { kind: 'storage#bucket', id: bucket, name: bucket, location: 'US', storageClass: 'STANDARD', metageneration: '1' });
      return;
    }

    throw new HttpFailure(404, 'notFound', 'Not Found');
  };

  const sendMedia = (request: http.IncomingMessage, response: http.ServerResponse, object: StoredObject) => {
    const size = object.data.length;
    const headers: http.OutgoingHttpHeaders = {
      'content-type': object.contentType,
      'x-goog-generation': object.generation,
      'x-goog-metageneration': object.metageneration,
      'x-goog-hash': `crc32c=${object.crc32c},md5=${object.md5Hash}`,
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-stored-content-length': String(size),
      etag: `"${object.md5Hash}"`,
      'last-modified': new Date(object.updated).toUTCString(),
      'accept-ranges': 'bytes',
    };
    const range = request.headers.range;
    if (!range) {
      response.writeHead(200, { ...headers, 'content-length': size });
      response.end(object.data);
      return;
    }
    const parsed = /^bytes=(\d*)-(\d*)$/.exec(range);
    if (!parsed || (parsed[1] === '' && parsed[2] === '')) throw new HttpFailure(400, 'invalid', `Invalid Range header: ${range}`);
    let start: number;
    let end: number;
    if (parsed[1] === '') {
      start = Math.max(0, size - Number(parsed[2]));
      end = size - 1;
    } else {
      start = Number(parsed[1]);
      end = parsed[2] === '' ? size - 1 : Math.min(Number(parsed[2]), size - 1);
    }
    if (start >= size || end < start) {
      throw new HttpFailure(416, 'requestedRangeNotSatisfiable', 'The requested range cannot be satisfied.', {});
    }
    // A ranged response carries no whole-object hash, as GCS does.
    const { 'x-goog-hash': _hash, ...rangeHeaders } = headers;
    response.writeHead(206, { ...rangeHeaders, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
    response.end(object.data.subarray(start, end + 1));
  };

  const server = http.createServer((request, response) => {
    const base = `http://${request.headers.host ?? '127.0.0.1'}`;
    handle(request, response, base).catch((error: unknown) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      const failure = error instanceof HttpFailure ? error : new HttpFailure(500, 'backendError', String(error));
      if (failure.status === 304) {
        response.writeHead(304);
        response.end();
        return;
      }
      const body = errorBody(failure.status, failure.reason, failure.message, failure.extra);
      response.writeHead(failure.status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body) });
      response.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  for (const bucket of options.buckets ?? []) buckets.set(bucket, new Map());

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    createBucket(name) {
      if (!buckets.has(name)) buckets.set(name, new Map());
    },
    seed(bucket, name, data, seedOptions = {}) {
      return store(bucket, name, Buffer.from(data), seedOptions.contentType ?? 'application/octet-stream', undefined, seedOptions.updated);
    },
    object(bucket, name) {
      return buckets.get(bucket)?.get(name);
    },
    names(bucket) {
      return [...names(bucket)];
    },
    setSecret(name, value) {
      secrets.set(name, value);
    },
    intercept(handler) {
      interceptor = handler;
    },
    stop() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
