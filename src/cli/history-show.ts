/** `b2betl history show <run_id>`: everything the ledger knows about one run. */
import { EtlError, ExitCode } from '../core/errors.js';
import { bytesText, cursorText, errorLines, runView, spanText, type RunView } from '../report/run-view.js';
import { commandLogger, discoverConfig, printJson, renderTable, withLedger, type CommonOptions } from './common.js';

/** The run as text, section by section. */
export function renderRun(view: RunView): string {
  const details = view.details;
  const out: string[] = [];
  const field = (label: string, value: unknown) => out.push(`${`${label}:`.padEnd(15)}${value === undefined || value === null || value === '' ? '-' : String(value)}`);
  field('run', view.id);
  field('job', view.job);
  field('status', view.status);
  field('started', view.started_at);
  field('ended', view.ended_at);
  field('took', spanText(view.duration_ms));
  field('source', details?.source);
  field('destination', [view.destination, view.table_name].filter(Boolean).join(' → '));
  field('strategy', view.strategy);
  field('engine', details?.engine);
  field('rows', `${view.rows_loaded} loaded, ${view.rows_extracted} read, ${view.rows_rejected} rejected`);
  field('files', `${view.files_processed} loaded, ${view.files_skipped} skipped, ${view.files_failed} failed${view.bytes ? ` (${bytesText(view.bytes)})` : ''}`);
  field('cursor before', details ? cursorText(details.cursor_before) : undefined);
  field('cursor after', details ? cursorText(details.cursor_after) : undefined);
  if (!details) out.push('', '(this run recorded no plan, timeline or units: an older version of b2betl made it)');
  if (details?.plan) {
    const plan = details.plan;
    out.push('', 'Plan');
    out.push(`  ${plan.units} unit(s), ${plan.skipped} skipped${plan.full_refresh ? ', full refresh' : ''}${plan.window ? `, window ${plan.window.since ?? ''}..${plan.window.until ?? ''}` : ''}`);
    for (const note of plan.notes) out.push(`  ${note}`);
    for (const file of plan.files) out.push(`  ${file}`);
  }
  if (details?.stages.length) {
    out.push('', 'Timeline');
    out.push(indent(renderTable(['stage', 'started (UTC)', 'took'], details.stages.map((span) => [span.stage, span.started_at.replace('T', ' ').slice(0, 23), spanText(span.ms)]))));
  }
  if (details?.units.length) {
    out.push('', 'Units');
    out.push(indent(renderTable(['unit', 'rows', 'bytes', 'took', 'error'], details.units.map((unit) => [unit.label, unit.rows ?? '', bytesText(unit.bytes), spanText(unit.ms), unit.error ?? '']))));
    if (details.units_omitted) out.push(`  … and ${details.units_omitted} more unit(s)`);
  }
  if (details?.rejects.length) {
    out.push('', `Rejected rows (${details.rejects.length} of ${details.rejects_total})`);
    out.push(indent(renderTable(['where', 'column', 'reason'], details.rejects.map((row) => [`${row.unit}:${row.position}`, row.column ?? '', row.reason]))));
  }
  const errors = errorLines(view);
  if (errors.length) {
    out.push('', 'Error');
    errors.forEach((line, i) => out.push(...line.split('\n').map((text, j) => `  ${i && !j ? 'caused by: ' : ''}${text}`)));
  }
  return `${out.join('\n')}\n`;
}

function indent(text: string): string {
  return text.split('\n').map((line) => `  ${line}`).join('\n');
}

export default async function historyShow(runId: string, flags: CommonOptions): Promise<number> {
  const config = await discoverConfig(flags);
  return withLedger(
    config,
    commandLogger(flags),
    async ({ ledger }) => {
      const view = runView(ledger, runId);
      if (!view) throw new EtlError(`no run ${runId} in the ledger ${config.ledger}`, 'list run ids with `b2betl history`');
      if (flags.json) printJson(view);
      else process.stdout.write(renderRun(view));
      return ExitCode.ok;
    },
    { readOnly: true },
  );
}
