/**
 * The diff between the entries job specs want and the entries Cloud Scheduler holds, and its
 * application. Only entries whose description carries this deployment's owner tag are ever
 * read as b2betl's, changed or deleted.
 */
// @ts-nocheck

import { messageOf } from '../core/errors.js';
import type { ActualEntry, EntryField, SchedulerApi } from './cloud-scheduler.js';
import { formatInZone, nextFires } from './cron.js';
import { ENTRY_PREFIX, ownerTag, type DesiredEntry, type SchedulerEntry } from './desired.js';

/** What a plan does with one entry. */
export type Action = 'create' | 'update' | 'pause' | 'resume' | 'delete' | 'unchanged' | 'orphan' | 'conflict';

/** One field that differs, as shown to users. */
export interface FieldChange {
  readonly field: EntryField;
  readonly from: string;
  readonly to: string;
}

/** One entry's change. */
export interface Change {
  readonly action: Action;
  readonly id: string;
  readonly job: string;
  readonly file?: string;
  /** For `update`: every field that differs. */
  readonly fields: readonly FieldChange[];
  /** After a create or an update: pause (true) or resume (false) the entry. */
  readonly pause?: boolean;
  /** The next three fire times, in the job's time zone. */
  readonly next: readonly { readonly at: string; readonly local: string }[];
  readonly desired?: DesiredEntry;
  readonly actual?: ActualEntry;
  readonly note?: string;
}

/** A plan for one deployment. */
export interface SchedulePlan {
  readonly owner: string;
  readonly changes: readonly Change[];
  /** Entries in the location that are not this deployment's (never touched). */
  readonly others: number;
}

export interface PlanOptions {
  readonly owner: string;
  /** Delete owned entries whose job spec is gone (else they are reported as `orphan`). */
  readonly prune?: boolean;
  /** Only these jobs are in question (job files named one by one); all when undefined. */
  readonly scope?: ReadonlySet<string>;
  readonly now?: Date;
}

const describeRetry = (entry: SchedulerEntry) => `${entry.retry.count} retries, backoff ${entry.retry.minBackoffS}s to ${entry.retry.maxBackoffS}s`;

/** Each compared field's value, as text. */
const FIELD_VALUES: Record<EntryField, (entry: SchedulerEntry) => string> = {
  description: (entry) => entry.description,
  schedule: (entry) => entry.schedule.trim().split(/\s+/).join(' '),
  'time zone': (entry) => entry.timeZone,
  'target URI': (entry) => entry.uri,
  'HTTP method': (entry) => entry.httpMethod,
  body: (entry) => entry.body,
  token: (entry) => (entry.token ? `${entry.token.kind === 'oidc' ? 'OIDC ID token' : 'OAuth access token'}` : 'none'),
  audience: (entry) => entry.token?.audience ?? '',
  'service account': (entry) => entry.token?.serviceAccountEmail ?? '',
  'retry config': describeRetry,
  deadline: (entry) => `${entry.attemptDeadlineS}s`,
};

/** Every field in which `actual` differs from `desired`. */
export function changedFields(desired: SchedulerEntry, actual: SchedulerEntry): FieldChange[] {
  return (Object.keys(FIELD_VALUES) as EntryField[]).flatMap((field) => {
    const [to, from] = [FIELD_VALUES[field](desired), FIELD_VALUES[field](actual)];
    return to === from ? [] : [{ field, from, to }];
  });
}

function fires(entry: DesiredEntry, now: Date): Change['next'] {
  return nextFires(entry.schedule, entry.timeZone, 3, now).map((date) => ({ at: date.toISOString(), local: formatInZone(date, entry.timeZone) }));
}

/** The changes that make Cloud Scheduler match `desired`. */
export function planSchedule(desired: readonly DesiredEntry[], actual: readonly ActualEntry[], options: PlanOptions): SchedulePlan {
  const tag = ownerTag(options.owner);
  const owns = (entry: ActualEntry) => entry.description.startsWith(tag);
  const byId = new Map(actual.map((entry) => [entry.id, entry]));
  const now = options.now ?? new Date();
  const changes: Change[] = [];
  const conflicts = new Set<string>();
  for (const entry of desired) {
    const current = byId.get(entry.id);
    const base = { id: entry.id, job: entry.job, file: entry.file, desired: entry, next: fires(entry, now) };
    if (!current) {
      changes.push({ ...base, action: 'create', fields: [], ...(entry.paused ? { pause: true } : {}) });
    } else if (!owns(current)) {
      conflicts.add(current.id);
      changes.push({
        ...base,
        action: 'conflict',
        fields: [],
        actual: current,
        note: `an entry named ${entry.id} exists and is not this deployment's (its description does not start with "${tag}"); b2betl leaves it alone: delete it yourself, or rename the job`,
      });
    } else {
      const fields = changedFields(entry, current);
      const stateChange = entry.paused !== current.paused || !['ENABLED', 'PAUSED'].includes(current.state);
      const action: Action = fields.length ? 'update' : stateChange ? (entry.paused ? 'pause' : 'resume') : 'unchanged';
      changes.push({ ...base, action, fields, actual: current, ...(fields.length && stateChange ? { pause: entry.paused } : {}) });
    }
  }
  const wanted = new Set(desired.map((entry) => entry.id));
  for (const entry of actual) {
    if (!owns(entry) || wanted.has(entry.id)) continue;
    const job = entry.id.startsWith(ENTRY_PREFIX) ? entry.id.slice(ENTRY_PREFIX.length) : entry.id;
    if (options.scope && !options.scope.has(job)) continue;
    changes.push({
      action: options.prune ? 'delete' : 'orphan',
      id: entry.id,
      job,
      fields: [],
      next: [],
      actual: entry,
      note: options.prune ? 'its job spec is gone or has no schedule' : 'its job spec is gone or has no schedule; --prune deletes it',
    });
  }
  const others = actual.filter((entry) => !owns(entry) && !conflicts.has(entry.id)).length;
  return { owner: options.owner, changes, others };
}

/** What `apply` did: the changes made, the one that failed, and those not attempted. */
export interface ApplyOutcome {
  readonly done: readonly Change[];
  readonly failed?: { readonly change: Change; readonly error: string };
  readonly notDone: readonly Change[];
  /** Entries b2betl would not touch (owned by someone else). */
  readonly conflicts: readonly Change[];
}

/** Whether a change calls the API. */
function isPending(change: Change): boolean {
  return !['unchanged', 'orphan', 'conflict'].includes(change.action);
}

/** Makes the plan so, one change at a time; stops at the first failure. */
export async function applyPlan(plan: SchedulePlan, api: SchedulerApi, onDone?: (change: Change) => void): Promise<ApplyOutcome> {
  const pending = plan.changes.filter(isPending);
  const conflicts = plan.changes.filter((change) => change.action === 'conflict');
  const done: Change[] = [];
  for (const [index, change] of pending.entries()) {
    try {
      await applyChange(change, api);
    } catch (error) {
      return { done, failed: { change, error: messageOf(error) }, notDone: pending.slice(index + 1), conflicts };
    }
    done.push(change);
    onDone?.(change);
  }
  return { done, notDone: [], conflicts };
}

async function applyChange(change: Change, api: SchedulerApi): Promise<void> {
  switch (change.action) {
    case 'create':
      await api.create(change.desired!);
      break;
    case 'update':
      await api.update(change.desired!, change.fields.map((field) => field.field));
      break;
    case 'delete':
      await api.remove(change.id);
      return;
    case 'pause':
      await api.pause(change.id);
      return;
    case 'resume':
      await api.resume(change.id);
      return;
    default:
      return;
  }
  if (change.pause === true) await api.pause(change.id);
  if (change.pause === false) await api.resume(change.id);
}
