/**
 * A Firestore emulator (@firestore-emulator/server) in a child process on 127.0.0.1 and a free
 * port, for tests. It runs in its own process so that the test process's memory measures only
 * the client side, and so that the emulator's synchronous query work never blocks the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A running emulator: `host` is `127.0.0.1:<port>`, usable as FIRESTORE_EMULATOR_HOST. */
export interface FirestoreEmulator {
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts the emulator in a child process and waits until it listens. */
export async function startFirestoreEmulator(): Promise<FirestoreEmulator> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the Firestore emulator exited with code ${code} before listening`)));
    lines.once('line', (line) => {
      const port = Number(/^listening (\d+)$/.exec(line)?.[1]);
      if (port) resolve(port);
      else reject(new Error(`unexpected output from the Firestore emulator: ${line}`));
    });
  });
  child.removeAllListeners('exit');
  return { host: `127.0.0.1:${port}`, port, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin!.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** The child side: serve until the parent closes stdin (or dies). */
async function serve(): Promise<void> {
  const module = (await import('@firestore-emulator/server')).default as typeof import('@firestore-emulator/server');
  speedUpInserts(module);
  const emulator = new module.FirestoreServer();
  // FirestoreServer.start binds 0.0.0.0 on a given port; binding its gRPC server directly
  // keeps the emulator on loopback and lets the system pick a free port.
  const grpc = (emulator as unknown as { server: GrpcServer }).server;
  // The emulator's own copy of grpc-js, so that credentials and server come from one module.
  const fromEmulator = createRequire(createRequire(import.meta.url).resolve('@firestore-emulator/server'));
  const { ServerCredentials } = fromEmulator('@grpc/grpc-js') as { ServerCredentials: { createInsecure(): unknown } };
  const credentials = ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    grpc.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  process.stdout.write(`listening ${port}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    emulator.stop();
    process.exit(0);
  });
}

/**
 * The emulator adds a document by copying its whole collection (an immer `produce` over a
 * record of every document), which makes seeding n documents take O(n²): minutes for 50,000.
 * Inserting in place gives the same state in O(n).
 */
function speedUpInserts(module: typeof import('@firestore-emulator/server')): void {
  type Collection = { documents: Record<string, unknown>; emitter: unknown; database: unknown };
  const { FirestoreStateCollection, FirestoreStateDocument } = module;
  const Document = FirestoreStateDocument as unknown as new (...args: unknown[]) => unknown;
  (FirestoreStateCollection.prototype as unknown as { getDocument(this: Collection, name: string): unknown }).getDocument = function (name) {
    if (!Object.prototype.hasOwnProperty.call(this.documents, name)) {
      if (Object.isFrozen(this.documents)) this.documents = { ...this.documents };
      this.documents[name] = new Document(this.emitter, this.database, this, name, {}, {});
    }
    return this.documents[name];
  };
}

interface GrpcServer {
  bindAsync(address: string, credentials: unknown, callback: (error: Error | null, port: number) => void): void;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--serve') await serve();
