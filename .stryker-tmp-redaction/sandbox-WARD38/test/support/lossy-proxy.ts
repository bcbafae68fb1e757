/**
 * An HTTP proxy on 127.0.0.1 in front of a test server that can lose answers: a chosen request
 * reaches the server and is served, but the client's connection drops before the answer
 * arrives, as when a network fails at the worst moment. Requests pass unchanged (the Host
 * header too, so signed requests stay valid).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a matcher sees of a request. */
export interface ProxiedRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: URL;
}

export interface LossyProxy {
  /** `http://127.0.0.1:<port>`, to use in place of the server's own endpoint. */
  readonly endpoint: string;
  /** The next request `matches` accepts is served, and its answer lost. */
  loseNextAnswer(matches: (request: ProxiedRequest) => boolean): void;
  stop(): Promise<void>;
}

export async function startLossyProxy(target: string): Promise<LossyProxy> {
  const upstream = new URL(target);
  let matcher: ((request: ProxiedRequest) => boolean) | undefined;
  const server = http.createServer((request, response) => {
    const proxied = { method: request.method ?? 'GET', url: new URL(request.url ?? '/', 'http://proxy') };
    const lose = matcher?.(proxied) ?? false;
    if (lose) matcher = undefined;
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        if (lose) {
          answer.resume();
          answer.once('end', () => request.socket.destroy());
          return;
        }
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forward.once('error', () => request.socket.destroy());
    request.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    loseNextAnswer(matches) {
      matcher = matches;
    },
    stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
