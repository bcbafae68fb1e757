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
  /** The request's body, where the proxy reads it first (a job's id travels in the body of jobs.insert). */
  readonly body?: Buffer;
}

export interface LossyProxy {
  /** `http://127.0.0.1:<port>`, to use in place of the server's own endpoint. */
  readonly endpoint: string;
  /** The next request `matches` accepts is served, and its answer lost. */
  loseNextAnswer(matches: (request: ProxiedRequest) => boolean): void;
  /** The next `count` requests `matches` accepts are served, and their answers lost (a client's retries too). */
  loseAnswers(matches: (request: ProxiedRequest) => boolean, count: number): void;
  /** Answers lost so far. */
  readonly lost: number;
  stop(): Promise<void>;
}

export async function startLossyProxy(target: string): Promise<LossyProxy> {
  const upstream = new URL(target);
  let matcher: ((request: ProxiedRequest) => boolean) | undefined;
  let remaining = 0;
  let lost = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const proxied = { method: request.method ?? 'GET', url: new URL(request.url ?? '/', 'http://proxy'), body };
      const lose = remaining > 0 && (matcher?.(proxied) ?? false);
      if (lose && --remaining === 0) matcher = undefined;
      if (lose) lost++;
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
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const loseAnswers = (matches: (request: ProxiedRequest) => boolean, count: number) => {
    matcher = matches;
    remaining = count;
  };
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    loseNextAnswer: (matches) => loseAnswers(matches, 1),
    loseAnswers,
    get lost() {
      return lost;
    },
    stop: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
