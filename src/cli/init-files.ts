/**
 * What `init` writes: the job spec its answers make (and the job the connectors open from it
 * while the wizard asks), a job file with a comment above each block, and schedules spelled the
 * way the wizard offers them (none, hourly, daily at, weekly on, a custom cron).
 */
import { Document, isScalar, visit } from 'yaml';
import type { LoadedConfig, LoadedJob } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { jobSchema, unixCronProblem, type JobSpec } from '../core/spec.js';

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const WEEKDAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** The days a weekly schedule may name. */
export const WEEKDAY_CHOICES = WEEKDAYS.map((day, i) => ({ value: day, name: WEEKDAY_NAMES[i] }));

/** A job spec of the wizard's answers so far, with every default filled in. */
export function draftSpec(spec: unknown): JobSpec {
  return jobSchema.parse(spec);
}

/** A job of the draft config, as the connectors open one. */
export function draftJob(config: LoadedConfig, spec: unknown): LoadedJob {
  const parsed = draftSpec(spec);
  const destinationName = parsed.destination.connection ?? config.defaultDestination;
  return {
    spec: parsed,
    file: config.file ?? '',
    config,
    sourceConnection: config.connections[parsed.source.connection],
    destinationName,
    destinationConnection: config.connections[destinationName],
    table: parsed.destination.table ?? parsed.name,
  };
}

/** Why `text` is not a time of day `HH:MM`, or undefined. */
export function timeOfDayProblem(text: string): string | undefined {
  const match = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  if (!match || Number(match[1]) > 23 || Number(match[2]) > 59) return `"${text}" is not a time of day: write HH:MM in 24-hour time, e.g. 09:00 or 18:30`;
  return undefined;
}

function timeParts(text: string): { hour: number; minute: number } {
  const [hour, minute] = text.trim().split(':').map(Number);
  return { hour, minute };
}

/** A schedule as the wizard's choices build it. */
export type SchedulePick =
  | { readonly kind: 'none' }
  | { readonly kind: 'hourly'; readonly minute?: number }
  | { readonly kind: 'daily'; readonly at: string }
  | { readonly kind: 'weekly'; readonly day: (typeof WEEKDAYS)[number]; readonly at: string }
  | { readonly kind: 'cron'; readonly cron: string };

/** The cron expression of a pick (undefined for none). */
export function cronOf(pick: SchedulePick): string | undefined {
  switch (pick.kind) {
    case 'none':
      return undefined;
    case 'hourly':
      return `${pick.minute ?? 0} * * * *`;
    case 'daily': {
      const { hour, minute } = timeParts(pick.at);
      return `${minute} ${hour} * * *`;
    }
    case 'weekly': {
      const { hour, minute } = timeParts(pick.at);
      return `${minute} ${hour} * * ${WEEKDAYS.indexOf(pick.day)}`;
    }
    case 'cron':
      return pick.cron.trim().replace(/\s+/g, ' ');
  }
}

/** The `--schedule` flag: `none`, `hourly`, `daily 09:00`, `weekly mon 09:00`, or five cron fields. */
export function parseSchedule(text: string): SchedulePick {
  const words = text.trim().toLowerCase().split(/\s+/);
  if (words[0] === 'none' && words.length === 1) return { kind: 'none' };
  if (words[0] === 'hourly' && words.length === 1) return { kind: 'hourly' };
  if (words[0] === 'daily' && words.length === 2 && !timeOfDayProblem(words[1])) return { kind: 'daily', at: words[1] };
  const day = WEEKDAYS.find((name) => words[1]?.startsWith(name));
  if (words[0] === 'weekly' && words.length === 3 && day && !timeOfDayProblem(words[2])) return { kind: 'weekly', day, at: words[2] };
  const cron = text.trim();
  const problem = unixCronProblem(cron);
  if (problem) {
    throw ConfigError.of(`--schedule "${text}" is not a schedule: ${problem}`, 'use none, hourly, "daily 09:00", "weekly mon 09:00", or a cron expression such as "30 6 * * 1-5"');
  }
  return { kind: 'cron', cron };
}

/** `every day at 09:00` and the like, for comments. */
export function describeSchedule(pick: SchedulePick, timezone: string): string {
  switch (pick.kind) {
    case 'none':
      return 'no schedule';
    case 'hourly':
      return `every hour, on the hour (${timezone})`;
    case 'daily':
      return `every day at ${pick.at} ${timezone}`;
    case 'weekly':
      return `every ${WEEKDAY_NAMES[WEEKDAYS.indexOf(pick.day)]} at ${pick.at} ${timezone}`;
    case 'cron':
      return `cron "${pick.cron}" in ${timezone}`;
  }
}

/** Words for the comments of a job file. */
export interface JobNotes {
  readonly sourceType: string;
  readonly destinationType: string;
  readonly schedule?: string;
}

const STRATEGY_NOTES: Record<JobSpec['load']['strategy'], (cursor?: string) => string> = {
  transactional: (cursor) => (cursor ? `appends the rows whose ${cursor} grew since the last run` : 'appends the files that are new or changed since the last run'),
  catalog: () => 'replaces the whole table with a fresh snapshot on every run',
  merge: (cursor) => `updates rows by primary key (insert or replace)${cursor ? `, reading those whose ${cursor} grew since the last run` : ''}`,
};

/** A job spec as YAML, with a comment above each block. */
export function renderJob(spec: JobSpec, notes: JobNotes): string {
  const source = spec.source;
  const what = source.table ? `table ${source.table}` : source.collection ? `collection ${source.collection}` : `files matching ${source.pattern}`;
  const parts = [
    `# ${spec.name}: written by b2betl init. Check it with \`b2betl validate\`, try it with \`b2betl run --dry-run\`.`,
    block('name', spec.name),
    '',
    `# Where the rows come from: ${what} of connection ${source.connection} (${notes.sourceType}).${source.columns ? ' Only the columns listed are loaded.' : ''}`,
    block('source', source),
    '',
    `# How it loads: ${spec.load.strategy} ${STRATEGY_NOTES[spec.load.strategy](spec.load.cursor)}.${spec.load.start !== undefined ? ` The first run starts at ${String(spec.load.start)}.` : ''}`,
    block('load', loadBlock(spec.load)),
    '',
    `# Where the rows go: table ${spec.destination.table} of connection ${spec.destination.connection} (${notes.destinationType}); names are sanitized as \`b2betl inspect-schema\` shows.`,
    block('destination', spec.destination),
  ];
  if (spec.schedule) {
    parts.push(
      '',
      `# When it runs: ${notes.schedule ?? spec.schedule.cron}. \`b2betl schedule apply\` puts it in Cloud Scheduler; \`b2betl jobs pause ${spec.name}\` stops it.`,
      block('schedule', { cron: spec.schedule.cron, timezone: spec.schedule.timezone }),
    );
  }
  return `${parts.join('\n')}\n`;
}

/** Only the load keys the wizard chose (no schema defaults such as max_bad_records: 0). */
function loadBlock(load: JobSpec['load']): Record<string, unknown> {
  const out: Record<string, unknown> = { strategy: load.strategy };
  if (load.cursor) out.cursor = load.cursor;
  if (load.start !== undefined) out.start = load.start;
  if (load.primary_key) out.primary_key = load.primary_key;
  return out;
}

/** `key:` and its value as block YAML, lists on one line (`columns: [id, total]`). */
function block(key: string, value: unknown): string {
  const doc = new Document({ [key]: value });
  visit(doc, {
    Seq(_key, node) {
      node.flow = true;
    },
    Pair(_key, pair) {
      // A cron expression reads as one value only in quotes.
      if (isScalar(pair.key) && pair.key.value === 'cron' && isScalar(pair.value)) pair.value.type = 'QUOTE_DOUBLE';
    },
  });
  return doc.toString({ indent: 2, lineWidth: 0, flowCollectionPadding: false }).trimEnd();
}
