/**
 * Editing YAML files in place: the yaml Document API locates the nodes, and only the bytes of
 * the value that changes are rewritten (or one entry is added to its map), so comments, key
 * order, quoting, flow maps and blank lines stay as the user wrote them.
 */
import { isMap, isScalar, parseDocument, stringify, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import { ConfigError } from './errors.js';

type Path = readonly string[];

/** `text` with the value at `path` set to `value` (maps along the path are added when missing). */
export function setIn(text: string, path: Path, value: unknown, file: string): string {
  const doc = parseDocument(text);
  if (doc.errors.length) throw ConfigError.of(`${file} is not valid YAML: ${doc.errors[0].message.split('\n')[0]}`, 'fix it first', file);
  const current = doc.getIn(path as string[], true) as YamlNode | undefined;
  let edited: string;
  if (current !== undefined && isScalar(current) && current.range && (value === null || typeof value !== 'object')) {
    if (current.value === value) return text;
    edited = text.slice(0, current.range[0]) + scalarText(value) + text.slice(current.range[1]);
  } else if (current !== undefined) {
    throw ConfigError.of(`${file}: ${path.join('.')} is not a plain value`, `set ${path.join('.')} by hand`, file);
  } else {
    edited = insertMissing(text, doc.contents as YamlNode | null, path, value, file);
  }
  return verified(edited, path, value, file);
}

/**
 * `text` with `key: value` added as the last entry of the map at `mapPath` (created when
 * missing), `comment` as a line above it. Throws when the key exists.
 */
export function addEntry(text: string, mapPath: Path, key: string, value: unknown, file: string, comment?: string): string {
  const doc = parseDocument(text);
  if (doc.errors.length) throw ConfigError.of(`${file} is not valid YAML: ${doc.errors[0].message.split('\n')[0]}`, 'fix it first', file);
  if (doc.getIn([...mapPath, key] as string[], true) !== undefined) {
    throw ConfigError.of(`${file}: ${[...mapPath, key].join('.')} already exists`, 'pick another name', file);
  }
  return verified(insertMissing(text, doc.contents as YamlNode | null, [...mapPath, key], value, file, comment), [...mapPath, key], value, file);
}

/** Removes `edited`'s doubt: it parses, and holds `value` at `path`. */
function verified(edited: string, path: Path, value: unknown, file: string): string {
  const check = parseDocument(edited);
  const got = check.getIn(path as string[]);
  const same = JSON.stringify(got && typeof got === 'object' && 'toJSON' in got ? (got as { toJSON(): unknown }).toJSON() : got) === JSON.stringify(value);
  if (check.errors.length || !same) {
    throw ConfigError.of(`${file}: could not set ${path.join('.')} without rewriting the file`, `set ${path.join('.')} by hand`, file);
  }
  return edited;
}

function scalarText(value: unknown): string {
  return stringify(value).trimEnd();
}

/** Inserts the part of `path` that is missing into the deepest map that exists. */
function insertMissing(text: string, root: YamlNode | null, path: Path, value: unknown, file: string, comment?: string): string {
  let map: YAMLMap | undefined = isMap(root) ? root : undefined;
  let depth = 0;
  if (!map) {
    if (root !== null && root !== undefined && !(isScalar(root) && root.value === null)) {
      throw ConfigError.of(`${file} does not hold a mapping at its top`, 'fix the file first', file);
    }
    return `${text}${text && !text.endsWith('\n') ? '\n' : ''}${block(path, value, '', comment)}`;
  }
  while (depth < path.length - 1) {
    const pair = map.items.find((item) => isScalar(item.key) && item.key.value === path[depth]) as Pair<YamlNode, YamlNode> | undefined;
    if (!pair) break;
    if (isMap(pair.value)) {
      map = pair.value;
      depth++;
      continue;
    }
    if (pair.value === null || (isScalar(pair.value) && pair.value.value === null)) {
      // `key:` with nothing (or null) under it: its value becomes the rest of the path.
      const keyNode = pair.key as YamlNode;
      const lineStart = text.lastIndexOf('\n', keyNode.range![0] - 1) + 1;
      const indent = text.slice(lineStart, keyNode.range![0]);
      const colon = text.indexOf(':', keyNode.range![1]);
      const valueEnd = isScalar(pair.value) && pair.value.range ? pair.value.range[1] : colon + 1;
      const newlineAt = text.indexOf('\n', valueEnd);
      const lineEnd = newlineAt < 0 ? text.length : text[newlineAt - 1] === '\r' ? newlineAt - 1 : newlineAt;
      const trailing = text.slice(valueEnd, lineEnd).trim();
      const body = indentLines(stringify(nest(path.slice(depth + 1), value), { indent: 2 }).trimEnd(), `${indent}  `, comment);
      return `${text.slice(0, colon + 1)}${trailing ? ` ${trailing}` : ''}\n${body}${newlineAt < 0 ? '\n' : ''}${text.slice(lineEnd)}`;
    }
    throw ConfigError.of(`${file}: ${path.slice(0, depth + 1).join('.')} is not a mapping`, 'fix the file first', file);
  }
  return insertPair(text, map, path.slice(depth), value, comment);
}

/** `a: { b: value }` as a nested object. */
function nest(path: Path, value: unknown): unknown {
  return path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
}

function indentLines(body: string, indent: string, comment?: string): string {
  const lines = body.split('\n').map((line) => (line ? `${indent}${line}` : line));
  if (comment) lines.unshift(...comment.split('\n').map((line) => `${indent}# ${line}`.trimEnd()));
  return lines.join('\n');
}

/** `path` and `value` as block YAML at `indent`; the comment goes above the last key of the path. */
function block(path: Path, value: unknown, indent: string, comment?: string): string {
  if (path.length > 1) return `${indent}${stringify(path[0]).trimEnd()}:\n${block(path.slice(1), value, `${indent}  `, comment)}`;
  return `${indentLines(stringify(nest(path, value), { indent: 2 }).trimEnd(), indent, comment)}\n`;
}

/** Adds `path: value` as the last entry of a map: inside a flow map's braces, or as new lines of a block map. */
function insertPair(text: string, map: YAMLMap, path: Path, value: unknown, comment?: string): string {
  const [start, end] = map.range!;
  if (map.flow) {
    const close = text.lastIndexOf('}', end);
    const before = text.slice(start, close).trimEnd();
    const at = start + before.length;
    const separator = before.endsWith('{') ? ' ' : ', ';
    const entry = `${stringify(path[0]).trimEnd()}: ${stringify(nest(path.slice(1), value), { collectionStyle: 'flow' }).trimEnd()}`.replace(/\n/g, ' ');
    return `${text.slice(0, at)}${separator}${entry}${before.endsWith('{') ? ' ' : ''}${text.slice(at)}`;
  }
  const first = map.items[0]?.key as YamlNode | undefined;
  const last = map.items.at(-1)?.value as YamlNode | undefined;
  const lineStart = text.lastIndexOf('\n', (first?.range?.[0] ?? start) - 1) + 1;
  const indent = text.slice(lineStart, first?.range?.[0] ?? start);
  const lastEnd = last?.range?.[1] ?? (map.items.at(-1)?.key as YamlNode | undefined)?.range?.[1] ?? end;
  const lineEnd = text.indexOf('\n', Math.max(lastEnd - 1, 0));
  const crlf = lineEnd > 0 && text[lineEnd - 1] === '\r';
  const newline = crlf ? '\r\n' : '\n';
  const at = lineEnd < 0 ? text.length : crlf ? lineEnd - 1 : lineEnd;
  const entry = block(path, value, indent, comment).trimEnd().split('\n').join(newline);
  return `${text.slice(0, at)}${newline}${entry}${text.slice(at)}`;
}
