/**
 * A MySQL server on 127.0.0.1 that speaks just enough of the wire protocol to hurt: it takes the
 * password through caching_sha2_password's full authentication (its RSA key decrypts what the
 * client sends), then answers with an error that quotes it back. At `auth` it refuses the login;
 * at `query` it accepts it and fails every statement.
 */
import { constants, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { serveLoopback, type FakeSqlServer } from './fake-postgres.js';

function packet(sequence: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = sequence & 0xff;
  return Buffer.concat([header, payload]);
}

function errorPacket(sequence: number, code: number, state: string, text: string): Buffer {
  const head = Buffer.alloc(3);
  head[0] = 0xff;
  head.writeUInt16LE(code, 1);
  return packet(sequence, Buffer.concat([head, Buffer.from(`#${state}${text}`)]));
}

const okPacket = (sequence: number) => packet(sequence, Buffer.from([0, 0, 0, 2, 0, 0, 0]));

export async function startFakeMysql(failAt: 'auth' | 'query'): Promise<FakeSqlServer> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  const received: string[] = [];
  return serveLoopback(received, (socket) => {
    const scramble = randomBytes(20).map((byte) => (byte % 94) + 33); // printable, no NUL
    socket.write(
      packet(
        0,
        Buffer.concat([
          Buffer.from('\x0a8.0.36-fake\0'),
          Buffer.from([1, 0, 0, 0]),
          scramble.subarray(0, 8),
          Buffer.from([0, 0xdf, 0xf7, 45, 2, 0, 0x7f, 0, 21]),
          Buffer.alloc(10),
          scramble.subarray(8),
          Buffer.from('\0caching_sha2_password\0'),
        ]),
      ),
    );
    let buffer = Buffer.alloc(0);
    let step = 0;
    let password = '';
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUIntLE(0, 3)) {
        const sequence = buffer[3];
        const payload = buffer.subarray(4, 4 + buffer.readUIntLE(0, 3));
        buffer = buffer.subarray(4 + payload.length);
        if (step === 0) {
          step = 1;
          socket.write(packet(sequence + 1, Buffer.from([1, 4]))); // perform full authentication
        } else if (step === 1) {
          step = 2;
          socket.write(packet(sequence + 1, Buffer.concat([Buffer.from([1]), Buffer.from(pem)])));
        } else if (step === 2) {
          step = 3;
          const plain = privateDecrypt({ key: privateKey, oaepHash: 'sha1', padding: constants.RSA_PKCS1_OAEP_PADDING }, payload);
          password = Buffer.from(plain.map((byte, i) => byte ^ scramble[i % scramble.length]))
            .toString('utf8')
            .replace(/\0$/, '');
          received.push(password);
          if (failAt === 'auth') {
            socket.end(errorPacket(sequence + 1, 1045, '28000', `Access denied for user (using password: '${password}')`));
            return;
          }
          socket.write(okPacket(sequence + 1));
        } else if (payload[0] === 0x01) {
          socket.end(); // COM_QUIT
          return;
        } else {
          socket.write(errorPacket(sequence + 1, 1142, '42000', `command denied to the session logged in with password '${password}'`));
        }
      }
    });
  });
}
