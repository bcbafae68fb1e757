/**
 * Parquet values as the core holds them: exact timestamps (bigint microseconds, any year),
 * decimals as exact text, geometries as well-known text, and nested values (structs, lists,
 * maps) as JSON text in which every leaf keeps its logical type: timestamps and dates as ISO
 * strings, decimals and 64-bit integers as JSON numbers with every digit.
 */
// @ts-nocheck

import type { ParquetParsers, SchemaElement, SchemaTree } from 'hyparquet';
import { isListLike, isMapLike } from 'hyparquet/src/schema.js';
import { daysToDate, formatDatetime, formatTimestamp } from '../../../src/core/time.js';
import { wkbToWkt } from './wkb-text.js';

const utf8 = new TextDecoder();

/** Value parsers: exact timestamps (bigint microseconds), dates and JSON as text, geometries as WKT. */
export const PARSERS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (millis: bigint) => BigInt(millis) * 1000n,
  timestampFromMicroseconds: (micros: bigint) => BigInt(micros),
  timestampFromNanoseconds: (nanos: bigint) => floorDivide(BigInt(nanos), 1000n),
  dateFromDays: (days: number) => daysToDate(Number(days)),
  jsonFromBytes: (bytes: Uint8Array) => bytes && utf8.decode(bytes),
  geometryFromBytes: (bytes: Uint8Array) => bytes && wkbToWkt(bytes),
  geographyFromBytes: (bytes: Uint8Array) => bytes && wkbToWkt(bytes),
};

function floorDivide(a: bigint, b: bigint): bigint {
  const quotient = a / b;
  return a % b < 0n ? quotient - 1n : quotient;
}

/** The exact decimal text of an unscaled integer (INT32, INT64 or big-endian two's complement bytes). */
export function decimalText(value: unknown, scale: number): string {
  let unscaled: bigint;
  if (value instanceof Uint8Array) {
    if (!value.length) return '0';
    unscaled = BigInt(`0x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`);
    if (value[0]! & 0x80) unscaled -= 1n << BigInt(value.length * 8);
  } else {
    unscaled = BigInt(value as number | bigint);
  }
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString();
  if (scale <= 0) return `${negative ? '-' : ''}${digits}${'0'.repeat(-scale)}`;
  const padded = digits.padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
}

/** `HH:MM:SS.ffffff` from microseconds since midnight. */
export function timeText(micros: bigint): string {
  const total = Number(micros);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const seconds = Math.floor(total / 1_000_000);
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}.${pad(total % 1_000_000, 6)}`;
}

/** The decimal scale of a DECIMAL element, or undefined when it is not one. */
export function decimalScale(element: SchemaElement): number | undefined {
  if (element.logical_type?.type === 'DECIMAL') return element.logical_type.scale;
  return element.converted_type === 'DECIMAL' ? (element.scale ?? 0) : undefined;
}

/** Microseconds per unit of a TIME element's raw values (a fraction for nanoseconds). */
export function timeUnit(element: SchemaElement): { perMicro: bigint; perNano: bigint } | undefined {
  const logical = element.logical_type;
  const unit = logical?.type === 'TIME' ? logical.unit : element.converted_type === 'TIME_MILLIS' ? 'MILLIS' : element.converted_type === 'TIME_MICROS' ? 'MICROS' : undefined;
  if (!unit) return undefined;
  return { perMicro: unit === 'MILLIS' ? 1000n : 1n, perNano: unit === 'NANOS' ? 1000n : 1n };
}

/** JSON text of one leaf value, by the logical type of its element. */
function leafJson(value: unknown, element: SchemaElement): string {
  if (value === null || value === undefined) return 'null';
  const scale = decimalScale(element);
  if (scale !== undefined) return decimalText(value, scale);
  const logical = element.logical_type;
  if (typeof value === 'bigint') {
    const timestamp = logical?.type === 'TIMESTAMP' || element.converted_type === 'TIMESTAMP_MILLIS' || element.converted_type === 'TIMESTAMP_MICROS' || element.type === 'INT96';
    if (timestamp) return JSON.stringify(logical?.type === 'TIMESTAMP' && !logical.isAdjustedToUTC ? formatDatetime(value) : formatTimestamp(value));
  }
  const time = timeUnit(element);
  if (time) return JSON.stringify(timeText((BigInt(value as number | bigint) * time.perMicro) / time.perNano));
  // JSON text from the file is spliced in as it is: it keeps its own types.
  if ((logical?.type === 'JSON' || element.converted_type === 'JSON') && typeof value === 'string') return value;
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
      // JSON has no NaN or infinity: they travel as text rather than as a lossy null.
      return Number.isFinite(value) ? String(value) : JSON.stringify(String(value));
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    default:
      if (value instanceof Uint8Array) {
        const text = logical?.type === 'STRING' || logical?.type === 'ENUM' || element.converted_type === 'UTF8' || element.converted_type === 'ENUM';
        return JSON.stringify(text ? utf8.decode(value) : Buffer.from(value).toString('base64'));
      }
      return JSON.stringify(value);
  }
}

/** The element node of a LIST, as hyparquet assembles its values. */
function listElement(node: SchemaTree): SchemaTree {
  const repeated = node.children[0]!;
  return repeated.children.length === 1 ? repeated.children[0]! : repeated;
}

/** JSON text of a value at `node`, not counting the node's own repetition. */
function valueJson(value: unknown, node: SchemaTree): string {
  if (value === null || value === undefined) return 'null';
  if (isListLike(node)) {
    const element = listElement(node);
    return `[${(value as unknown[]).map((item) => nodeJson(item, element)).join(',')}]`;
  }
  if (isMapLike(node)) {
    const valueNode = node.children[0]!.children.find((child) => child.element.name === 'value')!;
    const entries = value instanceof Map ? [...value] : Object.entries(value as Record<string, unknown>);
    return `{${entries.map(([key, item]) => `${JSON.stringify(String(key))}:${nodeJson(item, valueNode)}`).join(',')}}`;
  }
  if (node.children.length) {
    const record = value as Record<string, unknown>;
    return `{${node.children.map((child) => `${JSON.stringify(child.element.name)}:${nodeJson(record[child.element.name], child)}`).join(',')}}`;
  }
  return leafJson(value, node.element);
}

/** JSON text of a value at `node`: an array of them when the node repeats outside a LIST. */
export function nodeJson(value: unknown, node: SchemaTree): string {
  if (node.element.repetition_type === 'REPEATED' && Array.isArray(value)) return `[${value.map((item) => valueJson(item, node)).join(',')}]`;
  return valueJson(value, node);
}
