/** `b2betl report`: the ledger's last days as one self-contained HTML page. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ExitCode } from '../core/errors.js';
import { parseDays, reportData } from '../report/data.js';
import { renderReport } from '../report/html.js';
import { commandLogger, discoverConfig, printJson, shortPath, withLedger, type CommonOptions } from './common.js';

export interface ReportFlags extends CommonOptions {
  readonly days?: string;
  readonly out?: string;
  readonly open?: boolean;
}

export default async function report(flags: ReportFlags): Promise<number> {
  const days = parseDays(flags.days);
  const out = path.resolve(flags.out ?? 'b2betl-report.html');
  const config = await discoverConfig(flags);
  const data = await withLedger(config, commandLogger(flags), async ({ ledger }) => reportData(ledger, { days }), { readOnly: true });
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, renderReport(data));
  if (flags.json) printJson({ file: out, days, from: data.from, to: data.to, ...data.summary });
  else process.stdout.write(`wrote ${shortPath(out)}: ${data.summary.runs} run(s) of ${data.summary.jobs} job(s), ${data.from} to ${data.to}\n`);
  if (flags.open) {
    const { default: open } = await import('open');
    await open(out, { wait: false });
  }
  return ExitCode.ok;
}
