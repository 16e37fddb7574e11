import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { claimPidFile, StartError } from '../src/daemon.js';
import { parseFlags, UsageError } from '../src/flags.js';

describe('flags', () => {
  test('defaults', () => {
    expect(parseFlags([])).toEqual({
      socket: '/run/sysbox/mgr.sock',
      pidFile: '/run/sysbox/mgr.pid',
      dataDir: '/var/lib/sysbox',
      logLevel: 'info',
      logFile: 'stderr',
      rangeSize: 65536,
      reapInterval: 30,
      fsSocket: '/run/sysbox/fs.sock',
      help: false,
    });
  });
  test('every flag', () => {
    const f = parseFlags(['--socket', '/s', '--pid-file=/p', '--data-dir', '/d', '--log-level', 'debug', '--log-file', '/l', '--range-size', '1000', '--reap-interval', '0.5', '--fs-socket', 'none', '-h']);
    expect(f).toEqual({ socket: '/s', pidFile: '/p', dataDir: '/d', logLevel: 'debug', logFile: '/l', rangeSize: 1000, reapInterval: 0.5, fsSocket: 'none', help: true });
  });
  test.each([
    [['--bogus'], 'unknown flag --bogus (see sysbox-mgr --help)'],
    [['extra'], 'unexpected argument extra (see sysbox-mgr --help)'],
    [['--log-level', 'loud'], '--log-level must be one of fatal|error|warn|info|debug|trace|silent, got "loud"'],
    [['--range-size=-5'], '--range-size must be a positive integer, got "-5"'],
    [['--socket'], "Option '--socket <value>' argument missing (see sysbox-mgr --help)"],
    [['--range-size', '0'], '--range-size must be a positive integer, got "0"'],
    [['--socket', ''], '--socket must not be empty'],
    [['--reap-interval', 'soon'], '--reap-interval must be a number of seconds >= 0, got "soon"'],
  ])('%j → %s', (argv, msg) => {
    expect(() => parseFlags(argv)).toThrow(UsageError);
    expect(() => parseFlags(argv)).toThrow(msg);
  });
});

describe('pid file', () => {
  test('a live sysbox-mgr holds it; a dead or unrelated pid does not', async () => {
    const d = await mkdtemp(join(tmpdir(), 'mgr-pid-'));
    const p = join(d, 'mgr.pid');
    await claimPidFile(p, 4242);
    expect(await readFile(p, 'utf8')).toBe('4242\n');
    // a live process whose command line names mgr
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)', 'sysbox-mgr']);
    try {
      await new Promise((r) => child.once('spawn', r));
      await writeFile(p, `${child.pid}\n`);
      await expect(claimPidFile(p, 4242)).rejects.toThrow(StartError);
      await expect(claimPidFile(p, 4242)).rejects.toThrow(`sysbox-mgr is already running (pid ${child.pid}, from ${p})`);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.once('exit', r));
    await claimPidFile(p, 4242); // dead now
    await writeFile(p, '1\n'); // init: alive, but not a sysbox-mgr
    await claimPidFile(p, 4242);
    expect(await readFile(p, 'utf8')).toBe('4242\n');
  });
});
