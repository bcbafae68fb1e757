/**
 * Well-known binary (ISO WKB and PostGIS EWKB, either byte order, with Z and M) to well-known
 * text, the form GEOGRAPHY values travel in: `POINT (1 2)`, `LINESTRING Z (0 0 1, 1 1 2)`.
 * Coordinates print as the shortest text that reads back as the same double.
 */
// @ts-nocheck


const KINDS = ['', 'POINT', 'LINESTRING', 'POLYGON', 'MULTIPOINT', 'MULTILINESTRING', 'MULTIPOLYGON', 'GEOMETRYCOLLECTION'];

/** A reader over WKB bytes. */
class Reader {
  private offset = 0;
  private little = true;
  private readonly view: DataView;

  constructor(bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  order(): void {
    this.little = this.view.getUint8(this.offset++) === 1;
  }

  uint32(): number {
    const value = this.view.getUint32(this.offset, this.little);
    this.offset += 4;
    return value;
  }

  double(): number {
    const value = this.view.getFloat64(this.offset, this.little);
    this.offset += 8;
    return value;
  }

  get done(): boolean {
    return this.offset === this.view.byteLength;
  }
}

function number(value: number): string {
  return Number.isNaN(value) ? 'NaN' : String(value);
}

/** One geometry's text, from its byte order mark on. */
function geometry(reader: Reader): string {
  reader.order();
  let code = reader.uint32();
  // EWKB: flags in the high bits, an SRID after the type when its flag is set.
  let z = (code & 0x80000000) !== 0;
  let m = (code & 0x40000000) !== 0;
  if (code & 0x20000000) reader.uint32();
  code &= 0x0fffffff;
  // ISO WKB: thousands for Z (1000), M (2000) and ZM (3000).
  const dimensions = Math.floor(code / 1000);
  if (dimensions === 1 || dimensions === 3) z = true;
  if (dimensions === 2 || dimensions === 3) m = true;
  const kind = KINDS[code % 1000];
  if (!kind) throw new Error(`unknown WKB geometry type ${code}`);
  const width = 2 + (z ? 1 : 0) + (m ? 1 : 0);
  const point = () => Array.from({ length: width }, () => number(reader.double())).join(' ');
  const points = () => {
    const count = reader.uint32();
    return Array.from({ length: count }, point);
  };
  const list = (items: string[]) => (items.length ? `(${items.join(', ')})` : 'EMPTY');
  const head = `${kind}${z && m ? ' ZM' : z ? ' Z' : m ? ' M' : ''} `;
  switch (kind) {
    case 'POINT': {
      const coordinates = point();
      // An empty point is written with NaN coordinates.
      return coordinates.split(' ').every((part) => part === 'NaN') ? `${head}EMPTY` : `${head}(${coordinates})`;
    }
    case 'LINESTRING':
      return head + list(points());
    case 'POLYGON': {
      const rings = reader.uint32();
      return head + list(Array.from({ length: rings }, () => list(points())));
    }
    default: {
      const count = reader.uint32();
      const parts = Array.from({ length: count }, () => geometry(reader));
      // Members of a multi-geometry drop their type name: MULTIPOINT ((1 2), (3 4)).
      return head + list(kind === 'GEOMETRYCOLLECTION' ? parts : parts.map((part) => part.slice(part.indexOf(' ') + 1).replace(/^[ZM]+ /, '')));
    }
  }
}

/** The well-known text of WKB bytes; throws on bytes that are not WKB. */
export function wkbToWkt(bytes: Uint8Array): string {
  const reader = new Reader(bytes);
  const text = geometry(reader);
  if (!reader.done) throw new Error('bytes left after a WKB geometry');
  return text;
}
