/**
 * Editing `schedule.paused` in a job file in place: only the bytes of that one value change (or
 * one `paused:` entry is added), so comments, quoting, flow maps and blank lines stay as the
 * user wrote them.
 */
import { isMap, isScalar, parseDocument } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { setIn } from '../core/yaml-edit.js';

/** `text` with `schedule.paused` set to `paused`; unchanged text when it already is. */
export function withPaused(text: string, paused: boolean, file: string): string {
  const schedule = parseDocument(text).get('schedule', true);
  if (!isMap(schedule) || !schedule.range) {
    throw ConfigError.of(`${file} has no schedule: block to pause or resume`, 'add schedule: { cron: "0 9 * * *", timezone: UTC } first', file);
  }
  const current = schedule.get('paused', true);
  if (current !== undefined && !(isScalar(current) && typeof current.value === 'boolean')) {
    throw ConfigError.of(`${file}: schedule.paused is not a plain true/false`, 'write paused: true or paused: false', file);
  }
  return setIn(text, ['schedule', 'paused'], paused, file);
}
