/** The suite's compiled test files, and a seeded shuffle of them. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { prng } from '../../bench/support.js';

/** `dist/test`, where the compiled tests are. */
export const testRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every `*.test.js` under `dist/test` (or those named), relative to the working directory, sorted. */
export function testFiles(named: readonly string[] = []): string[] {
  if (named.length) return [...named];
  const files = readdirSync(testRoot, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.js'))
    .map((file) => path.relative(process.cwd(), path.join(testRoot, file)));
  return files.sort();
}

/** `items` in a Fisher–Yates order drawn from `seed`. */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  const next = prng(seed);
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The seed from `B2BETL_TEST_SEED`, or a new one. */
export function seedFromEnv(): number {
  const given = process.env.B2BETL_TEST_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`B2BETL_TEST_SEED must be an integer from 0 to ${0xffffffff}, got ${given}`);
    return seed;
  }
  return Math.floor(Math.random() * 0xffffffff);
}
