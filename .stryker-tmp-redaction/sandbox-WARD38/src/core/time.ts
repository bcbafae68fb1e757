/**
 * Exact date and time handling: timestamps as bigint microseconds since the epoch (UTC), so
 * that microseconds survive where a JavaScript Date keeps only milliseconds.
 */
// @ts-nocheck


const TIMESTAMP_TEXT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)?$/i;
const TIME_TEXT = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;
const MICROS_PER_SECOND = 1_000_000n;
const MICROS_PER_DAY = 86_400n * MICROS_PER_SECOND;

/**
 * Parses ISO 8601 text (`2024-03-01`, `2024-03-01 10:00:00.123456+02:00`, `…Z`) into UTC
 * microseconds; text without a zone is taken as UTC. Digits beyond microseconds are truncated.
 * Returns undefined for text that is not a valid timestamp.
 */
export function parseTimestamp(text: string): bigint | undefined {
  return parseIsoUtc(text) ?? parseGeneral(text);
}

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function digits(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/**
 * The common shape `YYYY-MM-DD[T ]HH:MM:SS[.f…]Z` (or no zone), parsed without regular expressions
 * or Date objects: this runs once per cell in large CSV files.
 */
function parseIsoUtc(text: string): bigint | undefined {
  const length = text.length;
  if (length < 19 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return undefined;
  const separator = text.charCodeAt(10);
  if (separator !== 84 && separator !== 32) return undefined;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  if (day > daysInMonth(year, month)) return undefined;
  let i = 19;
  let micros = 0;
  if (text.charCodeAt(i) === 46) {
    i++;
    let scale = 100_000;
    const start = i;
    while (i < length) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      if (scale >= 1) micros += d * scale;
      scale /= 10;
      i++;
    }
    if (i === start || i - start > 9) return undefined;
  }
  if (i < length && !(i === length - 1 && (text.charCodeAt(i) === 90 || text.charCodeAt(i) === 122))) return undefined;
  const seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
  const exact = seconds * 1_000_000 + Math.round(micros);
  // One bigint, made from a number that is exact between the years 1685 and 2255.
  return Number.isSafeInteger(exact) ? BigInt(exact) : BigInt(seconds) * MICROS_PER_SECOND + BigInt(Math.round(micros));
}

/** Whether text is a valid `YYYY-MM-DD` date. */
export function isIsoDate(text: string): boolean {
  if (text.length !== 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return false;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  return year >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

function parseGeneral(text: string): bigint | undefined {
  const m = TIMESTAMP_TEXT.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 60) return undefined;
  const millis = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59));
  const dateUtc = new Date(millis);
  if (year < 100) dateUtc.setUTCFullYear(year);
  let micros = BigInt(dateUtc.getTime()) * 1000n + BigInt((fraction + '000000').slice(0, 6));
  if (zone && zone.toUpperCase() !== 'Z' && zone.toUpperCase() !== 'UTC') {
    const sign = zone[0] === '-' ? -1n : 1n;
    const digits = zone.slice(1).replace(':', '');
    const offsetMinutes = BigInt(Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
    micros -= sign * offsetMinutes * 60n * MICROS_PER_SECOND;
  }
  return micros;
}

/** A date, and the time of day when one follows it, in canonical text. */
export interface SpelledDate {
  /** `YYYY-MM-DD` */
  readonly date: string;
  /** `HH:MM:SS.ffffff`, when the text has a time of day. */
  readonly time?: string;
}

/**
 * A way of spelling dates: a pattern of `DD`, `MM` and `YYYY` joined by one of `/`, `.` or `-`
 * (`DD/MM/YYYY`), each value optionally followed by a space and `HH:MM[:SS[.f…]]`. Days and
 * months take one or two digits; digits beyond microseconds are truncated.
 */
export class DateSpelling {
  private readonly pattern: RegExp;
  /** Positions of year, month and day among the pattern's groups. */
  private readonly order: { year: number; month: number; day: number };

  constructor(readonly format: string) {
    const match = DATE_FORMAT.exec(format);
    if (!match) throw new Error(`invalid date format ${format}`);
    const parts = [match[1]!, match[3]!, match[4]!];
    const separator = `\\${match[2]}`;
    const groups = parts.map((part) => (part === 'YYYY' ? '(\\d{4})' : '(\\d{1,2})'));
    this.pattern = new RegExp(`^${groups.join(separator)}(?: (\\d{2}):(\\d{2})(?::(\\d{2})(?:\\.(\\d{1,9}))?)?)?$`);
    this.order = { year: parts.indexOf('YYYY') + 1, month: parts.indexOf('MM') + 1, day: parts.indexOf('DD') + 1 };
  }

  /** The date (and time) the text spells, or undefined when it is not spelled so or is no valid date. */
  read(text: string): SpelledDate | undefined {
    const m = this.pattern.exec(text);
    if (!m) return undefined;
    const year = Number(m[this.order.year]);
    const month = Number(m[this.order.month]);
    const day = Number(m[this.order.day]);
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
    const date = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
    if (m[4] === undefined) return { date };
    const [hour, minute, second = '00', fraction = ''] = [m[4], m[5]!, m[6], m[7]];
    if (Number(hour) > 23 || Number(minute) > 59 || Number(second) > 59) return undefined;
    return { date, time: `${hour}:${minute}:${second}.${(fraction + '000000').slice(0, 6)}` };
  }
}

/** `source.csv.date_format`: `DD`, `MM` and `YYYY`, each once, joined twice by the same `/`, `.` or `-`. */
export const DATE_FORMAT = /^(DD|MM|YYYY)([/.-])(DD|MM|YYYY)\2(DD|MM|YYYY)$/;

/** Whether a `source.csv.date_format` names each of DD, MM and YYYY once, with one separator. */
export function isDateFormat(format: string): boolean {
  const match = DATE_FORMAT.exec(format);
  return Boolean(match) && new Set([match![1], match![3], match![4]]).size === 3;
}

const spellings = new Map<string, DateSpelling>();

/** The year-first spelling every text source is read with: `2024/03/01`, `2024/03/01 10:00:00`. */
export const SLASH_DATE = 'YYYY/MM/DD';

/**
 * The date text spells in the year-first slash form, or in `format` (`source.csv.date_format`)
 * when one is given; undefined when it spells none.
 */
export function readSpelledDate(text: string, format?: string): SpelledDate | undefined {
  const length = text.length;
  if (length < 8 || length > 32) return undefined;
  return spelling(SLASH_DATE).read(text) ?? (format ? spelling(format).read(text) : undefined);
}

function spelling(format: string): DateSpelling {
  let found = spellings.get(format);
  if (!found) spellings.set(format, (found = new DateSpelling(format)));
  return found;
}

/** Microseconds since the epoch of a spelled date and time, read as UTC. */
export function spelledMicros(spelled: SpelledDate): bigint {
  return parseTimestamp(`${spelled.date}T${spelled.time ?? '00:00:00'}Z`)!;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[month - 1];
}

function pad(value: number | bigint, width: number): string {
  return String(value).padStart(width, '0');
}

/** The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's civil_from_days). */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

/** A year as ISO 8601 writes it: four digits, more when it needs them, a minus sign before year 0. */
function yearText(year: number): string {
  return `${year < 0 ? '-' : ''}${pad(Math.abs(year), 4)}`;
}

/**
 * `YYYY-MM-DD<separator>HH:MM:SS.ffffff` of UTC microseconds, for any year: computed from the day
 * count, never through a JavaScript Date (which stops at ±275,760 years and keeps milliseconds).
 */
function wallClock(micros: bigint, separator: string): string {
  let days = micros / MICROS_PER_DAY;
  let rest = micros % MICROS_PER_DAY;
  if (rest < 0n) {
    rest += MICROS_PER_DAY;
    days -= 1n;
  }
  const { year, month, day } = civilFromDays(Number(days));
  const time = Number(rest);
  const seconds = Math.floor(time / 1_000_000);
  const clock = `${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}:${pad(seconds % 60, 2)}.${pad(time % 1_000_000, 6)}`;
  return `${yearText(year)}-${pad(month, 2)}-${pad(day, 2)}${separator}${clock}`;
}

/** Microseconds since the epoch of a canonical DATE or DATETIME text of any year; undefined when it is neither. */
export function canonicalMicros(text: string): bigint | undefined {
  const m = /^(-?\d{4,})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$/.exec(text);
  if (!m) return undefined;
  const days = BigInt(daysFromCivil(Number(m[1]), Number(m[2]), Number(m[3])));
  const seconds = Number(m[4] ?? 0) * 3600 + Number(m[5] ?? 0) * 60 + Number(m[6] ?? 0);
  return days * MICROS_PER_DAY + BigInt(seconds) * MICROS_PER_SECOND + BigInt((m[7] ?? '').padEnd(6, '0'));
}

/** `2024-03-01T10:00:00.123456Z` */
export function formatTimestamp(micros: bigint): string {
  return `${wallClock(micros, 'T')}Z`;
}

/** `2024-03-01 10:00:00.123456`: the UTC wall clock of a timestamp, for DATETIME. */
export function formatDatetime(micros: bigint): string {
  return wallClock(micros, ' ');
}

/** `2024-03-01`: the UTC date of a timestamp. */
export function formatDate(micros: bigint): string {
  const text = wallClock(micros, ' ');
  return text.slice(0, text.indexOf(' '));
}

/** Microseconds of a Date (millisecond precision). */
export function dateToMicros(date: Date): bigint {
  return BigInt(date.getTime()) * 1000n;
}

/** Normalizes `HH:MM[:SS[.f]]` to `HH:MM:SS.ffffff`; undefined when invalid. */
export function normalizeTime(text: string): string | undefined {
  const m = TIME_TEXT.exec(text.trim());
  if (!m) return undefined;
  const [, h, mi, s = '00', fraction = ''] = m;
  if (Number(h) > 24 || Number(mi) > 59 || Number(s) > 60) return undefined;
  return `${h}:${mi}:${s}.${(fraction + '000000').slice(0, 6)}`;
}

/** Whole days since the epoch to `YYYY-MM-DD`. */
export function daysToDate(days: number): string {
  return formatDate(BigInt(days) * MICROS_PER_DAY);
}
