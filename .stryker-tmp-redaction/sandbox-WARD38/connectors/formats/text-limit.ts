/**
 * The one limit b2betl itself puts on a value: a text field is a JavaScript string, and V8 holds
 * no string longer than `MAX_STRING_LENGTH` (about 512 MiB). Formats fail with this message
 * before they try to build one, naming the file, the line and the column.
 */
// @ts-nocheck

import { constants } from 'node:buffer';
import { BadRecordError, megabytes } from '../../src/core/errors.js';

/** The longest text, in UTF-16 code units, that one record or value may hold. */
export const MAX_TEXT = constants.MAX_STRING_LENGTH;

/**
 * The error of a value longer than {@link MAX_TEXT}: `file:line: column: value of N MB exceeds …`.
 * `size` is its length when known; a format that stops reading at the limit knows only that.
 */
export function valueTooLarge(where: string, column: string | undefined, size?: number): BadRecordError {
  const value = size === undefined ? `value of over ${megabytes(MAX_TEXT)} MB` : `value of ${megabytes(size)} MB`;
  return new BadRecordError(
    where,
    column,
    `${value} exceeds the ${megabytes(MAX_TEXT)} MB b2betl can hold in one value; if the field is not meant to be this long, a quote or bracket is probably never closed`,
  );
}
