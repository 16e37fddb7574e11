// Integration (root, the real kernel): files served through the kernel's page cache (handlers with kernelCache) stay
// exact — a fresh open after a change reads the new content (also when it grew or shrank), a reader that keeps the
// file open and reads again from 0 sees the change once the attributes time out, a write reads back normalized —
// and files served with direct I/O still read afresh per open. Readers are child processes (this process serves).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realKernel } from '@sysbox/native';
import { emulatedHandlers, FakeHostEnv, newView } from '@sysbox/procfs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devFuseBackend, type DevFuseMount } from '@sysbox/fuse';
import { LENGTH_SWITCH_MS, treeOps } from '../src/tree.js';

const root = process.getuid?.() === 0 && existsSync('/dev/fuse');

function sh(script: string): Promise<{ out: string; err: string }> {
  return new Promise((resolve) => execFile('sh', ['-c', script], { timeout: 10_000 }, (_e, out, err) => resolve({ out, err })));
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** write(2) of `value` after open(O_WRONLY|O_TRUNC); prints the errno text on failure (dash's echo says "I/O error" for any) */
const write = (f: string, value: string) =>
  `python3 -c 'import os,sys\ntry:\n os.write(os.open("${f}",os.O_WRONLY|os.O_TRUNC),b"${value}\\n")\nexcept OSError as e:\n print(e.strerror,file=sys.stderr)'`;

describe.runIf(root)('page-cached emulated files, real FUSE', () => {
  let dir: string;
  let mnt: string;
  let mount: DevFuseMount;
  let clock = 0;
  const env = new FakeHostEnv({
    '/proc/uptime': '100.00 100.00\n',
    '/proc/meminfo': 'MemTotal:        8000000 kB\n',
    '/proc/9/stat': '9 (init) S 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1000 0 0',
    '/proc/9/cgroup': '0::/\n',
    '/proc/sys/kernel/printk': '4\t4\t1\t7\n',
    '/proc/sys/kernel/panic': '0\n',
  });
  const view = newView(env, { containerId: 'c', initPid: 9 });
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sysbox-pagecache-'));
    mnt = join(dir, 'm');
    mkdirSync(mnt);
    const ops = treeOps({ env, view, handlers: emulatedHandlers(env), now: () => clock });
    mount = await devFuseBackend(realKernel()).mount(mnt, ops);
  });
  afterAll(async () => {
    await mount?.unmount();
    rmSync(dir, { recursive: true, force: true });
  });

  it('negotiates FUSE_AUTO_INVAL_DATA: files with kernelCache go through the page cache', async () => {
    // the connection negotiated FUSE_AUTO_INVAL_DATA (else every file is direct I/O)
    await sh(`cat ${mnt}/proc/uptime`);
    expect(mount.session.pageCache).toBe(true);
  });

  it('a fresh open after a change reads the new content, whether it grew or shrank', async () => {
    const f = join(mnt, 'proc/uptime');
    expect((await sh(`cat ${f}; cat ${f}`)).out).toBe('90.00 90.00\n90.00 90.00\n');
    // the host clock moves: the container's uptime gains a digit (a longer file)
    env.set('/proc/uptime', '1000.50 1000.50\n');
    clock += 10; // past uptime's 10 ms
    expect((await sh(`cat ${f}`)).out).toBe('990.50 990.50\n');
    env.set('/proc/uptime', '10000.25 10000.25\n');
    clock += 10;
    // read(2) and sendfile (busybox cat) alike
    const r = await sh(`cat ${f}; dd if=${f} bs=3 2>/dev/null; echo; head -c 100 ${f}`);
    expect(r.out).toBe('9990.25 9990.25\n9990.25 9990.25\n\n9990.25 9990.25\n');
    // and shorter again (a new container view is not needed: only the clock matters)
    env.set('/proc/uptime', '50.00 50.00\n');
    clock += 10;
    expect((await sh(`cat ${f}`)).out).toBe('40.00 40.00\n');
  });

  it('a write reads back as the knob stores it; a rejected write changes nothing', async () => {
    const f = join(mnt, 'proc/sys/kernel/printk');
    expect((await sh(`cat ${f}`)).out).toBe('4\t4\t1\t7\n');
    expect((await sh(`${write(f, '3 4 1 7')}; cat ${f}`)).out).toBe('3\t4\t1\t7\n');
    const bad = await sh(`${write(f, '99 99 99')}; cat ${f}`);
    expect(bad.err).toMatch(/Invalid argument/);
    expect(bad.out).toBe('3\t4\t1\t7\n');
  });

  it('a reader that keeps the file open sees a change after the attribute timeout (1 s for knobs; another length at most LENGTH_SWITCH_MS later)', async () => {
    const f = join(mnt, 'proc/sys/kernel/panic');
    const child = spawn('python3', ['-c', `import os,sys\nfd=os.open('${f}',os.O_RDONLY)\nprint(os.pread(fd,4096,0).decode().strip(),flush=True)\nsys.stdin.readline()\nprint(os.pread(fd,4096,0).decode().strip(),flush=True)`], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 100 && !out.includes('\n'); i++) await sleep(20);
    expect(out).toBe('0\n');
    expect((await sh(write(f, '12'))).err).toBe('');
    // past the attribute timeout (the kernel's clock) and, the value being longer, LENGTH_SWITCH_MS (the tree's)
    await sleep(1200);
    clock += LENGTH_SWITCH_MS;
    child.stdin.end('go\n');
    await new Promise((r) => child.on('exit', r));
    expect(out).toBe('0\n12\n');
  });

  it('meminfo (length-stable, page-cached): a fresh open after a change reads it', async () => {
    const f = join(mnt, 'proc/meminfo');
    expect((await sh(`cat ${f}`)).out).toMatch(/^MemTotal:\s+8000000 kB\n$/);
    env.set('/proc/meminfo', 'MemTotal:        8000001 kB\n');
    clock += 100;
    expect((await sh(`cat ${f}`)).out).toMatch(/^MemTotal:\s+8000001 kB\n$/);
  });
});
