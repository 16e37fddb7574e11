import { describe, expect, it } from 'vitest';
import { parseFlags, UsageError } from '../src/flags.js';

describe('flags', () => {
  it('devfuse with the fd store beside --socket and a 50 µs spin by default; fuse-native selectable', () => {
    expect(parseFlags([])).toMatchObject({ fuse: 'devfuse', fdStore: '/run/sysbox/mgr-fds.sock', spinUs: 50 });
    expect(parseFlags(['--socket', '/x/fs.sock', '--fuse', 'fuse-native', '--spin-us', '0'])).toMatchObject({ fuse: 'fuse-native', fdStore: '/x/mgr-fds.sock', spinUs: 0 });
    expect(parseFlags(['--fd-store', 'none']).fdStore).toBe('none');
    expect(() => parseFlags(['--fuse', 'libfuse'])).toThrow(UsageError);
    expect(() => parseFlags(['--spin-us', '5000'])).toThrow(/spin-us/);
  });
});
