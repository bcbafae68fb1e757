/**
 * A PostgreSQL server on 127.0.0.1 that speaks just enough of the wire protocol to hurt: it asks
 * for the password in clear text, then answers with an error that quotes it back, as a
 * misconfigured proxy or a chatty extension could. At `auth` it refuses the login; at `query`
 * it accepts it and fails the first statement.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface FakeSqlServer {
  readonly port: number;
  /** The passwords clients sent. */
  readonly received: string[];
  stop(): Promise<void>;
}

/** Serves `connected` on a free port of 127.0.0.1; `stop` ends every connection and the server. */
export async function serveLoopback(received: string[], connected: (socket: net.Socket) => void): Promise<FakeSqlServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    connected(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function message(type: string, body: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeInt32BE(body.length + 4);
  return Buffer.concat([Buffer.from(type), length, body]);
}

function int32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeInt32BE(value);
  return out;
}

/** An ErrorResponse: severity, SQLSTATE and text. */
function errorResponse(severity: string, code: string, text: string): Buffer {
  const fields = [`S${severity}`, `V${severity}`, `C${code}`, `M${text}`].map((field) => Buffer.from(`${field}\0`));
  return message('E', Buffer.concat([...fields, Buffer.from([0])]));
}

const ready = () => message('Z', Buffer.from('I'));

export async function startFakePostgres(failAt: 'auth' | 'query'): Promise<FakeSqlServer> {
  const received: string[] = [];
  return serveLoopback(received, (socket) => {
    let buffer = Buffer.alloc(0);
    let started = false;
    let password = '';
    let failed = false;
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (!started) {
          if (buffer.length < 4 || buffer.length < buffer.readInt32BE(0)) return;
          const length = buffer.readInt32BE(0);
          const code = buffer.readInt32BE(4);
          buffer = buffer.subarray(length);
          if (code === 80877103) {
            socket.write('N'); // no TLS: the client carries on in plain text
            continue;
          }
          started = true;
          socket.write(message('R', int32(3))); // AuthenticationCleartextPassword
          continue;
        }
        if (buffer.length < 5 || buffer.length < buffer.readInt32BE(1) + 1) return;
        const type = String.fromCharCode(buffer[0]);
        const body = buffer.subarray(5, buffer.readInt32BE(1) + 1);
        buffer = buffer.subarray(buffer.readInt32BE(1) + 1);
        if (type === 'p') {
          password = body.subarray(0, body.indexOf(0)).toString('utf8');
          received.push(password);
          if (failAt === 'auth') {
            socket.end(errorResponse('FATAL', '28P01', `password authentication failed: "${password}" is not the password of this user`));
            return;
          }
          socket.write(Buffer.concat([message('R', int32(0)), message('S', Buffer.from('server_version\x0016.0\x00')), message('K', Buffer.concat([int32(1), int32(2)])), ready()]));
        } else if (type === 'X') {
          socket.end();
          return;
        } else if (type === 'Q' || (type === 'P' && !failed)) {
          // One error per statement; the extended protocol's messages up to Sync are then skipped.
          failed = type === 'P';
          socket.write(errorResponse('ERROR', '42501', `permission denied while logged in with password "${password}"`));
          if (type === 'Q') socket.write(ready());
        } else if (type === 'S') {
          failed = false;
          socket.write(ready());
        }
      }
    });
  });
}
