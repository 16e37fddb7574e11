import { describe, expect, test } from 'vitest';
import { parseArgs, rewriteFlags, get, isSet, UsageError } from '../src/cli.js';

describe('runc command line', () => {
  test('containerd-shim create', () => {
    const p = parseArgs([
      '--root', '/var/run/docker/runtime-sysbox-runc/moby', '--log', '/run/x/log.json', '--log-format', 'json',
      'create', '--bundle', '/b', '--pid-file', '/b/init.pid', '--console-socket', '/tmp/pty.sock', 'abc',
    ]);
    expect(p.command).toBe('create');
    expect(get(p.global, 'root')).toBe('/var/run/docker/runtime-sysbox-runc/moby');
    expect(get(p.global, 'log-format')).toBe('json');
    expect(get(p.flags, 'bundle')).toBe('/b');
    expect(p.positionals).toEqual(['abc']);
  });

  test('short aliases, = form, single dash', () => {
    const p = parseArgs(['-root=/r', 'create', '-b', '/b', '--no-pivot', '--preserve-fds=2', 'id1']);
    expect(get(p.global, 'root')).toBe('/r');
    expect(get(p.flags, 'bundle')).toBe('/b');
    expect(isSet(p.flags, 'no-pivot')).toBe(true);
    expect(get(p.flags, 'preserve-fds')).toBe('2');
  });

  test('exec keeps argv after the id, repeated flags accumulate', () => {
    const p = parseArgs(['exec', '-e', 'A=1', '--env', 'B=2', '-t', 'c1', 'sh', '-c', 'echo hi']);
    expect(p.flags.get('env')).toEqual(['A=1', 'B=2']);
    expect(p.positionals).toEqual(['c1', 'sh', '-c', 'echo hi']);
  });

  test('kill with signal', () => {
    const p = parseArgs(['kill', '--all', 'c1', 'KILL']);
    expect(isSet(p.flags, 'all')).toBe(true);
    expect(p.positionals).toEqual(['c1', 'KILL']);
  });

  test('unknown flags and commands are usage errors', () => {
    expect(() => parseArgs(['--bogus', 'state', 'x'])).toThrow(UsageError);
    expect(() => parseArgs(['create', '--bogus', 'x'])).toThrow(/flag provided but not defined: -bogus/);
    expect(() => parseArgs(['frobnicate'])).toThrow(/unknown command/);
    expect(() => parseArgs(['create', '--bundle'])).toThrow(/flag needs an argument/);
  });

  test('rewriteFlags replaces bundle and process, keeps the rest in order', () => {
    const p = parseArgs(['create', '-b', '/orig', '--pid-file', '/p', '--no-pivot', 'id']);
    expect(rewriteFlags(p, { bundle: '/private' })).toEqual(['--pid-file', '/p', '--no-pivot', '--bundle', '/private']);
    const e = parseArgs(['exec', '--process=/x.json', '--detach', 'id']);
    expect(rewriteFlags(e, { process: '/y.json' })).toEqual(['--detach', '--process', '/y.json']);
  });
});
