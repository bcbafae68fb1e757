/**
 * The progress view on a real pseudo-terminal: one that reports no width still gets whole lines
 * (80 columns, or $COLUMNS), and the view stays off stdout when stdout is a file.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawn } from '@lydell/node-pty';
import { binary, scratchProject } from '../support/cli.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const JOB = 'events_with_a_name_long_enough_to_be_wrapped_if_the_view_were_narrow';

/** Runs a shell command in a pseudo-terminal whose size is set to `cols` columns first (0: no width). */
function inTerminal(command: string, cwd: string, cols: number, env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  const base = { ...process.env } as Record<string, string>;
  delete base.CI; // CI turns the view off
  delete base.COLUMNS;
  return new Promise((resolve) => {
    const terminal = spawn('sh', ['-c', `stty cols ${cols} rows ${cols ? 24 : 0}; ${command}`], { cols: 80, rows: 24, cwd, env: { ...base, ...env } });
    let output = '';
    terminal.onData((data) => (output += data));
    terminal.onExit(({ exitCode }) => resolve({ code: exitCode, output }));
  });
}

/** The text as a terminal shows it: escape sequences dropped, lines split. */
function screenLines(output: string): string[] {
  // eslint-disable-next-line no-control-regex
  return output.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '').split(/\r?\n/);
}

describe('the progress view', () => {
  let project: Project;
  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
      'jobs/events.yaml': `name: ${JOB}\nsource: { connection: inbox, pattern: "*.jsonl" }\n`,
      'inbox/a.jsonl': '{"id": 1}\n{"id": 2}\n',
    });
  });
  after(() => project.cleanup());

  test('a terminal that reports no width gets whole lines, 80 columns wide', async () => {
    const { code, output } = await inTerminal(`exec "${process.execPath}" "${binary}" run jobs --full-refresh`, project.dir, 0);
    assert.equal(code, 0, output);
    const lines = screenLines(output);
    const view = lines.slice(0, lines.findIndex((line) => line.startsWith('job ')));
    assert.ok(!lines.some((line) => /^\s*\S\s*$/.test(line)), `a line holds a single character:\n${lines.join('\n')}`);
    // The title (over 80 characters) is wrapped at 80 columns, between words.
    assert.match(view.join('\n'), new RegExp(`✔ ${JOB}:\\n\\s+succeeded, 2 row\\(s\\) in `));
    assert.ok(view.every((line) => line.length <= 80), view.join('\n'));
  });

  test('$COLUMNS is the width when the terminal reports none', async () => {
    const { code, output } = await inTerminal(`exec "${process.execPath}" "${binary}" run jobs --full-refresh`, project.dir, 0, { COLUMNS: '200' });
    assert.equal(code, 0, output);
    const title = screenLines(output).find((line) => line.includes('✔'));
    assert.match(title ?? '', new RegExp(`${JOB}: succeeded, 2 row\\(s\\) in \\d+`));
  });

  test('a sized terminal keeps its own width', async () => {
    const { code, output } = await inTerminal(`exec "${process.execPath}" "${binary}" run jobs --full-refresh`, project.dir, 60);
    assert.equal(code, 0, output);
    const lines = screenLines(output).filter((line) => line.includes('✔') || line.includes('succeeded, 2'));
    assert.ok(lines.length > 0 && lines.every((line) => line.length <= 60), lines.join('\n'));
  });

  test('with stdout in a file, the view stays on the terminal and the file gets the summary only', async () => {
    const { code, output } = await inTerminal(`"${process.execPath}" "${binary}" run jobs --full-refresh > summary.txt`, project.dir, 0);
    assert.equal(code, 0, output);
    assert.match(screenLines(output).join('\n'), new RegExp(`✔ ${JOB}:\\s+succeeded, 2 row`), output);
    const summary = await readFile(path.join(project.dir, 'summary.txt'), 'utf8');
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(summary, /\u001b/);
    assert.match(summary, /^job\s+status\s+rows/);
    assert.match(summary, new RegExp(`^${JOB}\\s+succeeded\\s+2\\s`, 'm'));
  });
});
