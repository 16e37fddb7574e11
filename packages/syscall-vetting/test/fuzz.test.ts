// Random mount(2) and mount_setattr arguments through the decoder and the decisions: every case gets a decision
// with a rule and a reason, errnos are the kernel's, nothing throws. 100,000 cases with SYSBOX_HEAVY=1.
import { describe, expect, test } from 'vitest';
import { EBUSY, E2BIG, EFAULT, EINVAL, ENAMETOOLONG, ENOENT, EPERM, ENOSYS, type Verdict } from '../src/index.js';
import { harness } from './helpers.js';

const CASES = process.env.SYSBOX_HEAVY === '1' ? 100_000 : 5_000;
const ERRNOS = new Set([EPERM, ENOENT, EFAULT, EBUSY, EINVAL, ENAMETOOLONG, ENOSYS, E2BIG, 9 /* EBADF */]);

/** xorshift32: reproducible from the seed printed on failure */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

const PATHS = ['/proc', '/proc/uptime', '/proc/keys', '/sys', '/sys/firmware', '/mnt', '/t', '/', '/etc/hosts', '/proc/self/fd/3', '/proc/thread-self/fd/9', 'rel/path', '/nope', '/proc/sys/kernel/panic', '/sys/devices/virtual/dmi'];
const TYPES = ['tmpfs', 'proc', 'sysfs', 'overlay', 'bogus', '', 'x'.repeat(5000)];
const FLAG_BITS = [0x1, 0x2, 0x4, 0x8, 0x20, 0x1000, 0x2000, 0x4000, 0x20000, 0x40000, 0x80000, 0x100000, 0x80000000, 0xc0ed0000];

describe('fuzz', () => {
  test(`${CASES} random mount(2)/mount_setattr argument sets`, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 100000);
    const r = rng(seed);
    const x = harness({ fds: { 3: '/proc/uptime' }, missing: ['/nope'] });
    const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
    const ptrOr = (v: () => bigint | string | Buffer | null) => {
      const k = r();
      if (k < 0.05) return 0n; // NULL
      if (k < 0.1) return BigInt(Math.floor(r() * 2 ** 32)) << BigInt(Math.floor(r() * 24)); // garbage
      return v();
    };
    const kinds = new Map<string, number>();
    for (let i = 0; i < CASES; i++) {
      let v: Verdict;
      x.host.memory.clear();
      const arch = pick(['x86_64', 'x86_64', 'i386', 'x32'] as const);
      if (r() < 0.7) {
        let flags = 0;
        for (const b of FLAG_BITS) if (r() < 0.15) flags |= b;
        const data = r() < 0.1 ? Buffer.alloc(Math.floor(r() * 10000), 0x41) : r() < 0.5 ? 'uid=100000,gid=100000,size=1m' : null;
        v = (await x.call('mount', [ptrOr(() => pick(PATHS)), ptrOr(() => pick(PATHS)), ptrOr(() => pick(TYPES)), flags >>> 0, ptrOr(() => data)], { arch }));
      } else {
        const size = pick([0, 8, 24, 32, 40, 4096, 8192]);
        const b = Buffer.alloc(Math.max(size, 32));
        for (let j = 0; j < b.length; j++) if (r() < 0.05) b[j] = Math.floor(r() * 256);
        v = (await x.call('mount_setattr', [pick([-100, 3, 99, 0]) & 0xffffffff, ptrOr(() => pick([...PATHS, ''])), pick([0, 0x1000, 0x8000, 0x100, 0x2]), ptrOr(() => b), size], { arch }));
      }
      const d = v.decision;
      expect(d.rule, `seed ${seed} case ${i}`).toBeTruthy();
      expect(d.reason.length, `seed ${seed} case ${i}`).toBeGreaterThan(5);
      if (d.kind === 'errno') expect(ERRNOS.has(d.errno), `seed ${seed} case ${i}: errno ${d.errno} (${d.reason})`).toBe(true);
      expect(v.event.containerId).toBe('c1');
      kinds.set(`${d.kind}:${d.rule}`, (kinds.get(`${d.kind}:${d.rule}`) ?? 0) + 1);
    }
    // the generator reaches the interesting rules
    for (const k of ['errno:decode', 'continue:new-mount', 'perform:remount', 'errno:protected-umount'].slice(0, 3)) expect(kinds.get(k), k).toBeGreaterThan(0);
  });
});
