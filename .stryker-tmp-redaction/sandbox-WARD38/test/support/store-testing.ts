/** Small helpers the object-store tests share. */
import os from 'node:os';
import type { Readable } from 'node:stream';
import type { ConnectorContext, ObjectInfo, ObjectStore } from '../../src/core/connector.js';
import type { EtlError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';

/** A connector context for a store connection in tests. */
export function storeContext(name: string, config: ConnectorContext['config']): ConnectorContext {
  return { name, config, baseDir: os.tmpdir(), log: silentLogger };
}

/** Every object a listing yields. */
export async function collect(store: ObjectStore, prefix: string): Promise<ObjectInfo[]> {
  const items: ObjectInfo[] = [];
  for await (const item of store.list(prefix)) items.push(item);
  return items;
}

/** A stream's bytes as UTF-8 text. */
export async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** An error's message and hint together, to check that no secret shows in either. */
export function messageAndHint(error: EtlError): string {
  return `${error.message} ${error.hint ?? ''}`;
}
