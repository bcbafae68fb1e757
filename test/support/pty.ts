/** The real `b2betl` binary in a pseudo-terminal, driven by typing keys as a person would. */
import { spawn, type IPty } from '@lydell/node-pty';
import { binary } from './cli.js';

/** Keys as a terminal sends them. */
export const KEY = {
  enter: '\r',
  up: '\x1b[A',
  down: '\x1b[B',
  space: ' ',
  ctrlC: '\x03',
} as const;

/** Removes colours, cursor moves and other escape sequences. */
export function plain(text: string): string {
  return text
    .replace(/\x1b\][^\x07]*\x07/g, '')
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b[()][A-Za-z0-9]/g, '')
    .replace(/\r/g, '');
}

export interface PtySession {
  /** Everything printed so far, escape sequences removed. */
  readonly screen: () => string;
  /** Waits until `text` appears after what earlier waits consumed; fails with the screen after `timeoutMs`. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  /** Types keys (each string is sent as one write, after a short pause so the prompt has drawn). */
  type(...keys: string[]): Promise<void>;
  /** The exit code (signals count as 128 + n). */
  readonly exited: Promise<number>;
  kill(): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts `b2betl args…` in `cwd` on an 120×40 terminal. */
export function startPty(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): PtySession {
  const { CI: _ci, ...inherited } = process.env;
  const term: IPty = spawn(process.execPath, [binary, ...args], {
    name: 'xterm-256color',
    cols: 120,
    rows: 40,
    cwd,
    env: { ...inherited, TZ: 'UTC', NO_COLOR: '1', ...env } as Record<string, string>,
  });
  let raw = '';
  let consumed = 0;
  term.onData((data) => (raw += data));
  const exited = new Promise<number>((resolve) => term.onExit(({ exitCode, signal }) => resolve(signal ? 128 + signal : exitCode)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    screen: () => plain(raw),
    async waitFor(text, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const screen = plain(raw);
        const rest = screen.slice(consumed);
        const index = typeof text === 'string' ? rest.indexOf(text) : rest.search(text);
        if (index >= 0) {
          const length = typeof text === 'string' ? text.length : (rest.match(text)?.[0].length ?? 0);
          consumed += index + length;
          return;
        }
        if (done || Date.now() > deadline) {
          throw new Error(`waited for ${String(text)}${done ? ' but the program exited' : ''}; the screen after the last match:\n${rest.slice(-3000)}`);
        }
        await sleep(25);
      }
    },
    async type(...keys) {
      for (const key of keys) {
        await sleep(80);
        term.write(key);
      }
    },
    exited,
    kill: () => {
      if (!done) term.kill();
    },
  };
}
