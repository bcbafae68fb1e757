/**
 * The report as ONE self-contained HTML page: its style, d3 and its script inlined, the data as
 * JSON in the page. It requests nothing from any server, so it opens offline, from an email or
 * from a bucket.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Ledger } from '../ledger/ledger.js';
import { reportData, type ReportData } from './data.js';
import { bytesText, spanText } from './run-view.js';

const require = createRequire(import.meta.url);
const assets = new URL('../../../templates/report/', import.meta.url);

let cached: { d3: string; client: string; style: string } | undefined;

/** d3's UMD build and the page's own script and style, read once. */
function pageAssets(): { d3: string; client: string; style: string } {
  cached ??= {
    // d3's exports name its UMD build under the `umd` condition only; it sits beside the module build
    d3: readFileSync(path.join(path.dirname(require.resolve('d3')), 'd3.min.js'), 'utf8'),
    client: readFileSync(new URL('client.js', assets), 'utf8'),
    style: readFileSync(new URL('report.css', assets), 'utf8'),
  };
  return cached;
}

/** Text safe inside a <script> element: no `</script`, no `<!--`. */
function scriptText(text: string): string {
  return text.replace(/<(?=\/script|!--)/gi, '\\x3C');
}

/** JSON safe inside a <script type="application/json"> element. */
function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** The page for gathered data. */
export function renderReport(data: ReportData): string {
  const { d3, client, style } = pageAssets();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>b2betl report · ${escapeHtml(data.from)} to ${escapeHtml(data.to)}</title>
<style>${style}</style>
</head>
<body>
<header>
  <h1>b2betl report</h1>
  <p class="muted">Ledger <code>${escapeHtml(data.ledger)}</code> · the last ${data.days} day(s), ${escapeHtml(data.from)} to ${escapeHtml(data.to)} (UTC) · made ${escapeHtml(data.generated_at.replace('T', ' ').slice(0, 19))} UTC</p>
</header>
<main>
  <section id="summary" aria-label="Summary"></section>
  <section id="jobs-section"><h2>Jobs</h2><div id="jobs"></div></section>
  <section id="ridge-section">
    <div class="section-head"><h2>Run durations</h2>
      <span class="legend"><span class="swatch ok"></span>succeeded or partial <span class="swatch bad"></span>failed <span class="swatch other"></span>interrupted or skipped · height: duration, log scale · newest day at the bottom</span></div>
    <p id="ridge-hint" class="muted" hidden></p>
    <div id="ridge"></div>
  </section>
  <section id="runs-section"><h2>Runs</h2><p class="muted">Click a run for its details.</p><div id="runs"></div></section>
</main>
<div id="tooltip" role="tooltip" hidden></div>
<dialog id="run-dialog"><form method="dialog"><button class="close" aria-label="Close">×</button></form><div id="run-details"></div></dialog>
<script type="application/json" id="report-data">${jsonText(data)}</script>
<script>${scriptText(d3)}</script>
<script>${scriptText(`${spanText.toString()}\n${bytesText.toString()}`)}</script>
<script>${scriptText(client)}</script>
</body>
</html>
`;
}

/** The report of the ledger's last `days` days, as one page. */
export function buildReport(ledger: Ledger, options: { days: number; now?: Date }): string {
  return renderReport(reportData(ledger, options));
}
