/**
 * The YAML files of the config and the jobs: parsed with line positions, `${VAR}` replaced from
 * the environment (or left as written for later), and validated so that each problem names its
 * file and line.
 */
import { readFile } from 'node:fs/promises';
import { Document, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.js';
import { pluginTypeNames } from './plugins.js';

const VARIABLE = /(\$?)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Where a problem's fix is explained, by the kind of file it is in (README headings). */
export const README_SECTION = { config: 'Configuration', job: 'Job specs' } as const;

/** A scalar with `${VAR}` replaced from `env` (`$${VAR}` stays literal); the names of unset ones. */
export function interpolateText(text: string, env: NodeJS.ProcessEnv): { value: string; unset: string[] } {
  const unset: string[] = [];
  const value = text.replace(VARIABLE, (whole, escape: string, name: string) => {
    if (escape) return whole.slice(1);
    const found = env[name];
    if (found === undefined) unset.push(name);
    return found ?? whole;
  });
  return { value, unset };
}

/** A scalar left as written because a variable it names was unset. */
export interface Deferred {
  readonly path: PropertyKey[];
  readonly raw: string;
  readonly unset: string[];
  readonly issue: ConfigIssue;
}

/** A parsed YAML file that can map a path back to its line. */
export class YamlFile {
  readonly lines = new LineCounter();
  readonly doc: Document;
  private readonly text: string;
  /** Paths of scalars that took a variable's value. */
  private readonly interpolated = new Set<string>();
  constructor(
    readonly file: string,
    text: string,
    readonly kind: 'config' | 'job',
  ) {
    this.text = text;
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  /** The text of a 1-based line, without its line break. */
  sourceLine(line: number): string {
    return (this.text.split(/\r?\n/)[line - 1] ?? '').replace(/\t/g, ' ');
  }

  /** The 1-based line of the node at `yamlPath`, or of its nearest existing ancestor. */
  lineOf(yamlPath: readonly PropertyKey[]): number | undefined {
    for (let depth = yamlPath.length; depth >= 0; depth--) {
      const node = this.doc.getIn(yamlPath.slice(0, depth) as unknown[], true) as YamlNode | undefined;
      if (node && typeof node === 'object' && 'range' in node && node.range) {
        return this.lines.linePos(node.range[0]).line;
      }
    }
    return undefined;
  }

  issue(yamlPath: readonly PropertyKey[], message: string, fix?: string): ConfigIssue {
    return { file: this.file, path: formatPath(yamlPath), line: this.lineOf(yamlPath), message, fix };
  }

  /** Syntax errors with file:line:column and the offending line. */
  syntaxIssues(): ConfigIssue[] {
    return this.doc.errors.map((error) => {
      // An unclosed quote or bracket is reported where the text ends: point at what opened it.
      const quote = error.code === 'MISSING_CHAR' ? /closing (["'])quote/.exec(error.message)?.[1] : undefined;
      const bracket = { '}': '{', ']': '[' }[/end with an? ([}\]])/.exec(error.message)?.[1] ?? ''];
      const opener = quote ?? bracket;
      const opened = opener ? this.text.lastIndexOf(opener, error.pos[0] - 1) : -1;
      const at = this.lines.linePos(opened >= 0 ? opened : error.pos[0]);
      return {
        file: this.file,
        path: '',
        line: at?.line,
        column: at?.col,
        source: at ? this.sourceLine(at.line) : undefined,
        message: `YAML syntax: ${error.message.split('\n')[0]}`,
        fix: 'fix the YAML at that line and column (indentation, a missing colon or space after it, an unclosed quote or bracket)',
      };
    });
  }

  /**
   * Replaces `${VAR}` in every string scalar; `$${VAR}` stays literal. An unset variable is an
   * issue, except where `lazy(path)` says the value is needed only later: that scalar stays as
   * written and is returned, to be interpolated again when it is needed.
   */
  interpolate(env: NodeJS.ProcessEnv, lazy: (yamlPath: readonly PropertyKey[]) => boolean): { issues: ConfigIssue[]; deferred: Deferred[] } {
    const issues: ConfigIssue[] = [];
    const deferred: Deferred[] = [];
    visit(this.doc, {
      Scalar: (_key, node, ancestry) => {
        if (typeof node.value !== 'string' || !node.value.includes('${')) return;
        const { value, unset } = interpolateText(node.value, env);
        const at = pathOfAncestry(ancestry, node);
        if (!unset.length) {
          // Never echoed in a message: it may hold a secret.
          if (value !== node.value) this.interpolated.add(formatPath(at));
          node.value = value;
          return;
        }
        const line = node.range ? this.lines.linePos(node.range[0]).line : undefined;
        const issueOf = (name: string): ConfigIssue => ({
          file: this.file,
          path: formatPath(at),
          line,
          message: `environment variable ${name} is not set`,
          fix: `export ${name}=... before running, or write $\${${name}} for a literal`,
        });
        if (lazy(at)) deferred.push({ path: at, raw: node.value, unset, issue: issueOf(unset[0]) });
        else issues.push(...unset.map(issueOf));
      },
    });
    return { issues, deferred };
  }

  /** The document as plain values (aliases expanded). */
  toJS(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 }) ?? {};
  }

  /** Validates `value` (default: the document) against a zod schema; every problem becomes an issue with its line. */
  validate<T extends z.ZodType>(schema: T, value: unknown = this.toJS(), at: readonly PropertyKey[] = []): { value?: z.infer<T>; issues: ConfigIssue[] } {
    const result = schema.safeParse(value);
    if (result.success) return { value: result.data, issues: [] };
    return { issues: result.error.issues.flatMap((issue) => this.fromZod({ ...issue, path: [...at, ...issue.path] } as z.core.$ZodIssue)) };
  }

  private fromZod(issue: z.core.$ZodIssue): ConfigIssue[] {
    const at = issue.path;
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) =>
          this.issue([...at, key], `unknown key "${key}"`, `remove it or correct its spelling (see README, "${README_SECTION[this.kind]}")`),
        );
      case 'invalid_type':
        if (this.doc.getIn(at as unknown[]) === undefined) {
          return [this.issue(at, `missing required key "${String(at.at(-1))}"`, `add ${formatPath(at)}: <${issue.expected}>`)];
        }
        return [this.issue(at, `expected ${issue.expected}, got ${this.interpolated.has(formatPath(at)) ? 'text from an environment variable' : describeInput(this.doc.getIn(at as unknown[]))}`, undefined)];
      case 'invalid_value':
        return [this.issue(at, `invalid value ${describeInput(issue.input ?? this.doc.getIn(at as unknown[]))}`, `use one of: ${issue.values.map(String).join(', ')}`)];
      case 'invalid_union':
        if ('options' in issue && Array.isArray(issue.options)) {
          const type = this.doc.getIn([...at, 'type'] as unknown[]);
          return [
            this.issue(
              type === undefined ? at : [...at, 'type'],
              type === undefined ? 'missing connection type' : `unknown connection type ${describeInput(type)}`,
              `use one of: ${[...issue.options, ...pluginTypeNames()].join(', ')}, or add the plugin that provides it under plugins: (docs/plugins.md)`,
            ),
          ];
        }
        return [this.issue(at, issue.message)];
      default:
        return [this.issue(at, issue.message)];
    }
  }
}

function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return JSON.stringify(input);
}

/** A YAML path as messages write it (`connections.pg.url`, `source.columns[1]`). */
export function formatPath(yamlPath: readonly PropertyKey[]): string {
  return yamlPath.map((part) => (typeof part === 'number' ? `[${part}]` : String(part))).join('.').replace(/\.\[/g, '[');
}

/** The YAML path of a node from its ancestry (`connections.pg.url`, `source.columns[1]`). */
function pathOfAncestry(ancestry: readonly unknown[], node: unknown): PropertyKey[] {
  const parts: PropertyKey[] = [];
  let child = node;
  for (let i = ancestry.length - 1; i >= 0; i--) {
    const parent = ancestry[i];
    if (isPair(parent) && parent.value === child && isScalar(parent.key)) parts.unshift(String(parent.key.value));
    else if (isSeq(parent)) parts.unshift(parent.items.indexOf(child as never));
    child = parent;
  }
  return parts;
}

/** Reads and parses a YAML file; syntax errors come back as issues. */
export async function readYaml(file: string, kind: 'config' | 'job'): Promise<{ yaml: YamlFile; issues: ConfigIssue[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw ConfigError.of(`cannot read ${file}: ${(error as Error).message}`, 'check the path', file);
  }
  const yaml = new YamlFile(file, text, kind);
  return { yaml, issues: yaml.syntaxIssues() };
}

/** Whether an issue is about a value that holds a deferred `${VAR}` (checked again when it is resolved). */
export function aboutDeferred(issue: ConfigIssue, deferred: readonly { path: PropertyKey[] }[]): boolean {
  return deferred.some(({ path: at }) => {
    const where = formatPath(at);
    return issue.path === where || issue.path.startsWith(`${where}.`) || issue.path.startsWith(`${where}[`);
  });
}
