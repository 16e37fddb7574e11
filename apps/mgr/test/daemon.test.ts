import { describe, expect, test } from 'vitest';
import { parseFlags, UsageError } from '../src/flags.js';
import { stateFilePath } from '../src/daemon.js';

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
    const f = parseFlags(['--socket', '/s', '--pid-file=/p', '--data-dir', '/d', '--log-level', 'debug', '--log-file', '/l', '--range-size', '1000', '--reap-interval', '0.5', '--fs-socket', 'none', '--state-file', '/st', '-h']);
    expect(f).toEqual({ socket: '/s', pidFile: '/p', dataDir: '/d', logLevel: 'debug', logFile: '/l', rangeSize: 1000, reapInterval: 0.5, fsSocket: 'none', stateFile: '/st', help: true });
  });
  test('the state file: beside the socket (on /run), or --state-file', () => {
    expect(stateFilePath(parseFlags([]))).toBe('/run/sysbox/mgr-state.json');
    expect(stateFilePath(parseFlags(['--socket', '/tmp/x/mgr.sock']))).toBe('/tmp/x/mgr-state.json');
    expect(stateFilePath(parseFlags(['--state-file', '/var/lib/sysbox/state.json']))).toBe('/var/lib/sysbox/state.json');
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
