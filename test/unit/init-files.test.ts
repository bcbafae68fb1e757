/** What init writes: schedules from the wizard's choices and flags, and job files with a comment per block. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { cronOf, describeSchedule, parseSchedule, renderJob, timeOfDayProblem } from '../../src/cli/init-files.js';
import { jobSchema } from '../../src/core/spec.js';

test('schedule flags and picks become cron expressions', () => {
  assert.equal(cronOf(parseSchedule('none')), undefined);
  assert.equal(cronOf(parseSchedule('hourly')), '0 * * * *');
  assert.equal(cronOf(parseSchedule('daily 09:00')), '0 9 * * *');
  assert.equal(cronOf(parseSchedule('Daily 7:05')), '5 7 * * *');
  assert.equal(cronOf(parseSchedule('weekly mon 06:15')), '15 6 * * 1');
  assert.equal(cronOf(parseSchedule('weekly sunday 23:59')), '59 23 * * 0');
  assert.equal(cronOf(parseSchedule('30 6 * * 1-5')), '30 6 * * 1-5');
  assert.equal(describeSchedule(parseSchedule('weekly fri 18:00'), 'Europe/Kyiv'), 'every Friday at 18:00 Europe/Kyiv');
});

test('a schedule flag that is none of them says what is accepted', () => {
  assert.throws(() => parseSchedule('daily 25:00'), /--schedule "daily 25:00" is not a schedule: "daily 25:00" has 2 field\(s\)[\s\S]*use none, hourly, "daily 09:00", "weekly mon 09:00"/);
  assert.throws(() => parseSchedule('61 * * * *'), /"61" is not a valid minute/);
  assert.throws(() => parseSchedule('@daily'), /has 1 field\(s\)/);
  assert.equal(timeOfDayProblem('24:00'), '"24:00" is not a time of day: write HH:MM in 24-hour time, e.g. 09:00 or 18:30');
  assert.equal(timeOfDayProblem('9:30'), undefined);
});

test('a job file has a comment above each block and reads back as the spec', () => {
  const spec = jobSchema.parse({
    name: 'orders',
    source: { connection: 'shop', table: 'public.orders', columns: ['id', 'Total (EUR)'] },
    load: { strategy: 'merge', cursor: 'updated_at', start: '2024-01-01', primary_key: ['id'] },
    destination: { connection: 'warehouse', table: 'orders' },
    schedule: { cron: '0 9 * * *', timezone: 'Europe/Kyiv' },
  });
  const text = renderJob(spec, { sourceType: 'postgres', destinationType: 'duckdb', schedule: 'every day at 09:00 Europe/Kyiv' });
  const blocks = text.trimEnd().split('\n\n');
  assert.equal(blocks.length, 5);
  for (const block of blocks) assert.match(block, /^# .+\n[a-z]+:/);
  assert.match(text, /columns: \[id, Total \(EUR\)\]/);
  assert.match(text, /cron: "0 9 \* \* \*"/);
  assert.match(text, /# How it loads: merge updates rows by primary key \(insert or replace\), reading those whose updated_at grew since the last run\. The first run starts at 2024-01-01\./);
  assert.deepEqual(jobSchema.parse(parse(text)), spec);
});

test('a file job without a schedule has no schedule block and no defaults the user did not choose', () => {
  const spec = jobSchema.parse({ name: 'sales', source: { connection: 'inbox', pattern: 'sales_*.csv' }, destination: { connection: 'warehouse', table: 'sales' } });
  const text = renderJob(spec, { sourceType: 'local', destinationType: 'duckdb' });
  assert.doesNotMatch(text, /schedule:|max_bad_records|fill_required_defaults|engine/);
  assert.match(text, /# How it loads: transactional appends the files that are new or changed since the last run\.\nload:\n {2}strategy: transactional\n/);
});
