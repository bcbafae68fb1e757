/**
 * Writes docs/report.png: the report of the example month (8 jobs × 30 days) in Chromium, the
 * ridge chart with the tooltip of a failed run. `npm run docs:report-screenshot` after a build.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startBrowser } from '../support/browser.js';
import { repoRoot, runCli } from '../support/cli.js';
import { seedReportLedger } from '../support/report-ledger.js';
import { writeFile } from 'node:fs/promises';

const dir = await mkdtemp(path.join(tmpdir(), 'b2betl-shot-'));
const browser = await startBrowser();
try {
  await writeFile(path.join(dir, 'etl.config.yaml'), 'ledger: ./ledger.sqlite\n');
  const runs = seedReportLedger(path.join(dir, 'ledger.sqlite'));
  const result = await runCli(['report', '--out', 'report.html'], dir);
  if (result.code !== 0) throw new Error(result.stderr);
  const { page, errors } = await browser.page({ width: 1280, height: 1100 });
  await page.goto(pathToFileURL(path.join(dir, 'report.html')).href);
  const failed = runs.find((run) => run.job === 'orders' && run.status === 'failed')!;
  const section = page.locator('#ridge-section');
  await section.scrollIntoViewIfNeeded();
  const box = (await page.locator(`path.bump[data-run="${failed.id}"]`).boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height - 3);
  const out = path.join(repoRoot, 'docs', 'report.png');
  await section.screenshot({ path: out });
  if (errors.length) throw new Error(errors.join('\n'));
  process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
} finally {
  await browser.close();
  await rm(dir, { recursive: true, force: true });
}
