/**
 * Writes a deterministic, realistic orders CSV for benchmarks and volume tests:
 * `node dist/bench/generate-csv.js <rows> <output.csv> [seed]`.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { prng } from './support.js';

/** Column names of the generated file, in order. */
export const ORDER_COLUMNS = [
  'id',
  'order_ref',
  'customer',
  'email',
  'amount',
  'quantity',
  'is_paid',
  'created_at',
  'ship_date',
  'note',
] as const;

const FIRST = ['Zoë', 'José', 'Łukasz', 'Ana', 'Søren', 'Małgorzata', 'Chloé', 'Jürgen', 'Olena', 'Dmytro', 'Amélie', 'Björn', '美咲', 'Ørjan', 'Li', 'Nuño'];
const LAST = ['Müller', 'García', 'Kowalski', 'Đorđević', 'Øvergård', 'Smith', 'Шевченко', 'Nowak', 'Dubois', 'Rossi', 'Åberg', '田中', "O'Brien", 'Núñez'];
const NOTES = [
  'leave at the door, please',
  'call "before" delivery',
  'gift wrap; no invoice',
  'fragile, handle with care',
  'second floor, ring twice',
  'customer said: "ASAP, thanks"',
  'deliver between 9 and 5',
];

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function quote(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV line (with its newline) for row `id`. */
function orderLine(id: number, random: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const hex = (length: number): string => {
    let text = '';
    while (text.length < length) text += Math.floor(random() * 0x100000000).toString(16).padStart(8, '0');
    return text.slice(0, length);
  };
  const first = pick(FIRST);
  const last = pick(LAST);
  const ref = `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
  const amount = (Math.floor(random() * 10_000_000) / 100).toFixed(2);
  const quantity = 1 + Math.floor(random() * 50);
  const paid = random() < 0.7 ? 'true' : 'false';
  // Spread over 2023–2024, with microseconds.
  const seconds = 1_672_531_200 + Math.floor(random() * 63_072_000);
  const created = new Date(seconds * 1000);
  const micros = pad(Math.floor(random() * 1_000_000), 6);
  const createdAt =
    `${created.getUTCFullYear()}-${pad(created.getUTCMonth() + 1)}-${pad(created.getUTCDate())}` +
    `T${pad(created.getUTCHours())}:${pad(created.getUTCMinutes())}:${pad(created.getUTCSeconds())}.${micros}Z`;
  const ship = new Date((seconds + 86_400 * (1 + Math.floor(random() * 10))) * 1000);
  const shipDate = `${ship.getUTCFullYear()}-${pad(ship.getUTCMonth() + 1)}-${pad(ship.getUTCDate())}`;
  let note = pick(NOTES);
  if (random() < 0.02) note += '\nsecond line of the note';
  const empty = random();
  const local = last.normalize('NFD').toLowerCase().replace(/[^a-z]/g, '') || 'user';
  const email = empty < 0.05 ? '' : `${local}.${id}@example.com`;
  const noteCell = empty > 0.9 ? '' : quote(note);
  return [id, ref, quote(`${first} ${last}`), email, amount, quantity, paid, createdAt, empty < 0.08 ? '' : shipDate, noteCell].join(',') + '\n';
}

/** Streams `rows` orders to `path`; returns rows and bytes written. */
export async function generateOrdersCsv(rows: number, path: string, seed = 42): Promise<{ rows: number; bytes: number }> {
  await mkdir(dirname(resolve(path)), { recursive: true });
  const out = createWriteStream(path);
  const random = prng(seed);
  let bytes = 0;
  const header = ORDER_COLUMNS.join(',') + '\n';
  out.write(header);
  bytes += Buffer.byteLength(header);
  let block = '';
  for (let id = 1; id <= rows; id++) {
    block += orderLine(id, random);
    if (block.length >= 1 << 16 || id === rows) {
      bytes += Buffer.byteLength(block);
      if (!out.write(block)) await once(out, 'drain');
      block = '';
    }
  }
  out.end();
  await once(out, 'finish');
  return { rows, bytes };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = Number(process.argv[2] ?? '1000000');
  const path = process.argv[3] ?? 'bench/data/orders.csv';
  const seed = Number(process.argv[4] ?? '42');
  if (!Number.isInteger(rows) || rows < 0) {
    console.error('usage: node dist/bench/generate-csv.js <rows> <output.csv> [seed]');
    process.exit(2);
  }
  const result = await generateOrdersCsv(rows, path, seed);
  console.log(`wrote ${result.rows} rows, ${result.bytes} bytes to ${path}`);
}
