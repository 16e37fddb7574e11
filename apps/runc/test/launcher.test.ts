import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';

// The launcher's fast path: start/kill of a sysbox container go straight to its engine; all else to Node.
const dir = mkdtempSync(join(tmpdir(), 'launcher-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fake = (name: string) => {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\nprintf '%s\\n' "${name}" "$@"\n`);
  chmodSync(p, 0o755);
  return p;
};
const node = fake('node');
const engine = fake('engine');
const launcher = join(dir, 'sysbox-runc');
writeFileSync(
  launcher,
  readFileSync(join(__dirname, '..', 'bin', 'sysbox-runc.sh'), 'utf8').replaceAll('@NODE@', node).replaceAll('@MAIN@', '/main.js'),
);
chmodSync(launcher, 0o755);
const root = join(dir, 'root');
mkdirSync(join(root, 'sysbox', 'c1'), { recursive: true });
writeFileSync(join(root, 'sysbox', 'c1', 'engine'), `${engine}\n`);

const run = (...args: string[]) => execFileSync(launcher, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } }).trim().split('\n');

describe('sysbox-runc launcher', () => {
  test('start of a sysbox container goes to its engine with --root rewritten', () => {
    expect(run('--root', root, '--log', '/l.json', '--log-format', 'json', 'start', 'c1')).toEqual([
      'engine', '--root', `${root}/engine`, '--log', '/l.json', '--log-format', 'json', 'start', 'c1',
    ]);
    expect(run(`--root=${root}`, 'kill', '--all', 'c1', 'KILL')).toEqual(['engine', `--root=${root}/engine`, 'kill', '--all', 'c1', 'KILL']);
  });

  test('delete of an id nobody knows goes to the last engine; a known one to Node', () => {
    writeFileSync(join(root, 'engine-path'), `${engine}\n`);
    expect(run('--root', root, 'delete', '--force', 'gone')).toEqual(['engine', '--root', `${root}/engine`, 'delete', '--force', 'gone']);
    expect(run('--root', root, 'delete', 'c1')).toEqual(['node', '/main.js', '--root', root, 'delete', 'c1']);
    mkdirSync(join(root, 'engine', 'e1'), { recursive: true });
    expect(run('--root', root, 'delete', 'e1')[0]).toBe('node');
  });

  test('everything else goes to Node, arguments untouched', () => {
    expect(run('--root', root, 'create', '--bundle', '/b', 'c1')).toEqual(['node', '/main.js', '--root', root, 'create', '--bundle', '/b', 'c1']);
    expect(run('--root', root, 'start', 'unknown')).toEqual(['node', '/main.js', '--root', root, 'start', 'unknown']);
    expect(run('--root', root, '--engine', 'crun', 'start', 'c1')[0]).toBe('node');
    expect(run('--root', root, 'kill', '--bogus', 'c1')[0]).toBe('node');
    expect(run('--version')[0]).toBe('node');
    expect(run('--root', root, 'start', '../x')[0]).toBe('node');
  });
});
