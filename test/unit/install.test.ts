import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import semver from 'semver';
import { repoRoot } from '../support/cli.js';

interface LockPackage {
  readonly version?: string;
  readonly engines?: { readonly node?: string } | readonly string[];
}

test('every installed package runs on the lowest Node.js version package.json declares', async () => {
  const manifest = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } };
  const lock = JSON.parse(await readFile(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPackage> };
  const floor = semver.minVersion(manifest.engines.node);
  assert.ok(floor, `engines.node ${manifest.engines.node} has a lowest version`);
  const refused = Object.entries(lock.packages).flatMap(([location, info]) => {
    const wanted = info.engines && !Array.isArray(info.engines) ? (info.engines as { node?: string }).node : undefined;
    return location && wanted && !semver.satisfies(floor, wanted) ? [`${location.replace(/^.*node_modules\//, '')}@${info.version}: node ${wanted}`] : [];
  });
  assert.deepEqual(refused, [], `npm would warn about engines on Node.js ${floor.version}`);
});

test('the README names the same Node.js floor as package.json', async () => {
  const manifest = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } };
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const floor = semver.minVersion(manifest.engines.node)!;
  assert.match(readme, new RegExp(`Node\\.js ${floor.major}\\.${floor.minor}\\+`));
});
