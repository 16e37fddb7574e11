import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AUDIT_ARCH_I386,
  AUDIT_ARCH_X86_64,
  FakeHost,
  NamespaceTables,
  X32_SYSCALL_BIT,
  parseMountinfo,
  recordInitialMounts,
  vet,
  type FakeHostOptions,
  type Notification,
  type Verdict,
} from '../src/index.js';

const here = new URL('.', import.meta.url).pathname;

/** A mount table recorded in a real container under sysbox-runc on this machine (see fixtures/README.md). */
export function recorded(name: 'plain' | 'unshare' | 'chroot' | 'pivot' | 'debian-default' | 'debian-privileged' | 'views'): string {
  return readFileSync(join(here, 'fixtures', `sysbox-${name}.mountinfo`), 'utf8');
}

/** The container's record, from the init's recorded table. */
export function initialOf(table = recorded('plain')) {
  return recordInitialMounts(parseMountinfo(table));
}

export const NR = {
  x86_64: { mount: 165, umount2: 166, openat2: 437, mount_setattr: 442 },
  i386: { mount: 21, umount: 22, umount2: 52, openat2: 437, mount_setattr: 442 },
} as const;

export interface Harness {
  host: FakeHost;
  tables: NamespaceTables;
  str(s: string): bigint;
  call(name: keyof typeof NR.x86_64 | 'umount', args: Array<bigint | number | string | Buffer | null>, o?: { arch?: 'x86_64' | 'i386' | 'x32'; fast?: boolean }): Promise<Verdict>;
  /** call without the fast rules: the handlers alone */
  callWithout(name: keyof typeof NR.x86_64 | 'umount', args: Array<bigint | number | string | Buffer | null>): Promise<Verdict>;
}

/** A fake host whose caller sees `mounts` (default: the recorded plain table), the container recorded from `init`. */
export function harness(o: Partial<FakeHostOptions> & { init?: string } = {}): Harness {
  const host = new FakeHost({ mounts: o.mounts ?? recorded('plain'), ...o });
  const tables = new NamespaceTables(initialOf(o.init ?? recorded('plain')));
  let id = 1n;
  const str = (s: string) => host.memory.put(s);
  const h: Harness = {
    host,
    tables,
    str,
    callWithout: (name, args) => h.call(name, args, { fast: false }),
    call(name, args, co: { arch?: 'x86_64' | 'i386' | 'x32'; fast?: boolean } = {}) {
      const arch = co.arch ?? 'x86_64';
      const nrs = (arch === 'i386' ? NR.i386 : NR.x86_64) as Record<string, number>;
      let nr = nrs[name];
      if (nr === undefined) throw new Error(`no ${name} on ${arch}`);
      if (arch === 'x32') nr |= X32_SYSCALL_BIT;
      const raw = args.map((a) => (a === null ? 0n : typeof a === 'string' ? str(a) : Buffer.isBuffer(a) ? host.memory.put(a) : BigInt(a)));
      while (raw.length < 6) raw.push(0n);
      const n: Notification = { id: id++, pid: 4242, syscall: nr, arch: arch === 'i386' ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64, args: raw };
      return vet(n, { containerId: 'c1', tables: () => tables }, host, co.fast === false ? { fast: false } : {});
    },
  };
  return h;
}
