import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, writeFileSync, statSync, readFileSync, chmodSync, lstatSync, existsSync, symlinkSync, readdirSync, openSync, closeSync } from 'node:fs';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  realKernel,
  isKernelError,
  KernelError,
  AT_FDCWD,
  MOVE_MOUNT_F_EMPTY_PATH,
  OPEN_TREE_CLONE,
  MS_RDONLY,
  MS_BIND,
  MS_SHARED,
  FSCONFIG_SET_STRING,
  FSCONFIG_CMD_CREATE,
  STATX_BASIC_STATS,
  STATX_MNT_ID,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  nsenterMoveMount,
  nsenterMoveMounts,
  nsenterPath,
  nsenterSysctlRead,
  nsenterSysctlWrite,
  nsenterNetExec,
  runNsenter,
  nsenterAsCaller,
  NotFuseError,
  O_CLOEXEC,
  O_PATH,
  RESOLVE_IN_ROOT,
  STATX_ATTR_MOUNT_ROOT,
} from '../src/index.js';
import { mountPoints, scratch } from './helpers.js';

const k = realKernel();
const BASE = 100000;
const map = [{ containerId: 0, hostId: BASE, size: 65536 }];
const isRoot = process.getuid?.() === 0;

/** A process in a private mount namespace of its own (unshare -m), for sysbox-nsenter to join: its pid once it is in it. */
async function privateMountNs(): Promise<{ pid: number; kill(): void }> {
  const sleeper = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '60'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200));
  const pid = Number(readFileSync(`/proc/${sleeper.pid}/task/${sleeper.pid}/children`, 'utf8').trim() || sleeper.pid);
  return { pid, kill: () => sleeper.kill('SIGKILL') };
}

describe.runIf(isRoot)('real kernel (root)', () => {
  let userns = -1;
  const ours = () => mountPoints().filter((m) => m.startsWith('/tmp/sbx-'));
  beforeAll(() => {
    // The C test helpers are not part of the build outputs (turbo may restore a cached build without them).
    execFileSync('make', ['-s', '-C', join(__dirname, '..', 'csrc'), 'test-helpers']);
    userns = k.createUserns(map, map);
  });
  afterAll(() => {
    k.close(userns);
    expect(ours()).toEqual([]);
  });

  it('createUserns gives a namespace with the requested maps', () => {
    // A process joining it sees the map.
    const out = execFileSync('nsenter', [`--user=/proc/self/fd/3`, 'cat', '/proc/self/uid_map'], {
      stdio: ['ignore', 'pipe', 'inherit', userns],
    }).toString();
    expect(out.trim().split(/\s+/)).toEqual(['0', String(BASE), '65536']);
  });

  it('spawnWait: exit statuses, fds mapped to the child, signals reset, the loop keeps running meanwhile', async () => {
    expect(await k.spawnWait('/bin/sh', ['sh', '-c', 'exit 7'], [0, 1, 2])).toBe(7);
    expect(await k.spawnWait('/bin/sh', ['sh', '-c', 'kill -TERM $$'], [0, 1, 2])).toBe(128 + 15);
    // child fds 1 and 3 are an O_CLOEXEC socket (mapped, so open in the child)
    const [a, b] = k.socketpair();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const done = k.spawnWait('/bin/sh', ['sh', '-c', 'sleep 0.1; echo out; [ -e /proc/self/fd/3 ] || echo no-fd-3'], [0, b, 2, b]);
    const code = await done;
    clearInterval(timer);
    expect(code).toBe(0);
    expect(ticks).toBeGreaterThan(5);
    k.shutdown(b, 1);
    const got = await k.recvFds(a, 0, 100);
    expect(got.data.toString()).toBe('out\n');
    k.close(a);
    k.close(b);
    await expect(k.spawnWait('/nonexistent/x', ['x'], [0, 1, 2])).rejects.toMatchObject({ code: 'ENOENT' });
    // signal dispositions reset: SIGPIPE is ignored by Node, default (terminating) in the child
    expect(await k.spawnWait('/bin/sh', ['sh', '-c', 'grep -q "^SigIgn:\\s*0*$" /proc/self/status'], [0, 1, 2])).toBe(0);
  });

  it('maps errors to KernelError with errno name, syscall and path', () => {
    const e = (() => {
      try {
        k.mount(null, '/nonexistent/sysbox', null, 0x1000);
      } catch (x) {
        return x;
      }
    })() as KernelError;
    expect(e).toBeInstanceOf(KernelError);
    expect(e.code).toBe('ENOENT');
    expect(e.errno).toBe(2);
    expect(e.syscall).toBe('mount');
    expect(e.path).toBe('/nonexistent/sysbox');
    expect(() => k.close(987654)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
  });

  it('an ID-mapped bind shows disk uid 0 as host uid 100000, and stores 100000 as 0', () => {
    const s = scratch(k, 'sbx-idmap-');
    try {
      chmodSync(s.dir, 0o711);
      mkdirSync(join(s.dir, 'src'));
      mkdirSync(join(s.dir, 'dst'));
      writeFileSync(join(s.dir, 'src', 'f'), 'x');
      chmodSync(join(s.dir, 'src'), 0o777);
      k.idmappedBind(join(s.dir, 'src'), join(s.dir, 'dst'), { usernsFd: userns });
      expect(statSync(join(s.dir, 'dst', 'f')).uid).toBe(BASE);
      expect(statSync(join(s.dir, 'src', 'f')).uid).toBe(0);
      // Host uid BASE creates a file through the mapping: stored as 0 on disk.
      const r = spawnSync('setpriv', [`--reuid=${BASE}`, `--regid=${BASE}`, '--clear-groups', 'touch', join(s.dir, 'dst', 'g')]);
      expect(r.status, r.stderr.toString()).toBe(0);
      expect(statSync(join(s.dir, 'src', 'g')).uid).toBe(0);
      const st = k.statx(AT_FDCWD, join(s.dir, 'dst', 'f'), 0, STATX_BASIC_STATS | STATX_MNT_ID);
      expect(st.uid).toBe(BASE);
      expect(st.mntId).toBeGreaterThan(0n);
      // Read-only variant refuses writes.
      mkdirSync(join(s.dir, 'ro'));
      k.idmappedBind(join(s.dir, 'src'), join(s.dir, 'ro'), { usernsFd: userns, readonly: true });
      expect(() => writeFileSync(join(s.dir, 'ro', 'h'), 'y')).toThrow(/EROFS/);
      // A clone of a mount in a shared peer group is private unless asked otherwise.
      mkdirSync(join(s.dir, 'shared'));
      mkdirSync(join(s.dir, 'p1'));
      mkdirSync(join(s.dir, 'p2'));
      k.mount(join(s.dir, 'src'), join(s.dir, 'shared'), null, MS_BIND);
      k.mount(null, join(s.dir, 'shared'), null, MS_SHARED);
      k.idmappedBind(join(s.dir, 'shared'), join(s.dir, 'p1'), { usernsFd: userns });
      k.idmappedBind(join(s.dir, 'shared'), join(s.dir, 'p2'), { usernsFd: userns, propagation: 0 });
      const optional = (mp: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === mp)!.split(' - ')[0]!.split(' ').slice(6);
      expect(optional(join(s.dir, 'shared')).some((o) => o.startsWith('shared:'))).toBe(true);
      expect(optional(join(s.dir, 'p1'))).toEqual([]);
      expect(optional(join(s.dir, 'p2')).some((o) => o.startsWith('shared:'))).toBe(true);
    } finally {
      s.cleanup();
    }
  });

  it('an overlay refuses MOUNT_ATTR_IDMAP (EINVAL); an overlay on ID-mapped lowers shows mapped owners', () => {
    const s = scratch(k, 'sbx-ovl-');
    try {
      for (const d of ['l1', 'l2', 'm1', 'm2', 'merged', 'idm']) mkdirSync(join(s.dir, d));
      writeFileSync(join(s.dir, 'l1', 'a'), 'a');
      writeFileSync(join(s.dir, 'l2', 'b'), 'b');
      k.idmappedBind(join(s.dir, 'l1'), join(s.dir, 'm1'), { usernsFd: userns, readonly: true });
      k.idmappedBind(join(s.dir, 'l2'), join(s.dir, 'm2'), { usernsFd: userns, readonly: true });
      k.mount('overlay', join(s.dir, 'merged'), 'overlay', MS_RDONLY, `lowerdir=${s.dir}/m1:${s.dir}/m2`);
      expect(statSync(join(s.dir, 'merged', 'a')).uid).toBe(BASE);
      expect(statSync(join(s.dir, 'merged', 'b')).gid).toBe(BASE);
      expect(() => k.idmappedBind(join(s.dir, 'merged'), join(s.dir, 'idm'), { usernsFd: userns })).toThrow(
        expect.objectContaining({ code: 'EINVAL', syscall: 'mount_setattr' }),
      );
    } finally {
      s.cleanup();
    }
  });

  it('fsopen/fsconfig/fsmount + moveMount attach a new tmpfs', () => {
    const s = scratch(k, 'sbx-fsmount-');
    try {
      const fs = k.fsopen('tmpfs', 0);
      k.fsconfig(fs, FSCONFIG_SET_STRING, 'mode', '0711');
      k.fsconfig(fs, FSCONFIG_CMD_CREATE);
      const m = k.fsmount(fs, 0, 0);
      k.close(fs);
      k.moveMount(m, '', AT_FDCWD, s.dir, MOVE_MOUNT_F_EMPTY_PATH);
      k.close(m);
      expect(lstatSync(s.dir).mode & 0o777).toBe(0o711);
      expect(() => k.fsconfig(k.fsopen('tmpfs', 0), FSCONFIG_SET_STRING, 'nosuchoption', 'x')).toThrow(
        expect.objectContaining({ code: 'EINVAL', syscall: 'fsconfig' }),
      );
    } finally {
      s.cleanup();
    }
  });

  it('passes fds over a unix socket pair without blocking the loop; pidfd_getfd copies an fd', async () => {
    const [a, b] = k.socketpair();
    const fd = k.open('/etc/hostname', 0);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const got = k.recvFds(b, 4, 64);
    await new Promise((r) => setTimeout(r, 30));
    k.sendFds(a, [fd], Buffer.from('hello'));
    const msg = await got;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(3);
    expect(msg.data.toString()).toBe('hello');
    expect(msg.fds).toHaveLength(1);
    expect(readFileSync(`/proc/self/fd/${msg.fds[0]}`, 'utf8')).toBe(readFileSync('/etc/hostname', 'utf8'));
    const pidfd = k.pidfdOpen(process.pid);
    const dup = k.pidfdGetfd(pidfd, fd);
    expect(dup).not.toBe(fd);
    for (const x of [a, b, fd, pidfd, dup, ...msg.fds]) k.close(x);
    // process_vm_readv: a child's argv, at the address /proc/<pid>/stat gives (field 48, arg_start).
    const sleeper = spawn('sleep', ['30.25'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const stat = readFileSync(`/proc/${sleeper.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const argStart = BigInt(fields[47 - 2]!);
      const argEnd = BigInt(fields[48 - 2]!);
      const mem = k.processVmReadv(sleeper.pid!, argStart, Number(argEnd - argStart));
      expect(mem.toString().split('\0').filter(Boolean)).toEqual(['sleep', '30.25']);
      expect(() => k.processVmReadv(sleeper.pid!, 0n, 8)).toThrow(expect.objectContaining({ code: 'EFAULT', syscall: 'process_vm_readv' }));
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('listenUnix/accept/connectUnix: an fd sent by a connecting peer arrives (as the engine sends the seccomp fd)', async () => {
    const s = scratch(k, 'sbx-sock-');
    try {
      const path = join(s.dir, 'listener.sock');
      const l = k.listenUnix(path);
      expect(() => k.listenUnix(path)).toThrow(expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind', path }));
      const accepted = k.accept(l);
      await new Promise((r) => setTimeout(r, 10)); // nothing pending yet: the loop keeps running
      const c = k.connectUnix(path);
      const srv = await accepted;
      const f = k.open('/etc/hostname', 0);
      k.sendFds(c, [f], Buffer.from('{"ociVersion":"1.0.2"}'));
      const msg = await k.recvFds(srv, 4, 4096);
      expect(JSON.parse(msg.data.toString())).toEqual({ ociVersion: '1.0.2' });
      expect(readFileSync(`/proc/self/fd/${msg.fds[0]}`, 'utf8')).toBe(readFileSync('/etc/hostname', 'utf8'));
      k.close(c);
      expect(await k.recvFds(srv, 1, 16)).toEqual({ fds: [], data: Buffer.alloc(0) }); // EOF
      for (const x of [l, srv, f, ...msg.fds]) k.close(x);
      expect(() => k.connectUnix(join(s.dir, 'nope.sock'))).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'connect' }));
    } finally {
      s.cleanup();
    }
  });

  /** Runs the C helper (a filter sending mount(2) to a listener it passes over fd 3); answers with `answer`. */
  async function seccompRound(answer: (listener: number, id: bigint) => void): Promise<{ out: string; seen: number[] }> {
    const [mine, theirs] = k.socketpair();
    const child = spawn(join(nsenterPath(), '..', 'seccomp-notify-helper'), [], { stdio: ['ignore', 'pipe', 'inherit', theirs] });
    k.close(theirs);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const { fds } = await k.recvFds(mine, 1, 8);
    k.close(mine);
    const listener = fds[0]!;
    const seen: number[] = [];
    let watcher: { close(): void } | undefined;
    const closed = new Promise<void>((resolve) => {
      watcher = k.seccompNotify.watch(
        listener,
        (n) => {
          seen.push(n.syscall);
          expect(n.pid).toBe(child.pid);
          expect(n.args).toHaveLength(6);
          expect(typeof n.id).toBe('bigint');
          expect(k.seccompNotify.idValid(listener, n.id)).toBe(true);
          answer(listener, n.id);
          expect(k.seccompNotify.idValid(listener, n.id)).toBe(false);
        },
        resolve,
      );
    });
    expect(await exited).toBe(0);
    await closed; // POLLHUP once the filtered process is gone
    watcher!.close();
    await new Promise((r) => setImmediate(r));
    watcher!.close(); // after the handle is gone: still a no-op
    k.close(listener);
    return { out: out.trim(), seen };
  }

  it('a seccomp listener fd received over a unix socket notifies mount(2) and answers with an errno', async () => {
    const r = await seccompRound((l, id) => k.seccompNotify.respond(l, { id, error: 13 }));
    expect(r.seen).toEqual([165]); // __NR_mount on x86_64
    expect(r.out).toBe('mount: 13\nfd42: closed');
  });

  it('seccomp: CONTINUE lets the kernel run the call; answering twice fails', async () => {
    let stale = 0n;
    const r = await seccompRound((l, id) => {
      k.seccompNotify.respond(l, { id, continue: true });
      stale = id;
      // Answered already: ENOENT once the caller has woken up, EINPROGRESS just before.
      let code = '';
      try {
        k.seccompNotify.respond(l, { id, error: 1 });
      } catch (e) {
        code = (e as KernelError).code;
      }
      expect(['ENOENT', 'EINPROGRESS']).toContain(code);
    });
    expect(stale).not.toBe(0n);
    expect(r.out).toBe('mount: 2\nfd42: closed'); // the real mount(2): its target does not exist
  });

  it('seccomp: ADDFD installs one of our fds in the caller at a chosen number', async () => {
    const fd = k.open('/etc/hostname', 0);
    const r = await seccompRound((l, id) => {
      expect(k.seccompNotify.addFd(l, { id, srcFd: fd, setFd: 42 })).toBe(42);
      k.seccompNotify.respond(l, { id, val: 0n });
    });
    k.close(fd);
    expect(r.out).toBe('mount: 0\nfd42: open');
  });

  it('seccomp: ADDFD with SEND installs the fd and answers with its number in one step, O_CLOEXEC as asked', async () => {
    const fd = k.open('/etc/hostname', 0);
    for (const cloexec of [true, false]) {
      const r = await seccompRound((l, id) => {
        const got = k.seccompNotify.addFd(l, { id, srcFd: fd, send: true, ...(cloexec ? { newFdFlags: O_CLOEXEC } : {}) });
        expect(got).toBeGreaterThan(2);
      });
      expect(r.out).toMatch(new RegExp(`ret: \\d+ cloexec: ${cloexec ? 1 : 0}`));
    }
    k.close(fd);
  });

  it('resolveStat: the mount a path lands on and whether it is its root, resolved in the pool; RESOLVE_IN_ROOT scopes to a root fd', async () => {
    const proc = await k.resolveStat(AT_FDCWD, '/proc', 0, 0);
    expect(proc.attributes & STATX_ATTR_MOUNT_ROOT).toBe(STATX_ATTR_MOUNT_ROOT);
    const self = k.statx(AT_FDCWD, '/proc', 0, STATX_MNT_ID);
    expect(proc.mntId).toBe(self.mntId);
    const inside = await k.resolveStat(AT_FDCWD, '/proc/self', 0, 0);
    expect(inside.attributes & STATX_ATTR_MOUNT_ROOT).toBe(0n);
    const root = k.open('/proc/self/root', O_PATH);
    try {
      // an absolute symlink and .. stay inside the root fd
      const viaRoot = await k.resolveStat(root, '/../../proc', 0, RESOLVE_IN_ROOT);
      expect(viaRoot.mntId).toBe(proc.mntId);
    } finally {
      k.close(root);
    }
    await expect(k.resolveStat(AT_FDCWD, '/nonexistent-sysbox', 0, 0)).rejects.toMatchObject({ code: 'ENOENT' });
    // on the loop thread, from the dentry cache only: the same answer, or EAGAIN where it would have to wait
    const cached = k.resolveStatCached(AT_FDCWD, '/proc', 0, 0);
    expect(cached.mntId).toBe(proc.mntId);
    expect(() => k.resolveStatCached(AT_FDCWD, `/proc/self/fd/${root}`, 0, 0)).toThrow();
  });

  it('sysbox-nsenter as-caller mount-proc: a procfs of the caller\'s pid namespace with files laid over, in its mount namespace', async () => {
    const s = scratch(k, 'sbx-ascaller-');
    const sleeper = spawn('unshare', ['-m', '-p', '-f', '--propagation', 'private', 'sleep', '60'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const pid = Number(readFileSync(`/proc/${sleeper.pid}/task/${sleeper.pid}/children`, 'utf8').trim());
      const target = join(s.dir, 'p');
      mkdirSync(target);
      // an "emulated" uptime: a file of a detached tmpfs, cloned
      const fs = k.fsopen('tmpfs', 0);
      k.fsconfig(fs, FSCONFIG_CMD_CREATE);
      const m = k.fsmount(fs, 0, 0);
      k.close(fs);
      writeFileSync(`/proc/self/fd/${m}/uptime`, '4242.00 1.00\n');
      const file = k.openTree(m, 'uptime', OPEN_TREE_CLONE);
      const nul = k.openTree(AT_FDCWD, '/dev/null', OPEN_TREE_CLONE);
      await nsenterAsCaller(k, 'mount-proc', { tid: pid, target: { path: target }, flags: 0, files: [{ fd: file, rel: 'uptime' }], maskFiles: [{ fd: nul, rel: 'keys' }], maskDirs: ['acpi', 'nonexistent'], readonly: ['bus'] });
      for (const fd of [m, file, nul]) k.close(fd);
      expect(readFileSync(`/proc/${pid}/root${target}/uptime`, 'utf8')).toBe('4242.00 1.00\n');
      // the caller's pid namespace: its pid 1 is the sleeper
      expect(readFileSync(`/proc/${pid}/root${target}/1/comm`, 'utf8').trim()).toBe('sleep');
      const mi = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
      expect(mi).toMatch(new RegExp(` ${target} rw[^ ]* - proc `));
      expect(mi).toContain(`${target}/keys `);
      expect(mi).toMatch(new RegExp(` ${target}/acpi ro[^ ]* - tmpfs `));
      expect(mi).toMatch(new RegExp(` ${target}/bus ro,`));
      // nothing of it in ours
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(`${target} `);
      // a bind as the caller, with the target given as an fd
      const tfd = k.open(`/proc/${pid}/root${s.dir}`, O_PATH);
      await nsenterAsCaller(k, 'mount', { tid: pid, source: { path: `${target}/uptime` }, target: { fd: tfd, rest: 'p/version' }, flags: MS_BIND });
      k.close(tfd);
      expect(readFileSync(`/proc/${pid}/root${target}/version`, 'utf8')).toBe('4242.00 1.00\n');
      // a file onto a directory: ENOTDIR, as mount(2) answers (runc masks with a /dev/null bind, then a tmpfs on ENOTDIR)
      await expect(nsenterAsCaller(k, 'mount', { tid: pid, source: '/dev/null', target: { path: `${target}/acpi` }, flags: MS_BIND })).rejects.toMatchObject({ code: 'ENOTDIR' });
      // openat2 of a file not on FUSE: refused (the caller then gets the kernel's own answer)
      await expect(nsenterAsCaller(k, 'openat2', { tid: pid, target: { path: `${target}/uptime` }, flags: 0n, resolve: 0n })).rejects.toBeInstanceOf(NotFuseError);
      // a failure leaves nothing: a file laid onto a directory
      const bad = k.openTree(AT_FDCWD, '/etc/hostname', OPEN_TREE_CLONE);
      await expect(nsenterAsCaller(k, 'mount-proc', { tid: pid, target: { path: `${s.dir}` }, files: [{ fd: bad, rel: 'sys' }] })).rejects.toThrow();
      k.close(bad);
      expect(readFileSync(`/proc/${pid}/mountinfo`, 'utf8')).not.toMatch(new RegExp(` ${s.dir} rw[^ ]* - proc `));
    } finally {
      sleeper.kill('SIGKILL');
      s.cleanup();
    }
  });

  it('sysbox-nsenter move-mount puts a detached mount into another mount namespace', async () => {
    const s = scratch(k, 'sbx-nsmove-');
    const ns = await privateMountNs();
    try {
      const pid = ns.pid;
      const fs = k.fsopen('tmpfs', 0);
      k.fsconfig(fs, FSCONFIG_CMD_CREATE);
      const m = k.fsmount(fs, 0, 0);
      k.close(fs);
      writeFileSync(`/proc/self/fd/${m}/hello`, 'from the host');
      const target = join(s.dir, 'a', 'b');
      await nsenterMoveMount({ pid, mountFd: m, target, mkdir: true });
      k.close(m);
      const inside = execFileSync('nsenter', ['-t', String(pid), '-m', 'cat', join(target, 'hello')]).toString();
      expect(inside).toBe('from the host');
      expect(existsSync(join(target, 'hello'))).toBe(false); // not in our namespace
      // A file mount: --mkdir creates a file to mount it on.
      const fileMount = k.openTree(AT_FDCWD, '/etc/hostname', OPEN_TREE_CLONE);
      await nsenterMoveMount({ pid, mountFd: fileMount, target: join(s.dir, 'f', 'hostname'), mkdir: true });
      k.close(fileMount);
      const content = execFileSync('nsenter', ['-t', String(pid), '-m', 'cat', join(s.dir, 'f', 'hostname')]).toString();
      expect(content).toBe(readFileSync('/etc/hostname', 'utf8'));
      expect(statSync(join(s.dir, 'f', 'hostname')).size).toBe(0); // the host sees the empty mount point
      // Errors name the op, the step and errno.
      await expect(nsenterMoveMount({ pid, mountFd: 0, target: '/nonexistent/x' })).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      ns.kill();
      s.cleanup();
    }
  });

  it('sysbox-nsenter move-mounts moves several file mounts with one run; missing targets are skipped', async () => {
    const s = scratch(k, 'sbx-nsmoves-');
    const ns = await privateMountNs();
    try {
      const pid = ns.pid;
      writeFileSync(join(s.dir, 'a'), '');
      writeFileSync(join(s.dir, 'b'), '');
      const m1 = k.openTree(AT_FDCWD, '/etc/hostname', OPEN_TREE_CLONE);
      const m2 = k.openTree(AT_FDCWD, '/etc/hostname', OPEN_TREE_CLONE);
      const m3 = k.openTree(AT_FDCWD, '/etc/hostname', OPEN_TREE_CLONE);
      const r = await nsenterMoveMounts({
        pid,
        skipMissing: true,
        mounts: [
          { mountFd: m1, target: join(s.dir, 'a') },
          { mountFd: m2, target: join(s.dir, 'missing') },
          { mountFd: m3, target: join(s.dir, 'b') },
        ],
      });
      [m1, m2, m3].forEach((m) => k.close(m));
      expect(r).toEqual({ moved: [join(s.dir, 'a'), join(s.dir, 'b')], skipped: [join(s.dir, 'missing')], covered: [], hidden: [], locked: [] });
      const inside = execFileSync('nsenter', ['-t', String(pid), '-m', 'cat', join(s.dir, 'a'), join(s.dir, 'b')]).toString();
      expect(inside).toBe(readFileSync('/etc/hostname', 'utf8').repeat(2));
      expect(statSync(join(s.dir, 'a')).size).toBe(0); // not in our namespace
      const m4 = k.openTree(AT_FDCWD, '/etc/hostname', OPEN_TREE_CLONE);
      await expect(nsenterMoveMounts({ pid, mounts: [{ mountFd: m4, target: join(s.dir, 'missing') }] })).rejects.toMatchObject({ code: 'ENOENT' });
      k.close(m4);
    } finally {
      ns.kill();
      s.cleanup();
    }
  });

  it('sysbox-nsenter move-mounts --lock: the tree comes back kernel-locked (its mounts, masks and read-only paths can no longer be unmounted from inside)', async () => {
    const s = scratch(k, 'sbx-nslock-');
    // a container-like process: its mount namespace belongs to its own user namespace
    const sleeper = spawn('unshare', ['-U', '-m', '--map-root-user', '--propagation', 'private', 'sleep', '60'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const pid = Number(readFileSync(`/proc/${sleeper.pid}/task/${sleeper.pid}/children`, 'utf8').trim() || sleeper.pid);
      const d = join(s.dir, 'tree');
      mkdirSync(d);
      const asHost = (cmd: string) => execFileSync('nsenter', ['-t', String(pid), '-m', 'sh', '-c', cmd]).toString();
      // the namespace's own root (CAP_SYS_ADMIN over its mount namespace only)
      const asRoot = (cmd: string) => execFileSync('nsenter', ['-t', String(pid), '-U', '-m', '--preserve-credentials', 'sh', '-c', cmd]).toString();
      asHost(`mount -t tmpfs tree ${d} && mkdir ${d}/masked ${d}/ro ${d}/control ${d}/free && touch ${d}/f ${d}/g && echo x > ${d}/masked/secret && mount --bind /etc/hostname ${d}/f && mount -t tmpfs c ${d}/control`);
      // before: the namespace's root can unmount what host root mounted there (the control)
      expect(asRoot(`busybox umount ${d}/control && echo ok`)).toBe('ok\n');
      const null1 = k.openTree(AT_FDCWD, '/dev/null', OPEN_TREE_CLONE);
      const r = await nsenterMoveMounts({ pid, mounts: [], maskFiles: [{ mountFd: null1, target: `${d}/g` }], maskDirs: [`${d}/masked`, `${d}/absent`], readonly: [`${d}/ro`], lock: [d] });
      k.close(null1);
      expect(r.locked).toEqual([d]);
      const tryUmount = (p: string) => asRoot(`busybox umount ${p} 2>&1; echo rc=$?`);
      for (const p of [`${d}/f`, `${d}/g`, `${d}/masked`, `${d}/ro`]) expect(tryUmount(p), p).toMatch(/Invalid argument[\s\S]*rc=1/);
      // the tree's root is not locked (the kernel locks what a propagated tree holds), but goes only whole
      expect(tryUmount(d)).toMatch(/busy[\s\S]*rc=1/);
      expect(asRoot(`cat ${d}/f; ls ${d}/masked | wc -l; touch ${d}/ro/x 2>&1 | grep -c Read-only`)).toBe(`${readFileSync('/etc/hostname', 'utf8')}0\n1\n`);
      // a locked read-only mount stays read-only
      expect(asRoot(`busybox mount -o remount,bind,rw ${d}/ro 2>&1; echo rc=$?`)).toMatch(/rc=[1-9]/);
      // what the namespace mounts itself afterwards stays its own
      expect(asRoot(`busybox mount -t tmpfs mine ${d}/free && busybox umount ${d}/free && echo ok`)).toBe('ok\n');
    } finally {
      sleeper.kill('SIGKILL');
      s.cleanup();
    }
  });

  it('sysbox-nsenter move-mounts --cover places a dir over a dir, keeping its entries (submounts too) over placeholders', async () => {
    const s = scratch(k, 'sbx-nscover-');
    const sleeper = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '60'], { stdio: 'ignore' });
    const fsmountWith = (files: Record<string, string | null>): number => {
      const fs = k.fsopen('tmpfs', 0);
      k.fsconfig(fs, FSCONFIG_CMD_CREATE);
      const m = k.fsmount(fs, 0, 0);
      k.close(fs);
      for (const [p, content] of Object.entries(files)) {
        if (content === null) mkdirSync(`/proc/self/fd/${m}/${p}`, { recursive: true });
        else writeFileSync(`/proc/self/fd/${m}/${p}`, content);
      }
      return m;
    };
    try {
      await new Promise((r) => setTimeout(r, 200));
      const pid = Number(readFileSync(`/proc/${sleeper.pid}/task/${sleeper.pid}/children`, 'utf8').trim() || sleeper.pid);
      const d = join(s.dir, 'virtual');
      mkdirSync(join(d, 'keep1'), { recursive: true });
      mkdirSync(join(d, 'keep2'));
      mkdirSync(join(d, 'gone'));
      writeFileSync(join(d, 'keep1', 'inner'), 'real keep1');
      writeFileSync(join(d, 'f'), 'real f');
      symlinkSync('keep1', join(d, 'l'));
      // a mount below an entry, in the container's namespace only: it comes back with its entry
      execFileSync('nsenter', ['-t', String(pid), '-m', 'sh', '-c', `mount -t tmpfs none ${join(d, 'keep2')} && echo sub > ${join(d, 'keep2', 'sub')}`]);
      const cover = fsmountWith({ keep1: null, keep2: null, f: '', extra: null, 'extra/x': 'emulated' });
      const r = await nsenterMoveMounts({ pid, mounts: [], covers: [{ mountFd: cover, target: d }] });
      k.close(cover);
      expect(r.covered).toEqual([d]);
      expect(r.hidden.sort()).toEqual([join(d, 'gone'), join(d, 'l')]);
      const inside = (cmd: string) => execFileSync('nsenter', ['-t', String(pid), '-m', 'sh', '-c', cmd]).toString();
      expect(inside(`ls ${d}`).split('\n').filter(Boolean)).toEqual(['extra', 'f', 'keep1', 'keep2']);
      expect(inside(`cat ${join(d, 'keep1', 'inner')} ${join(d, 'f')} ${join(d, 'keep2', 'sub')} ${join(d, 'extra', 'x')}`)).toBe('real keep1real fsub\nemulated');
      // the host's directory is untouched
      expect(readdirSync(d).sort()).toEqual(['f', 'gone', 'keep1', 'keep2', 'l']);
      // a placeholder of the wrong kind: the cover is undone, the directory is as it was
      const d2 = join(s.dir, 'other');
      mkdirSync(join(d2, 'sub'), { recursive: true });
      writeFileSync(join(d2, 'sub', 'x'), 'real');
      const bad = fsmountWith({ sub: '' });
      await expect(nsenterMoveMounts({ pid, mounts: [], covers: [{ mountFd: bad, target: d2 }] })).rejects.toMatchObject({ name: 'KernelError' });
      k.close(bad);
      expect(inside(`cat ${join(d2, 'sub', 'x')}`)).toBe('real');
      // a missing directory: skipped with --skip-missing, else ENOENT
      const m = fsmountWith({});
      expect(await nsenterMoveMounts({ pid, skipMissing: true, mounts: [], covers: [{ mountFd: m, target: join(s.dir, 'nope') }] })).toMatchObject({ skipped: [join(s.dir, 'nope')], covered: [] });
      await expect(nsenterMoveMounts({ pid, mounts: [], covers: [{ mountFd: m, target: join(s.dir, 'nope') }] })).rejects.toMatchObject({ code: 'ENOENT' });
      k.close(m);
    } finally {
      sleeper.kill('SIGKILL');
      s.cleanup();
    }
  });

  it('sysbox-nsenter move-mounts --overlay lays a dir over a dir as a read-only overlay: one mount, its entries added, the dir\'s own kept (symlinks too)', async () => {
    const s = scratch(k, 'sbx-nsovl-');
    const ns = await privateMountNs();
    try {
      const pid = ns.pid;
      const d = join(s.dir, 'kernel');
      mkdirSync(join(d, 'mm'), { recursive: true });
      mkdirSync(join(d, 'debug'));
      writeFileSync(join(d, 'mm', 'thp'), 'real thp');
      writeFileSync(join(d, 'seq'), 'real seq');
      symlinkSync('mm', join(d, 'l'));
      const fs = k.fsopen('tmpfs', 0);
      k.fsconfig(fs, FSCONFIG_CMD_CREATE);
      const cover = k.fsmount(fs, 0, 0);
      k.close(fs);
      for (const dir of ['config', 'debug']) mkdirSync(`/proc/self/fd/${cover}/${dir}`);
      writeFileSync(`/proc/self/fd/${cover}/debug/x`, 'emulated');
      const inside = (cmd: string) => execFileSync('nsenter', ['-t', String(pid), '-m', 'sh', '-c', cmd]).toString();
      const before = inside('grep -c . /proc/self/mountinfo');
      const r = await nsenterMoveMounts({ pid, mounts: [], covers: [{ mountFd: cover, target: d, overlay: true }] });
      k.close(cover);
      expect(r).toMatchObject({ covered: [d], hidden: [] });
      expect(Number(inside('grep -c . /proc/self/mountinfo'))).toBe(Number(before) + 1);
      expect(inside(`grep ' ${d} ' /proc/self/mountinfo`)).toMatch(/ ro,nosuid,nodev,noexec[^ ]* - overlay sysboxfs /);
      expect(inside(`ls ${d}`).split('\n').filter(Boolean)).toEqual(['config', 'debug', 'l', 'mm', 'seq']);
      expect(inside(`cat ${join(d, 'l', 'thp')} ${join(d, 'seq')} ${join(d, 'debug', 'x')}`)).toBe('real thpreal seqemulated');
      // one device for every object (xino), as mountinfo shows the overlay's: the vetter knows them for the view's
      expect(new Set(inside(`stat -c %d ${d} ${join(d, 'mm')} ${join(d, 'mm', 'thp')} ${join(d, 'debug', 'x')}`).split('\n').filter(Boolean)).size).toBe(1);
      // read-only, and the host's directory untouched
      expect(inside(`touch ${join(d, 'mm', 'new')} 2>&1; echo rc=$?`)).toMatch(/rc=1/);
      expect(readdirSync(d).sort()).toEqual(['debug', 'l', 'mm', 'seq']);
    } finally {
      ns.kill();
      s.cleanup();
    }
  });

  it('overlayInUserns mounts from inside the userns on ID-mapped upper+work; new files are 0:0 on disk', async () => {
    const s = scratch(k, 'sbx-nsovl-');
    try {
      chmodSync(s.dir, 0o711);
      const d = (p: string) => join(s.dir, p);
      for (const p of ['l1', 'l2', 'c', 'c/diff', 'c/work', 'm1', 'm2', 'mc', 'merged']) mkdirSync(d(p));
      writeFileSync(d('l1/a'), 'a');
      writeFileSync(d('l2/b'), 'b');
      k.idmappedBind(d('l1'), d('m1'), { usernsFd: userns, readonly: true });
      k.idmappedBind(d('l2'), d('m2'), { usernsFd: userns, readonly: true });
      k.idmappedBind(d('c'), d('mc'), { usernsFd: userns });
      const threads = readdirSync('/proc/self/task').length;
      const fd = k.overlayInUserns(userns, { lowerdirs: [d('m1'), d('m2')], upperdir: d('mc/diff'), workdir: d('mc/work'), options: ['index=off'] });
      expect(readdirSync('/proc/self/task').length).toBe(threads); // the child is gone, and none of our threads moved
      expect(readFileSync('/proc/self/uid_map', 'utf8')).toMatch(/^\s*0\s+0\s+4294967295/);
      k.moveMount(fd, '', AT_FDCWD, d('merged'), MOVE_MOUNT_F_EMPTY_PATH);
      k.close(fd);
      expect(statSync(d('merged/a')).uid).toBe(BASE);
      expect(statSync(d('merged')).uid).toBe(BASE);
      // host uid BASE writes through it
      let r = spawnSync('setpriv', [`--reuid=${BASE}`, `--regid=${BASE}`, '--clear-groups', 'sh', '-c', `echo x > ${d('merged/fromhost')} && echo y >> ${d('merged/a')}`]);
      expect(r.status, r.stderr.toString()).toBe(0);
      // a process in the user namespace (as its root) writes through it and sees 0 owners
      r = spawnSync('nsenter', ['--user=/proc/self/fd/3', '-S', '0', '-G', '0', 'sh', '-c', `touch ${d('merged/fromns')} && stat -c %u:%g ${d('merged/b')}`], {
        stdio: ['ignore', 'pipe', 'pipe', userns],
      });
      expect(r.status, r.stderr.toString()).toBe(0);
      expect(r.stdout.toString().trim()).toBe('0:0');
      for (const f of ['fromhost', 'fromns', 'a']) {
        const st = statSync(d(`c/diff/${f}`));
        expect([st.uid, st.gid], f).toEqual([0, 0]);
      }
      expect(readFileSync(d('l1/a'), 'utf8')).toBe('a'); // copied up, lower untouched
    } finally {
      s.cleanup();
    }
  });

  it('overlayInUserns: a refusal is a KernelError naming the step (a missing layer, an fd that is no user namespace); no fd leaks', () => {
    const s = scratch(k, 'sbx-nsovl-err-');
    try {
      chmodSync(s.dir, 0o711); // the namespace's root may look in it
      const fdsBefore = readdirSync('/proc/self/fd').length;
      let e: unknown;
      try {
        k.overlayInUserns(userns, { lowerdirs: [join(s.dir, 'missing')] });
      } catch (x) {
        e = x;
      }
      expect(isKernelError(e, 'ENOENT')).toBe(true);
      expect((e as KernelError).syscall).toBe('fsconfig');
      expect((e as KernelError).path).toBe('lowerdir');
      const devNull = openSync('/dev/null', 'r');
      try {
        expect(() => k.overlayInUserns(devNull, { lowerdirs: [s.dir] })).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'setns user' }));
      } finally {
        closeSync(devNull);
      }
      expect(readdirSync('/proc/self/fd').length).toBe(fdsBefore);
    } finally {
      s.cleanup();
    }
  });

  it("runNsenter (the addon's vfork spawn): output and fds reach the child; its deadline is its own (--timeout-ms, SIGALRM)", async () => {
    const s = scratch(k, 'sbx-nsrun-');
    try {
      // a stand-in binary: prints its arguments and its fd 3, or dies by SIGALRM as sysbox-nsenter does at its deadline
      const fake = join(s.dir, 'fake-nsenter');
      writeFileSync(fake, '#!/bin/sh\ncase $3 in alarm) kill -ALRM $$ ;; fail) echo oops >&2; exit 3 ;; esac\necho "args $*"\ncat <&3\n');
      chmodSync(fake, 0o755);
      writeFileSync(join(s.dir, 'in'), 'fd three\n');
      const fd = k.open(join(s.dir, 'in'), 0);
      try {
        expect(await runNsenter('echo', ['a b'], { nsenter: fake, fds: [fd], timeoutMs: 1234 })).toBe('args --timeout-ms 1234 echo a b\nfd three\n');
      } finally {
        k.close(fd);
      }
      await expect(runNsenter('alarm', [], { nsenter: fake, timeoutMs: 50 })).rejects.toThrow('sysbox-nsenter alarm: timed out after 50 ms');
      await expect(runNsenter('fail', [], { nsenter: fake })).rejects.toMatchObject({ name: 'NsenterError', exitCode: 3, stderr: 'oops\n' });
      // the real one takes the deadline first, and refuses a bad one
      const r = spawnSync(nsenterPath(), ['--timeout-ms', 'soon', 'sysctl'], { encoding: 'utf8' });
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 2, stderr: 'sysbox-nsenter: ?: --timeout-ms: milliseconds expected\n' });
    } finally {
      s.cleanup();
    }
  });

  it('sysbox-nsenter sysctl reads and writes a knob as a process in its own namespaces sees it', async () => {
    const host = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    // A process whose root is host uid 100000 (our userns), with its own net/ipc/uts/mount namespaces.
    const sleeper = spawn('nsenter', ['--user=/proc/self/fd/3', '-S', '0', '-G', '0', 'unshare', '--net', '--ipc', '--uts', '--mount', 'sleep', '60'], {
      stdio: ['ignore', 'ignore', 'ignore', userns],
    });
    const panicPrint = readFileSync('/proc/sys/kernel/panic_print', 'utf8');
    try {
      await new Promise((r) => setTimeout(r, 200));
      const pid = sleeper.pid!;
      expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('sleep'); // unshare execs sleep in place
      const v = (await nsenterSysctlRead({ pid, path: 'net/ipv4/ip_forward' })).trim();
      const flipped = v === '1' ? '0' : '1';
      await nsenterSysctlWrite({ pid, path: 'net/ipv4/ip_forward', value: flipped });
      expect((await nsenterSysctlRead({ pid, path: '/proc/sys/net/ipv4/ip_forward' })).trim()).toBe(flipped);
      expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(host);
      // A knob the namespace's root may not write.
      await expect(nsenterSysctlWrite({ pid, path: 'kernel/panic_print', value: '1' })).rejects.toMatchObject({ code: 'EACCES' });
      expect(readFileSync('/proc/sys/kernel/panic_print', 'utf8')).toBe(panicPrint);
      await expect(nsenterSysctlRead({ pid, path: '../etc/passwd' })).rejects.toThrow(/bad sysctl path/);
      // A process in our own namespaces: nothing to join, reads the host's value.
      expect(await nsenterSysctlRead({ pid: process.pid, path: 'kernel/panic_print' })).toBe(panicPrint);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it("sysbox-nsenter net-exec runs a host program in a process's network namespace only, after its net knobs", async () => {
    const host = readFileSync('/proc/sys/net/ipv4/conf/all/route_localnet', 'utf8');
    const sleeper = spawn('nsenter', ['--user=/proc/self/fd/3', '-S', '0', '-G', '0', 'unshare', '--net', '--mount', 'sleep', '60'], {
      stdio: ['ignore', 'ignore', 'ignore', userns],
    });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const pid = sleeper.pid!;
      expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('sleep');
      // the knob is the namespace's; the program is the host's /bin/cat, reading through the host's /proc
      const out = await nsenterNetExec({ pid, sysctls: { 'ipv4/conf/all/route_localnet': '1' }, argv: ['/bin/cat', '/proc/sys/net/ipv4/conf/all/route_localnet', '/proc/net/dev'] });
      const [knob, ...dev] = out.trim().split('\n');
      expect(knob).toBe('1');
      expect(readFileSync('/proc/sys/net/ipv4/conf/all/route_localnet', 'utf8')).toBe(host);
      // a new network namespace has only lo
      expect(dev.slice(2).map((l) => l.trim().split(':')[0])).toEqual(['lo']);
      // only the knobs
      expect(await nsenterNetExec({ pid, sysctls: { 'ipv4/conf/all/route_localnet': '0' } })).toBe('');
      expect((await nsenterNetExec({ pid, argv: ['/bin/cat', '/proc/sys/net/ipv4/conf/all/route_localnet'] })).trim()).toBe('0');
      // a failing program: its stderr
      await expect(nsenterNetExec({ pid, argv: ['/bin/cat', '/nonexistent'] })).rejects.toMatchObject({ name: 'NsenterError', stderr: expect.stringContaining('/nonexistent') });
      await expect(nsenterNetExec({ pid, argv: ['cat'] })).rejects.toThrow(/absolute path/);
      await expect(nsenterNetExec({ pid, sysctls: { '../../kernel/panic_print': '1' } })).rejects.toThrow(/bad --sysctl/);
      await expect(nsenterNetExec({ pid, sysctls: { 'ipv4/no_such_knob': '1' } })).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('namespaceInfo: type and owner of a /proc link and of a user namespace fd; ENOTTY for a plain file', () => {
    const hostUser = statSync('/proc/self/ns/user', { bigint: true }).ino;
    const net = k.namespaceInfo('/proc/self/ns/net');
    expect(net.type).toBe('network');
    expect(net.ino).toBe(statSync('/proc/self/ns/net', { bigint: true }).ino);
    expect(net.ownerIno).toBe(hostUser);
    const user = k.namespaceInfo('/proc/self/ns/user');
    expect(user).toEqual({ type: 'user', ino: hostUser, ownerIno: null }); // the initial user namespace has no owner
    // a user namespace made here: its owner (parent) is the host's
    const child = k.namespaceInfo(`/proc/self/fd/${userns}`);
    expect(child.type).toBe('user');
    expect(child.ownerIno).toBe(hostUser);
    expect(() => k.namespaceInfo('/proc/self/status')).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
    expect(() => k.namespaceInfo('/nonexistent/ns')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('mknod makes char, block and fifo nodes', () => {
    const s = scratch(k, 'sbx-mknod-');
    try {
      for (const [name, type, major, minor] of [['c', S_IFCHR, 10, 666], ['b', S_IFBLK, 8, 666], ['p', S_IFIFO, 0, 0]] as const) {
        k.mknod(join(s.dir, name), type | 0o660, major, minor);
        const st = lstatSync(join(s.dir, name));
        expect(st.mode & 0o170000).toBe(type);
        if (type !== S_IFIFO) expect([Math.floor(st.rdev / 256) & 0xfff, (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)]).toEqual([major, minor]);
      }
      expect(() => k.mknod(join(s.dir, 'c'), S_IFCHR | 0o600, 1, 3)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    } finally {
      s.cleanup();
    }
  });
});
