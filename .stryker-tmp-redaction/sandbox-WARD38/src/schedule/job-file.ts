/**
 * Editing `schedule.paused` in a job file in place: the yaml Document API locates the nodes,
 * and only the bytes of that one value change (or one `paused:` entry is added), so comments,
 * quoting, flow maps and blank lines stay as the user wrote them.
 */
// @ts-nocheck

import { isMap, isScalar, parseDocument, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import { ConfigError } from '../core/errors.js';

/** `text` with `schedule.paused` set to `paused`; unchanged text when it already is. */
export function withPaused(text: string, paused: boolean, file: string): string {
  const doc = parseDocument(text);
  const schedule = doc.get('schedule', true);
  if (!isMap(schedule) || !schedule.range) {
    throw ConfigError.of(`${file} has no schedule: block to pause or resume`, 'add schedule: { cron: "0 9 * * *", timezone: UTC } first', file);
  }
  const pair = schedule.items.find((item) => isScalar(item.key) && item.key.value === 'paused') as Pair<YamlNode, YamlNode> | undefined;
  const value = pair?.value;
  let edited: string;
  if (isScalar(value) && value.range) {
    if (value.value === paused) return text;
    edited = text.slice(0, value.range[0]) + String(paused) + text.slice(value.range[1]);
  } else if (!pair) {
    edited = insertPair(text, schedule, `paused: ${paused}`);
  } else {
    throw ConfigError.of(`${file}: schedule.paused is not a plain true/false`, 'write paused: true or paused: false', file);
  }
  const check = parseDocument(edited);
  if (check.errors.length || check.getIn(['schedule', 'paused']) !== paused) {
    throw ConfigError.of(`${file}: could not set schedule.paused without rewriting the file`, `set paused: ${paused} under schedule: by hand`, file);
  }
  return edited;
}

/** Adds `entry` as the last pair of a map: inside a flow map's braces, or as a new line of a block map. */
function insertPair(text: string, map: YAMLMap, entry: string): string {
  const [start, end] = map.range!;
  if (map.flow) {
    const close = text.lastIndexOf('}', end);
    const before = text.slice(start, close).trimEnd();
    const at = start + before.length;
    const separator = before.endsWith('{') ? ' ' : ', ';
    return `${text.slice(0, at)}${separator}${entry}${text.slice(at)}`;
  }
  const first = map.items[0]?.key as YamlNode | undefined;
  const last = map.items.at(-1)?.value as YamlNode | undefined;
  const lineStart = text.lastIndexOf('\n', (first?.range?.[0] ?? start) - 1) + 1;
  const indent = text.slice(lineStart, first?.range?.[0] ?? start);
  const lastEnd = last?.range?.[1] ?? end;
  const lineEnd = text.indexOf('\n', Math.max(lastEnd - 1, 0));
  const crlf = lineEnd > 0 && text[lineEnd - 1] === '\r';
  const at = lineEnd < 0 ? text.length : crlf ? lineEnd - 1 : lineEnd;
  return `${text.slice(0, at)}${crlf ? '\r\n' : '\n'}${indent}${entry}${text.slice(at)}`;
}
