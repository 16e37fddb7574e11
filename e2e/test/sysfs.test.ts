// Issue 5 (sysbox-fs), /sys: empty kernel fs dirs, read-only /sys/kernel, a per-container DMI product_uuid
// (synthetic where the host has no DMI: sysbox-fs covers /sys/devices/virtual, the container's own entries
// mounted back), everything else the container's own sysfs. runc beside sysbox-runc (reference: the host's view).
import { describe, expect } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { docker, sh, sleep, withContainer, withContainers } from '../src/docker.ts';
import { caseFor } from '../src/cases.ts';
import { IMAGES, RUNTIMES } from '../src/paths.ts';
import { assertHarnessOwns, FS, killDaemon, readPid, startDaemon, restoreDaemonsAfterEach } from '../src/daemons.ts';

const BB = IMAGES.busybox;
const DMI = '/sys/devices/virtual/dmi/id';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const hostDmiUuid = (): string | undefined => {
  try {
    return readFileSync(`${DMI}/product_uuid`, 'utf8').trim();
  } catch {
    return undefined;
  }
};
const THP = '/sys/kernel/mm/transparent_hugepage/enabled';
const hostHas = (p: string) => existsSync(p);
const sysboxfsMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes('sysboxfs'));

// a test that stopped or killed a daemon gets it restarted before the next test
const daemons = restoreDaemonsAfterEach();

describe.each(RUNTIMES)('%s', (rt) => {
  const t = caseFor(rt);
  const isRunc = rt === 'runc';

  t('sysfs: /sys/kernel/{config,debug,tracing,security} are empty dirs owned by the container root (runc: config where the host has configfs, owned by nobody)', async () => {
    const dirs = ['config', 'debug', 'tracing', 'security'];
    const script = dirs.map((d) => `if [ -d /sys/kernel/${d} ]; then echo "${d} dir $(ls -A /sys/kernel/${d} | wc -l) $(stat -c %u /sys/kernel/${d})"; else echo "${d} none"; fi`).join('; ');
    const r = await sh(rt, [], script);
    expect(r.code, r.stderr).toBe(0);
    // the host mounts debugfs/tracefs/securityfs (and configfs) there: the container sees none of it. Under runc
    // (no user namespace) the dirs are root's; sysbox-runc emulates all four (systemd's sys-kernel-*.mount units find
    // them, each a mountpoint), owned by the container's root, not by the overflow uid 65534 the kernel would show
    const want = dirs.map((d) => (isRunc && d === 'config' && !hostHas('/sys/kernel/config') ? `${d} none` : `${d} dir 0 0`));
    expect(r.stdout.trim().split('\n')).toEqual(want);
  });

  t('sysfs: /sys/kernel nodes are read-only views: writes fail, the host value is unchanged (also --privileged)', async () => {
    const before = readFileSync(THP, 'utf8');
    const target = before.includes('[never]') ? 'always' : 'never';
    const script = `echo ${target} > ${THP}; echo rc=$?; echo 1 > /sys/kernel/profiling; echo rc=$?; mkdir /sys/kernel/debug/x; echo rc=$?; cat ${THP}`;
    const r = await sh(rt, [], script);
    expect(r.stdout).toBe(`rc=1\nrc=1\nrc=1\n${before}`);
    expect(r.stderr).toContain('Read-only file system'); // Docker mounts /sys read-only
    expect(readFileSync(THP, 'utf8')).toBe(before);
    if (isRunc) return; // runc --privileged fails on this host (CAP_SYS_RESOURCE missing from the bounding set)
    // --privileged: /sys is read-write, but /sys/kernel is a read-only view (an overlay of sysbox-fs's empty dirs over
    // the container's own sysfs dir: nothing in it belongs to the container's root, so nothing was writable anyway)
    const p = await sh(rt, ['--privileged'], `grep -c ' /sys rw' /proc/self/mountinfo; ${script}`);
    expect(p.stdout).toBe(`1\nrc=1\nrc=1\nrc=1\n${before}`);
    expect(p.stderr).toContain('Read-only file system');
    expect(readFileSync(THP, 'utf8')).toBe(before);
  });

  t('sysfs: /sys/devices/virtual/dmi/id/product_uuid is per container: stable across reads, different between containers', async () => {
    const host = hostDmiUuid();
    const read = `cat ${DMI}/product_uuid; cat ${DMI}/product_uuid`;
    await withContainers(rt, [[BB, 'sleep', '300'], [BB, 'sleep', '300']], async ([a, b]) => {
      const ra = await a!.exec(['sh', '-c', read]);
      const rb = await b!.exec(['sh', '-c', read]);
      if (isRunc) {
        // the host's DMI, or none at all (this host has no DMI)
        if (host === undefined) return expect(ra.stderr).toMatch(/No such file or directory/);
        return expect(ra.stdout.trim().split('\n')).toEqual([host, host]);
      }
      expect(ra.code, ra.stderr).toBe(0);
      expect(rb.code, rb.stderr).toBe(0);
      const [a1, a2] = ra.stdout.trim().split('\n');
      const [b1, b2] = rb.stdout.trim().split('\n');
      expect(a1).toMatch(UUID_RE);
      expect(a2).toBe(a1);
      expect(b1).toMatch(UUID_RE);
      expect(b2).toBe(b1);
      expect(b1).not.toBe(a1);
      if (host !== undefined) expect(a1).not.toBe(host);
      // root-only, as on a host with DMI
      const mode = await a!.exec(['stat', '-c', '%a %u', `${DMI}/product_uuid`]);
      expect(mode.stdout.trim()).toBe('400 0');
      // the same container id keeps its UUID across a restart of the container
      expect((await docker(['restart', '-t', '0', a!.name])).code).toBe(0);
      expect((await a!.exec(['cat', `${DMI}/product_uuid`])).stdout.trim()).toBe(a1);
    });
  });

  t('sysfs: /sys/class/dmi/id is the usual link to the dmi/id dir: its product_uuid is the container\'s', async () => {
    const host = hostDmiUuid();
    const r = await sh(rt, [], `readlink /sys/class/dmi/id; cat /sys/class/dmi/id/product_uuid; cat ${DMI}/product_uuid; ls /sys/class | grep -c .`);
    const hostClasses = readdirSync('/sys/class');
    if (isRunc && host === undefined) {
      // this host has no DMI: neither path exists
      expect(r.stderr).toMatch(/No such file or directory/);
      return expect(r.stdout.trim().split('\n').pop()).toBe(String(hostClasses.length));
    }
    expect(r.code, r.stderr).toBe(0);
    const [link, viaClass, direct, count] = r.stdout.trim().split('\n');
    expect(link).toBe('../../devices/virtual/dmi/id');
    expect(viaClass).toMatch(UUID_RE);
    expect(viaClass).toBe(direct);
    if (host !== undefined && !isRunc) expect(viaClass).not.toBe(host);
    // the rest of /sys/class is the container's own: every host class, plus dmi where sysbox-fs adds it
    expect(Number(count)).toBe(hostClasses.length + (!isRunc && !hostClasses.includes('dmi') ? 1 : 0));
  });

  t('sysfs: the rest of /sys/devices/virtual is the container\'s own sysfs: net devices, a new veth, /sys/class/net links', async () => {
    const script = [
      'ls /sys/devices/virtual/net | tr "\\n" " "; echo',
      // a veth pair (busybox's ip ignores `peer name` and names the peer vethN)
      'ip link add sbxa type veth && ip link set sbxa address 02:00:00:5b:0a:01 && echo veth-ok',
      'sleep 1.5', // past the FUSE entry/attribute timeout: the cover's placeholders revalidate, mounts stay
      'ls /sys/devices/virtual/net | tr "\\n" " "; echo',
      'cat /sys/class/net/sbxa/address',
      'readlink /sys/class/net/sbxa',
      'cat /sys/devices/virtual/net/sbxa/mtu',
      'ls /sys/devices/virtual | grep -c .',
      'ip link del sbxa && ls /sys/class/net | tr "\\n" " "; echo',
    ].join('; ');
    const r = await sh(rt, ['--cap-add', 'NET_ADMIN'], script);
    expect(r.code, r.stderr).toBe(0);
    const [before, vethOk, after, addr, link, mtu, count, afterDel] = r.stdout.trim().split('\n');
    expect(before!.trim().split(' ').sort()).toEqual(['eth0', 'lo']); // the container's netns, not the host's
    expect(vethOk).toBe('veth-ok');
    const now = after!.trim().split(' ');
    expect(now).toEqual(expect.arrayContaining(['eth0', 'lo', 'sbxa']));
    expect(now.length).toBe(4); // and its peer (busybox's ip names it itself)
    expect(addr).toBe('02:00:00:5b:0a:01');
    expect(link).toBe('../../devices/virtual/net/sbxa');
    expect(mtu).toBe('1500');
    // every host entry of /sys/devices/virtual, plus dmi where sysbox-fs adds it
    const hostEntries = readdirSync('/sys/devices/virtual');
    const extra = !isRunc && !hostEntries.includes('dmi') ? 1 : 0;
    expect(Number(count)).toBe(hostEntries.length + extra);
    expect(afterDel!.trim().split(' ').sort()).toEqual(['eth0', 'lo']);
  });

  t('sysfs: docker rm leaves no sysbox-fs mount or tree behind', async () => {
    const mountsBefore = sysboxfsMounts().length;
    let id = '';
    await withContainer(rt, [BB, 'sleep', '300'], async (c) => {
      id = await c.inspect('{{.Id}}');
      const r = await c.exec(['sh', '-c', `grep -c sysboxfs /proc/self/mountinfo; ls ${DMI}`]);
      if (isRunc) return expect(r.stdout.trim().split('\n')[0]).toBe('0');
      expect(Number(r.stdout.trim().split('\n')[0])).toBeGreaterThan(1);
      expect(sysboxfsMounts().length).toBe(mountsBefore + 1); // one FUSE tree per container on the host
      expect(existsSync(`/var/lib/sysboxfs/${id}`)).toBe(true);
    });
    // withContainer removed it (docker rm -f)
    expect(sysboxfsMounts().length).toBe(mountsBefore);
    expect(existsSync(`/var/lib/sysboxfs/${id}`)).toBe(false);
  });

  t('sysfs: sysbox-fs killed (SIGKILL) and restarted: product_uuid and the covered /sys/devices/virtual keep being served', async () => {
    await withContainer(rt, [BB, 'sleep', '300'], async (c) => {
      const script = `cat ${DMI}/product_uuid 2>&1; ls /sys/devices/virtual/net | tr "\\n" " "`;
      const before = await c.exec(['sh', '-c', script]);
      if (!isRunc) {
        assertHarnessOwns(FS);
        daemons.touched();
        const killed = await killDaemon(FS, 'SIGKILL');
        expect(killed, 'sysbox-fs was running').toBeDefined();
        const st = await startDaemon(FS);
        expect(st.available, st.reason).toBe(true);
        expect(readPid(FS)).not.toBe(killed);
      }
      await sleep(1500); // past the FUSE timeouts: lookups reach the new sysbox-fs
      const after = await c.exec(['sh', '-c', script]);
      expect(`${after.stdout}${after.stderr}`).not.toMatch(/Transport endpoint is not connected/);
      expect(after.stdout).toBe(before.stdout);
      if (!isRunc) expect(after.stdout.split('\n')[0]).toMatch(UUID_RE);
    });
  }, 120_000);
});
