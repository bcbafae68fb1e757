/**
 * What the REST doubles of Google APIs (Cloud Scheduler, Dataflow) share: the error shape the
 * client library reads, a bearer token on every request, JSON bodies, and an HTTP server on
 * 127.0.0.1 that records each request and may answer it with an injected failure instead.
 */
import http from 'node:http';
import { listenLoopback } from './http-listen.js';

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
};

/** A failure the API answers with its HTTP status and message. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** 400 INVALID_ARGUMENT. */
export const invalid = (message: string) => new ApiFailure(400, message);

/** The body of a failed call, as Google APIs send it. */
export function errorBody(status: number, message: string): unknown {
  return { error: { code: status, message, status: STATUS_NAMES[status] ?? 'UNKNOWN' } };
}

/** A request as a double saw it (the path without the API's version prefix). */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly body: unknown;
}

/** An injected answer instead of serving a request. */
export interface InjectedFailure {
  readonly status: number;
  readonly body: unknown;
}

export interface RestServer {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * Serves `serve` under `prefix` (`/v1/`, `/v1b3/`): each request is recorded in `requests`, refused
 * without a bearer token, offered to `intercept`, then answered with what `serve` returns (or the
 * {@link ApiFailure} it throws). `numericEnums` is set when the client asks for enums as numbers.
 */
export async function serveRest(options: {
  readonly prefix: string;
  readonly requests: SeenRequest[];
  readonly intercept: (request: SeenRequest) => InjectedFailure | undefined;
  readonly serve: (method: string, path: string, query: Record<string, string>, body: Record<string, unknown>, numericEnums: boolean) => unknown;
}): Promise<RestServer> {
  const server = http.createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://double');
      const query = Object.fromEntries(url.searchParams);
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      const answer = (status: number, payload: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        response.end(JSON.stringify(payload));
      };
      let body: Record<string, unknown> = {};
      try {
        if (text) body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return answer(400, errorBody(400, 'Invalid JSON payload received.'));
      }
      const path = decodeURIComponent(url.pathname.slice(options.prefix.length));
      const seen: SeenRequest = { method: request.method ?? 'GET', path, query, body };
      options.requests.push(seen);
      if (!/^Bearer \S+/.test(request.headers.authorization ?? '')) return answer(401, errorBody(401, 'Request is missing required authentication credential.'));
      const injected = options.intercept(seen);
      if (injected) return answer(injected.status, injected.body);
      try {
        if (!url.pathname.startsWith(options.prefix)) throw new ApiFailure(404, 'Not found.');
        answer(200, await options.serve(seen.method, path, query, body, /enum-encoding=int/.test(query.$alt ?? '')));
      } catch (error) {
        if (!(error instanceof ApiFailure)) throw error;
        answer(error.status, errorBody(error.status, error.message));
      }
    })().catch((error: unknown) => {
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify(errorBody(500, String(error))));
    });
  });
  return listenLoopback(server);
}
