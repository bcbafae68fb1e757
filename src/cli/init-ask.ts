/**
 * How `init` gets an answer: from its flag when given (validated like a typed answer), else
 * from a prompt on a terminal, else from its default; a required answer with no flag and no
 * terminal stops with exit 2 naming the flag. And how it speaks: a line on stdout.
 */
import { ConfigError } from '../core/errors.js';

/** Lazily loaded prompts (the module is heavy and only a terminal needs it). */
export const prompts = () => import('@inquirer/prompts');

/** Writes a line of the wizard's output. */
export const say = (text = '') => process.stdout.write(`${text}\n`);

/** A list answer given as a flag: `a, b,c` as `['a', 'b', 'c']`. */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

/** A prompt returns the answer; the prompts of @inquirer/prompts throw on Ctrl-C. */
type Prompt<T> = () => Promise<T>;

/** Ctrl-C (or a closed terminal) during a prompt: nothing has been written. */
export class Cancelled extends Error {}

export class Asker {
  constructor(
    /** Prompts may be shown (stdin and stdout are terminals). */
    readonly interactive: boolean,
    /** `--yes`: take every default without asking. */
    readonly acceptDefaults: boolean,
  ) {}

  /**
   * The answer for `flag`: `given` (checked by `check`, which returns why it is refused), else a
   * prompt, else `fallback`. `fallback` undefined means the answer is required.
   */
  async answer<T>(flag: string, given: T | undefined, prompt: Prompt<T>, options: { fallback?: T; check?: (value: T) => string | undefined | Promise<string | undefined> } = {}): Promise<T> {
    if (given !== undefined) {
      const problem = await options.check?.(given);
      if (problem) throw ConfigError.of(`${flag} ${JSON.stringify(given)}: ${problem}`);
      return given;
    }
    if (options.fallback !== undefined && (this.acceptDefaults || !this.interactive)) return options.fallback;
    if (!this.interactive) throw missing(flag);
    return ask(prompt);
  }

  /** A question that has no flag of its own (a confirmation): its default without a terminal. */
  async confirm(prompt: Prompt<boolean>, fallback: boolean): Promise<boolean> {
    if (!this.interactive || this.acceptDefaults) return fallback;
    return ask(prompt);
  }
}

/** Runs a prompt, turning Ctrl-C into {@link Cancelled}. */
export async function ask<T>(prompt: Prompt<T>): Promise<T> {
  try {
    return await prompt();
  } catch (error) {
    if (error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')) throw new Cancelled('cancelled');
    throw error;
  }
}

/** The error for a required answer that has neither a flag nor a terminal to ask on. */
export function missing(flag: string, what?: string): ConfigError {
  return ConfigError.of(
    `${flag} is needed${what ? ` (${what})` : ''}: there is no terminal to ask on`,
    `give ${flag} on the command line, or run b2betl init in a terminal`,
  );
}
