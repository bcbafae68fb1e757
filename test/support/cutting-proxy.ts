/**
 * An HTTP proxy on 127.0.0.1 in front of a store's server that cuts a chosen answer off in the
 * middle of its body, as a network failing mid-download would: the status and headers arrive,
 * then part of the body, then the connection drops. Requests pass unchanged (the Host header
 * too, so signed requests stay valid).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxiedRequest } from './lossy-proxy.js';

/** What a cut is chosen by: the request's method and path (its body is not read). */
type CutRequest = Omit<ProxiedRequest, 'body'>;

export interface CuttingProxy {
  /** `http://127.0.0.1:<port>`, to use in place of the server's own endpoint. */
  readonly endpoint: string;
  /** The next answer `matches` accepts is cut after `bytes` bytes of its body. */
  cutNextBody(matches: (request: CutRequest) => boolean, bytes: number): void;
  /** How many answers were cut so far. */
  readonly cuts: number;
  stop(): Promise<void>;
}

export async function startCuttingProxy(target: string): Promise<CuttingProxy> {
  const upstream = new URL(target);
  let cut: { matches: (request: CutRequest) => boolean; bytes: number } | undefined;
  let cuts = 0;
  const server = http.createServer((request, response) => {
    const proxied = { method: request.method ?? 'GET', url: new URL(request.url ?? '/', 'http://proxy') };
    const forward = http.request({ host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
      // Only a body longer than the cut is cut: metadata answers about the same object pass.
      let limit: number | undefined;
      if (cut?.matches(proxied) && Number(answer.headers['content-length'] ?? Infinity) > cut.bytes) {
        limit = cut.bytes;
        cut = undefined;
      }
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      if (limit === undefined) {
        answer.pipe(response);
        return;
      }
      let sent = 0;
      answer.on('data', (chunk: Buffer) => {
        if (sent >= limit) return;
        const part = chunk.subarray(0, limit - sent);
        sent += part.length;
        response.write(part);
        if (sent >= limit) {
          cuts++;
          answer.destroy();
          // Let the bytes written so far leave before the connection drops.
          response.once('drain', () => request.socket.destroy());
          setTimeout(() => request.socket.destroy(), 50);
        }
      });
    });
    forward.once('error', () => request.socket.destroy());
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cutNextBody(matches, bytes) {
      cut = { matches, bytes };
    },
    get cuts() {
      return cuts;
    },
    stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
