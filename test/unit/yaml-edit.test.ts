/** Editing YAML in place: values set and entries added with every comment, blank line and quote kept. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { addEntry, setIn } from '../../src/core/yaml-edit.js';
import { ConfigError } from '../../src/core/errors.js';

const CONFIG = [
  '# my config',
  'connections:',
  '  # the db',
  '  pg: { type: postgres, host: h }   # inline',
  '',
  '  # files',
  '  lake:',
  '    type: local',
  "    path: './x'",
  '# trailing comment',
  'ledger: ./l.sqlite',
  '',
].join('\n');

test('an entry joins the end of a block map with its comment, everything else byte for byte', () => {
  const out = addEntry(CONFIG, ['connections'], 'shop', { type: 'postgres', host: '127.0.0.1', password: '${SHOP_PASSWORD}' }, 'etl.config.yaml', 'added by init');
  const lines = CONFIG.split('\n');
  assert.equal(
    out,
    [...lines.slice(0, 9), '  # added by init', '  shop:', '    type: postgres', '    host: 127.0.0.1', '    password: ${SHOP_PASSWORD}', ...lines.slice(9)].join('\n'),
  );
});

test('a missing map is created: in an empty file, after a bare key, inside a flow map', () => {
  assert.equal(addEntry('', ['connections'], 'a', { type: 'local', path: './d' }, 'f', 'note'), 'connections:\n  # note\n  a:\n    type: local\n    path: ./d\n');
  assert.equal(addEntry('# only a comment\n', ['connections'], 'a', { type: 'local' }, 'f'), '# only a comment\nconnections:\n  a:\n    type: local\n');
  assert.equal(addEntry('connections:   # none yet\nledger: x\n', ['connections'], 'a', { type: 'local' }, 'f'), 'connections: # none yet\n  a:\n    type: local\nledger: x\n');
  assert.equal(addEntry('connections: {}\n', ['connections'], 'a', { type: 'local', path: './d' }, 'f'), 'connections: { a: { type: local, path: ./d } }\n');
  assert.equal(addEntry('connections: { b: { type: local, path: ./b } }\n', ['connections'], 'a', { type: 'local' }, 'f'), 'connections: { b: { type: local, path: ./b }, a: { type: local } }\n');
});

test('an existing key is refused, never replaced', () => {
  assert.throws(() => addEntry(CONFIG, ['connections'], 'pg', { type: 'mysql' }, 'etl.config.yaml'), (error: unknown) => error instanceof ConfigError && /connections\.pg already exists/.test(error.message));
});

test('a value changes only its own bytes; a missing one is added under its parent', () => {
  const job = '# job\nname: orders # the name\nsource:\n  connection: pg\nload:\n  strategy: catalog\n';
  assert.equal(setIn(job, ['name'], 'orders-2', 'f'), '# job\nname: orders-2 # the name\nsource:\n  connection: pg\nload:\n  strategy: catalog\n');
  assert.equal(setIn(job, ['destination', 'table'], 'orders', 'f'), `${job}destination:\n  table: orders\n`);
  assert.equal(setIn('name: a\ndestination: { connection: w }\n', ['destination', 'table'], 'orders', 'f'), 'name: a\ndestination: { connection: w, table: orders }\n');
  assert.equal(setIn('schedule:\n  cron: "0 9 * * *"   # nine\n  timezone: UTC\n', ['schedule', 'paused'], true, 'f'), 'schedule:\n  cron: "0 9 * * *"   # nine\n  timezone: UTC\n  paused: true\n');
  assert.equal(setIn(job, ['name'], 'orders', 'f'), job, 'unchanged text when the value is already there');
  const crlf = 'name: a\r\nschedule:\r\n  cron: "0 9 * * *"\r\n';
  assert.deepEqual(parse(setIn(crlf, ['schedule', 'paused'], false, 'f')), { name: 'a', schedule: { cron: '0 9 * * *', paused: false } });
  assert.match(setIn(crlf, ['schedule', 'paused'], false, 'f'), /\r\n {2}paused: false\r\n$/);
});

test('a value that is not plain, or a parent that is not a map, is refused', () => {
  assert.throws(() => setIn('name: [a, b]\n', ['name'], 'x', 'job.yaml'), /name is not a plain value/);
  assert.throws(() => setIn('destination: orders\n', ['destination', 'table'], 'x', 'job.yaml'), /destination is not a mapping/);
  assert.throws(() => setIn('name: "unclosed\n', ['name'], 'x', 'job.yaml'), /job\.yaml is not valid YAML/);
});
