#!/usr/bin/env node
// Entry point: everything else loads lazily so that `b2betl --help` starts fast.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('b2betl is not built yet: run `npm run build` (npm install does it for you)\n');
  process.exit(2);
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv);
// The command has ended: a handle a driver failed to close (a socket that never ends) does not
// keep the process alive.
setTimeout(() => process.exit(), 5000).unref();
