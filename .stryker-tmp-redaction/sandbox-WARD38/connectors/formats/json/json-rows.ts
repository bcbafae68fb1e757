/**
 * Rows from JSON objects, shared by the json and jsonl formats: fields are the union of keys in
 * first-seen order (append-only across batches); numbers beyond 2^53 stay exact as bigint.
 */
// @ts-nocheck

import type { FileRowBatch, ParseReject } from '../../../src/core/connector.js';
import { safeJson } from '../../../src/core/convert.js';

const MAX_RAW = 10_000;

/** A JSON number's text as a JS value: integers that do not fit a double exactly become bigint. */
export function parseJsonNumber(text: string): number | bigint {
  const value = Number(text);
  if (Number.isSafeInteger(value) || text.length < 16 || /[.eE]/.test(text)) return value;
  return BigInt(text);
}

/** Gathers parsed values into batches of aligned rows, with rejects for non-objects. */
export class JsonRowCollector {
  /** Batches completed and not yet handed out. */
  readonly ready: FileRowBatch[] = [];
  private readonly fields: string[] = [];
  private readonly index = new Map<string, number>();
  private rows: unknown[][] = [];
  private positions: number[] = [];
  private rejects: ParseReject[] = [];
  private emitted = false;

  constructor(
    private readonly batchSize: number,
    /** How a position reads in messages: `line 3`, `element 3`. */
    private readonly unit: 'line' | 'element',
  ) {}

  /** Adds one parsed value found at `position` (1-based); `raw` is its text when known. */
  add(value: unknown, position: number, raw?: string): void {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.reject(position, `${this.unit} ${position} is ${describe(value)}, not a JSON object`, raw ?? safeJson(value));
      return;
    }
    const row: unknown[] = new Array(this.fields.length).fill(undefined);
    for (const key of Object.keys(value)) {
      let at = this.index.get(key);
      if (at === undefined) {
        at = this.fields.length;
        this.fields.push(key);
        this.index.set(key, at);
      }
      row[at] = (value as Record<string, unknown>)[key];
    }
    this.rows.push(row);
    this.positions.push(position);
    this.full();
  }

  /** Records a value that could not be parsed. */
  reject(position: number, reason: string, raw: string): void {
    this.rejects.push({ position, reason, raw: raw.length > MAX_RAW ? `${raw.slice(0, MAX_RAW)}…` : raw });
    this.full();
  }

  /** Emits what is left; a file with no rows at all still yields one empty batch. */
  finish(): void {
    if (this.rows.length || this.rejects.length || !this.emitted) this.flush();
  }

  private full(): void {
    if (this.rows.length + this.rejects.length >= this.batchSize) this.flush();
  }

  private flush(): void {
    const batch: FileRowBatch = { fields: this.fields.slice(), rows: this.rows, positions: this.positions };
    this.ready.push(this.rejects.length ? { ...batch, rejects: this.rejects } : batch);
    this.emitted = true;
    this.rows = [];
    this.positions = [];
    this.rejects = [];
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value === 'bigint' ? 'number' : typeof value}`;
}
