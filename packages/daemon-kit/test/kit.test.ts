import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { claimPidFile, COMMON_USAGE, holdingPidFile, parseDaemonFlags, releasePidFile, StartError, UsageError } from '../src/index.js';

describe('pid file', () => {
  test('a live sysbox-mgr holds it; a dead or unrelated pid does not', async () => {
    const d = await mkdtemp(join(tmpdir(), 'mgr-pid-'));
    const p = join(d, 'mgr.pid');
    await claimPidFile('sysbox-mgr', /mgr/, p, 4242);
    expect(await readFile(p, 'utf8')).toBe('4242\n');
    // a live process whose command line names mgr
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)', 'sysbox-mgr']);
    try {
      await new Promise((r) => child.once('spawn', r));
      await writeFile(p, `${child.pid}\n`);
      await expect(claimPidFile('sysbox-mgr', /mgr/, p, 4242)).rejects.toThrow(StartError);
      await expect(claimPidFile('sysbox-mgr', /mgr/, p, 4242)).rejects.toThrow(`sysbox-mgr is already running (pid ${child.pid}, from ${p})`);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    await claimPidFile('sysbox-mgr', /mgr/, p, 4242); // dead now
    await writeFile(p, '1\n'); // init: alive, but not a sysbox-mgr
    await claimPidFile('sysbox-mgr', /mgr/, p, 4242);
    expect(await readFile(p, 'utf8')).toBe('4242\n');
  });
});

describe('releasePidFile', () => {
  test('removes the file only while it names us', async () => {
    const d = await mkdtemp(join(tmpdir(), 'kit-pid-'));
    const p = join(d, 'x.pid');
    await writeFile(p, '4242\n');
    await releasePidFile(p, 1);
    expect(await readFile(p, 'utf8')).toBe('4242\n');
    await releasePidFile(p, 4242);
    await expect(readFile(p, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('common flags', () => {
  const defaults = { socket: '/run/x.sock', pidFile: '/run/x.pid' };
  test('defaults, the common ones and the daemon\'s own', () => {
    const { common, values } = parseDaemonFlags('sysbox-x', ['--log-level=debug', '--extra', 'e'], defaults, { extra: { type: 'string' } });
    expect(common).toEqual({ socket: '/run/x.sock', pidFile: '/run/x.pid', logLevel: 'debug', logFile: 'stderr', help: false });
    expect(values.extra).toBe('e');
    expect(COMMON_USAGE(defaults)).toContain('gRPC unix socket (default /run/x.sock)');
  });
  test.each([
    [['--bogus'], 'unknown flag --bogus (see sysbox-x --help)'],
    [['extra'], 'unexpected argument extra (see sysbox-x --help)'],
    [['--log-level', 'loud'], '--log-level must be one of fatal|error|warn|info|debug|trace|silent, got "loud"'],
    [['--pid-file', ''], '--pid-file must not be empty'],
  ])('%j → %s', (argv, msg) => {
    expect(() => parseDaemonFlags('sysbox-x', argv, defaults, {})).toThrow(UsageError);
    expect(() => parseDaemonFlags('sysbox-x', argv, defaults, {})).toThrow(msg);
  });
});

describe('holdingPidFile', () => {
  test('a failed start releases the pid file; a stop runs once, then releases it', async () => {
    const d = await mkdtemp(join(tmpdir(), 'kit-hold-'));
    const p = join(d, 'x.pid');
    await expect(holdingPidFile('sysbox-x', /x/, p, async () => Promise.reject(new StartError('no socket')))).rejects.toThrow('no socket');
    await expect(readFile(p, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    let stops = 0;
    const daemon = await holdingPidFile('sysbox-x', /x/, p, async () => ({ port: 1, stop: async () => void stops++ }));
    expect(await readFile(p, 'utf8')).toBe(`${process.pid}\n`);
    expect(daemon.port).toBe(1);
    await Promise.all([daemon.stop(), daemon.stop()]);
    await daemon.stop();
    expect(stops).toBe(1);
    await expect(readFile(p, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
