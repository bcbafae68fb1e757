/**
 * Bytes → text for the streaming formats: strips a byte order mark, recognizes UTF-16 by its
 * BOM, and remembers whether any bytes were not valid UTF-8 so the format can reject the rows
 * that hold them instead of loading replacement characters silently.
 */
// @ts-nocheck

import { isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
import { ConfigError } from '../../src/core/errors.js';

/** A stateful decoder fed chunk by chunk; multi-byte characters may straddle chunks. */
export interface TextChunkDecoder {
  /**
   * Decodes the next chunk. `prefix` is text to put before it: where the encoding allows, it is
   * decoded together with the chunk so the result is one flat string rather than a concatenation.
   */
  write(chunk: Buffer, prefix?: string): string;
  end(): string;
  /** True once some input was not valid in the encoding; the text then holds U+FFFD in its place. */
  readonly invalid: boolean;
  /** The encoding in use, after BOM sniffing. */
  readonly encoding: string;
}

const UTF8_NAMES = new Set(['utf-8', 'utf8']);
const SINGLE_BYTE: Record<string, string> = { latin1: 'latin1', 'iso-8859-1': 'latin1', 'windows-1252': 'windows-1252', cp1252: 'windows-1252' };
const UTF16_NAMES = new Set(['utf-16', 'utf16', 'utf-16le', 'utf16le', 'utf-16be', 'utf16be']);

/** The decoder for `encoding` (default UTF-8); a UTF-16 BOM wins over a UTF-8 default. */
export function createTextDecoder(encoding = 'utf-8', fileName = ''): TextChunkDecoder {
  const name = encoding.toLowerCase();
  if (!UTF8_NAMES.has(name) && !Object.hasOwn(SINGLE_BYTE, name) && !UTF16_NAMES.has(name)) {
    throw ConfigError.of(
      `${fileName ? `${fileName}: ` : ''}unsupported encoding "${encoding}"`,
      'set source.csv.encoding to utf-8, latin1, iso-8859-1, windows-1252 or utf-16',
    );
  }
  return new SniffingDecoder(name);
}

class SniffingDecoder implements TextChunkDecoder {
  private inner: TextChunkDecoder | undefined;
  private head: Buffer | undefined;

  constructor(private readonly requested: string) {}

  get invalid(): boolean {
    return this.inner?.invalid ?? false;
  }

  get encoding(): string {
    return this.inner?.encoding ?? this.requested;
  }

  write(chunk: Buffer, prefix = ''): string {
    if (this.inner) return this.inner.write(chunk, prefix);
    // A BOM needs up to 3 bytes; a first chunk can be shorter than that.
    this.head = this.head ? Buffer.concat([this.head, chunk]) : chunk;
    if (this.head.length < 3) return prefix;
    return prefix + this.start(this.head);
  }

  end(): string {
    if (this.inner) return this.inner.end();
    const head = this.head ?? Buffer.alloc(0);
    return this.start(head) + this.inner!.end();
  }

  private start(head: Buffer): string {
    this.head = undefined;
    this.inner = this.choose(head);
    return this.inner.write(head);
  }

  private choose(head: Buffer): TextChunkDecoder {
    const utf16 = head[0] === 0xff && head[1] === 0xfe ? 'utf-16le' : head[0] === 0xfe && head[1] === 0xff ? 'utf-16be' : undefined;
    const name = this.requested;
    if (utf16 && (UTF8_NAMES.has(name) || UTF16_NAMES.has(name))) return new IconvDecoder(utf16);
    if (UTF8_NAMES.has(name)) return new Utf8Decoder();
    if (UTF16_NAMES.has(name)) return new IconvDecoder(name.includes('be') ? 'utf-16be' : name.includes('le') ? 'utf-16le' : 'utf-16');
    return new IconvDecoder(SINGLE_BYTE[name]!);
  }
}

/** UTF-8 through the native decoder, validating each chunk cut at a character boundary. */
class Utf8Decoder implements TextChunkDecoder {
  readonly encoding = 'utf-8';
  invalid = false;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private carry: Buffer | undefined;
  private first = true;
  /** Reused to join a prefix, a carried partial character and a chunk without allocating. */
  private scratch = Buffer.alloc(0);

  write(chunk: Buffer, prefix = ''): string {
    let bytes = chunk;
    if (prefix || this.carry) {
      const head = prefix ? Buffer.byteLength(prefix) : 0;
      const carried = this.carry?.length ?? 0;
      const length = head + carried + chunk.length;
      if (this.scratch.length < length) this.scratch = Buffer.allocUnsafeSlow(Math.max(length, 2 * this.scratch.length));
      if (head) this.scratch.write(prefix, 0, 'utf8');
      if (this.carry) this.carry.copy(this.scratch, head);
      chunk.copy(this.scratch, head + carried);
      bytes = this.scratch.subarray(0, length);
    }
    this.carry = undefined;
    if (this.first) {
      this.first = false;
      if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    }
    const cut = completeLength(bytes);
    if (cut < bytes.length) this.carry = Buffer.from(bytes.subarray(cut));
    const part = bytes.subarray(0, cut);
    if (!this.invalid && !isUtf8(part)) this.invalid = true;
    return this.decoder.decode(part);
  }

  end(): string {
    if (!this.carry) return '';
    // Bytes left over are a truncated character.
    this.invalid = true;
    const text = this.decoder.decode(this.carry);
    this.carry = undefined;
    return text;
  }
}

/** Length of the prefix of `bytes` that ends on a UTF-8 character boundary. */
function completeLength(bytes: Uint8Array): number {
  const length = bytes.length;
  for (let i = length - 1; i >= 0 && i >= length - 4; i--) {
    const byte = bytes[i]!;
    if ((byte & 0xc0) === 0x80) continue;
    const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + needed > length ? i : length;
  }
  return length;
}

/** Every other encoding, through iconv-lite (which strips a BOM itself). */
class IconvDecoder implements TextChunkDecoder {
  readonly invalid = false;
  private readonly decoder: ReturnType<typeof iconv.getDecoder>;

  constructor(readonly encoding: string) {
    this.decoder = iconv.getDecoder(encoding);
  }

  write(chunk: Buffer, prefix = ''): string {
    return prefix + this.decoder.write(chunk);
  }

  end(): string {
    return this.decoder.end() ?? '';
  }
}
