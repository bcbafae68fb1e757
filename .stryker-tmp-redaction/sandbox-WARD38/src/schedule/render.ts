/** Plans, apply outcomes and entry lists as text and JSON. */
// @ts-nocheck

import type { ActualEntry } from './cloud-scheduler.js';
import { ENTRY_PREFIX, type Deployment } from './desired.js';
import type { ApplyOutcome, Change, SchedulePlan } from './plan.js';

const quote = (text: string) => (text === '' ? '(none)' : /\s/.test(text) ? `"${text}"` : text);

function changeLines(change: Change): string[] {
  const head = `  ${change.action.padEnd(9)}  ${change.id}${change.file ? `  (${change.file})` : ''}`;
  const lines = [head];
  const entry = change.desired;
  if (change.action === 'create' && entry) {
    lines.push(`             ${entry.schedule} in ${entry.timeZone} → ${entry.target === 'service' ? 'POST' : 'Cloud Run Job'} ${entry.uri}`);
  }
  for (const field of change.fields) lines.push(`             ${field.field}: ${quote(field.from)} → ${quote(field.to)}`);
  if (change.pause !== undefined) lines.push(`             then ${change.pause ? 'pause' : 'resume'}`);
  if (change.note) lines.push(`             ${change.note}`);
  if (change.next.length) {
    const paused = entry?.paused ? ' (paused: it will not fire until resumed)' : '';
    lines.push(`             next: ${change.next.map((fire) => fire.local).join(', ')}${paused}`);
  }
  return lines;
}

function counts(changes: readonly Change[]): string {
  const byAction = new Map<string, number>();
  for (const change of changes) byAction.set(change.action, (byAction.get(change.action) ?? 0) + 1);
  return [...byAction].map(([action, count]) => `${count} ${action}`).join(', ') || 'no scheduled jobs';
}

/** A plan as text. */
export function renderPlan(plan: SchedulePlan, deployment: Deployment): string {
  const header = `Cloud Scheduler in project ${deployment.project}, region ${deployment.region} (entries of [${plan.owner}]):`;
  const body = plan.changes.flatMap(changeLines);
  const footer = `${counts(plan.changes)}${plan.others ? `; ${plan.others} other entr${plan.others === 1 ? 'y' : 'ies'} in this region left alone` : ''}`;
  return [header, ...body, footer].join('\n');
}

/** A plan as JSON. */
export function planJson(plan: SchedulePlan, deployment: Deployment) {
  return {
    project: deployment.project,
    region: deployment.region,
    owner: plan.owner,
    changes: plan.changes.map((change) => ({
      action: change.action,
      entry: change.id,
      job: change.job,
      file: change.file ?? null,
      fields: change.fields,
      ...(change.pause !== undefined ? { then: change.pause ? 'pause' : 'resume' } : {}),
      paused: change.desired?.paused ?? change.actual?.paused ?? false,
      next: change.next,
      note: change.note ?? null,
    })),
    others: plan.others,
  };
}

/** What apply did, as text: the changes made, the failure, and what was not done. */
export function renderOutcome(outcome: ApplyOutcome): string {
  const lines: string[] = [];
  if (outcome.failed) {
    lines.push(`failed: ${outcome.failed.change.action} ${outcome.failed.change.id}: ${outcome.failed.error}`);
    lines.push(`done: ${outcome.done.map((change) => `${change.action} ${change.id}`).join(', ') || 'nothing'}`);
    lines.push(`not done: ${[outcome.failed.change, ...outcome.notDone].map((change) => `${change.action} ${change.id}`).join(', ')}`);
  } else {
    lines.push(outcome.done.length ? `applied: ${outcome.done.map((change) => `${change.action} ${change.id}`).join(', ')}` : 'nothing to change');
  }
  for (const conflict of outcome.conflicts) lines.push(`not done: ${conflict.id}: ${conflict.note}`);
  return lines.join('\n');
}

/** The owned entries of a location as rows for a table. */
export function entryRows(entries: readonly ActualEntry[]): string[][] {
  return entries.map((entry) => [
    entry.id.startsWith(ENTRY_PREFIX) ? entry.id.slice(ENTRY_PREFIX.length) : entry.id,
    entry.state,
    entry.schedule,
    entry.timeZone,
    entry.uri,
    entry.lastAttemptTime ? `${entry.lastAttemptTime.replace('T', ' ').slice(0, 19)} (${entry.lastStatus === 0 ? 'ok' : `code ${entry.lastStatus}`})` : '',
  ]);
}
