/**
 * Hints point somewhere real: every README section, command and doc file that a message in the
 * code names exists.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { Command } from 'commander';
import { program } from '../../src/cli/main.js';
import { README_SECTION } from '../../src/core/config-yaml.js';
import { repoRoot } from '../support/cli.js';

async function sources(): Promise<{ file: string; text: string }[]> {
  const files: { file: string; text: string }[] = [];
  for (const root of ['src', 'connectors']) {
    for (const entry of await readdir(path.join(repoRoot, root), { recursive: true })) {
      if (!entry.endsWith('.ts')) continue;
      const file = path.join(root, entry);
      files.push({ file, text: await readFile(path.join(repoRoot, file), 'utf8') });
    }
  }
  return files;
}

async function readmeHeadings(): Promise<Set<string>> {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  return new Set([...readme.matchAll(/^#{1,6} (.+)$/gm)].map((match) => match[1].replace(/`/g, '').trim()));
}

/** Every command path of the CLI: `run`, `state show`, `schedule run-local`… */
function commandPaths(): Set<string> {
  const paths = new Set<string>();
  const walk = (command: Command, prefix: string[]) => {
    for (const sub of command.commands) {
      const at = [...prefix, sub.name()];
      paths.add(at.join(' '));
      walk(sub, at);
    }
  };
  walk(program(() => undefined), []);
  return paths;
}

test('every README section a message names is a heading of the README', async () => {
  const headings = await readmeHeadings();
  const named = new Map<string, string>();
  for (const { file, text } of await sources()) {
    for (const match of text.matchAll(/README[,:]? ["“]([^"”$]+)["”]/g)) named.set(match[1], file);
  }
  for (const section of Object.values(README_SECTION)) named.set(section, 'README_SECTION');
  assert.ok(named.size >= 2, 'no README section named anywhere: the scan is broken');
  const missing = [...named].filter(([section]) => !headings.has(section)).map(([section, file]) => `"${section}" (${file})`);
  assert.deepEqual(missing, [], `README has no such section; its headings are: ${[...headings].join(' | ')}`);
});

test('every `b2betl <command>` a message names is a command of the CLI', async () => {
  const commands = commandPaths();
  const named: string[] = [];
  for (const { file, text } of await sources()) {
    // Only message text: skip comment lines (they name commands as documentation).
    const code = text
      .split('\n')
      .filter((line) => !/^\s*(\*|\/\/|\/\*\*)/.test(line))
      .join('\n');
    // A command quoted inside message text: after an escaped backtick in a template literal, or a
    // backtick inside a '…' or "…" string (not a template literal that merely starts with "b2betl").
    for (const match of code.matchAll(/(?:\\`|(['"])[^'"\n]*`)b2betl ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g)) {
      const [, , first, second] = match;
      const known = (second && commands.has(`${first} ${second}`)) || commands.has(first);
      if (!known) named.push(`b2betl ${first}${second ? ` ${second}` : ''} (${file})`);
    }
  }
  assert.deepEqual(named, [], `commands are: ${[...commands].join(', ')}`);
});

test('every docs/ or examples/ file a message names exists', async () => {
  const missing: string[] = [];
  for (const { file, text } of await sources()) {
    for (const match of text.matchAll(/\b(docs\/[a-z0-9-]+\.md|examples\/[A-Za-z0-9_./-]+[A-Za-z0-9_])/g)) {
      // Files a run creates (the warehouse, the ledger) are not in the repository.
      if (/\.(duckdb|sqlite)$/.test(match[1])) continue;
      if (!existsSync(path.join(repoRoot, match[1]))) missing.push(`${match[1]} (${file})`);
    }
  }
  assert.deepEqual(missing, []);
});

test('the hints this test once caught stay fixed', async () => {
  const all = (await sources()).map(({ text }) => text).join('\n');
  assert.doesNotMatch(all, /README, "Reference"/);
});
