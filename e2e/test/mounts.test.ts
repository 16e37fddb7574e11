// Issue 4 "Done when" (mount isolation): restricted host mounts, ID-mapped bind mounts and volumes, special dirs,
// bad mount input — for runc (reference) and sysbox-runc side by side.
import { describe, expect } from 'vitest';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { docker, dockerOk, run, uniqueName, withContainer, withContainers, sh, tmpDir } from '../src/docker.ts';
import { caseFor } from '../src/cases.ts';
import { IMAGES, MGR_DATA_DIR, RUNTIMES } from '../src/paths.ts';
import { REFUSAL, ociCreateFailed, singleRange } from '../src/host.ts';
import { makeBundle, rawRuntime, runtimeBinary } from '../src/bundle.ts';

const BB = IMAGES.busybox;
const DEB = IMAGES.debian;
const POLICY_FILE = '/etc/sysbox/mount-policy.json';



/** The host's mount table without the lines that change by themselves (mount ids of other tests aside). */
function mountPoints(): Set<string> {
  return new Set(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter(Boolean));
}

/** Runs fn with the admin file replaced by `policy`; the previous file (if any) is restored. */
async function withPolicy<T>(policy: object, fn: () => Promise<T>): Promise<T> {
  const old = existsSync(POLICY_FILE) ? readFileSync(POLICY_FILE) : undefined;
  mkdirSync('/etc/sysbox', { recursive: true });
  writeFileSync(POLICY_FILE, JSON.stringify(policy));
  try {
    return await fn();
  } finally {
    if (old) writeFileSync(POLICY_FILE, old);
    else rmSync(POLICY_FILE, { force: true });
  }
}

describe.each(RUNTIMES)('%s', (rt) => {
  const t = caseFor(rt);
  const isRunc = rt === 'runc';

  // ── restricted host mounts ──
  t('mounts: /etc/docker/daemon.json refused with the exact message', async () => {
    const r = await run(rt, ['--rm', '-v', '/etc/docker/daemon.json:/mnt/daemon.json', BB, 'true'], { timeoutMs: 60_000 });
    if (isRunc) return expect(r.code, r.stderr).toBe(0);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(ociCreateFailed(REFUSAL.restricted('/etc/docker/daemon.json')));
  });

  t('mounts: a symlink to a restricted path is refused', async () => {
    const dir = tmpDir('link');
    try {
      symlinkSync('/etc/docker/daemon.json', join(dir, 'innocent.json'));
      symlinkSync('/etc/docker', join(dir, 'etcdocker'));
      const r = await run(rt, ['--rm', '-v', `${join(dir, 'innocent.json')}:/mnt/x`, BB, 'true'], { timeoutMs: 60_000 });
      // through a symlinked parent dir and `..`
      const r2 = await run(rt, ['--rm', '-v', `${join(dir, 'etcdocker')}:/mnt/x`, BB, 'true'], { timeoutMs: 60_000 });
      if (isRunc) {
        expect(r.code, r.stderr).toBe(0);
        expect(r2.code, r2.stderr).toBe(0);
        return;
      }
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(ociCreateFailed(REFUSAL.restricted('/etc/docker/daemon.json')));
      expect(r2.code).not.toBe(0);
      expect(r2.stderr).toContain(ociCreateFailed(REFUSAL.restricted('/etc/docker')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  t('mounts: a dir containing a restricted path is refused (/, /etc, /run), read-only too', async () => {
    for (const [src, inner] of [['/', '/etc/docker'], ['/etc', '/etc/docker'], ['/run', '/run/docker.sock']] as const) {
      const r = await run(rt, ['--rm', '-v', `${src}:/host:ro`, BB, 'true'], { timeoutMs: 60_000 });
      if (isRunc) {
        expect(r.code, r.stderr).toBe(0);
        continue;
      }
      expect(r.code, src).not.toBe(0);
      expect(r.stderr).toContain(ociCreateFailed(`error in the container spec: can't mount ${src} because it contains ${inner}, which is configured as a restricted host mount`));
    }
  });

  t('mounts: the Docker socket is refused unless the image is allow-listed', async () => {
    const allowed = 'sysbox-test/busybox:sock-allowed';
    await dockerOk(['tag', BB, allowed]);
    try {
      await withPolicy({ dockerSocket: { allowImages: [allowed] } }, async () => {
        const refused = await run(rt, ['--rm', '-v', '/var/run/docker.sock:/var/run/docker.sock', BB, 'true'], { timeoutMs: 60_000 });
        const ok = await run(rt, ['--rm', '-v', '/var/run/docker.sock:/var/run/docker.sock', allowed, 'sh', '-c', 'test -S /var/run/docker.sock && echo sock'], { timeoutMs: 60_000 });
        expect(ok.code, ok.stderr).toBe(0);
        expect(ok.stdout.trim()).toBe('sock');
        if (isRunc) return expect(refused.code, refused.stderr).toBe(0);
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toContain(ociCreateFailed(REFUSAL.restricted('/var/run/docker.sock')));
      });
    } finally {
      await docker(['rmi', allowed]);
    }
  });

  t('mounts: admin file adds a restricted path', async () => {
    const dir = tmpDir('admin');
    try {
      await withPolicy({ restricted: { add: [dir] } }, async () => {
        const r = await run(rt, ['--rm', '-v', `${dir}:/mnt`, BB, 'true'], { timeoutMs: 60_000 });
        if (isRunc) return expect(r.code, r.stderr).toBe(0);
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(ociCreateFailed(REFUSAL.restricted(dir)));
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // ── ID-mapped bind mounts ──
  t('mounts: a $HOME-like dir is allowed, owners match the host, root-created files are root on the host', async () => {
    const dir = tmpDir('home');
    try {
      writeFileSync(join(dir, 'owned'), 'x');
      chownSync(join(dir, 'owned'), 1234, 2345);
      const r = await sh(rt, ['-v', `${dir}:/mnt`], 'stat -c %u:%g /mnt/owned /mnt; echo hi > /mnt/new && mkdir /mnt/newdir && echo ok');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(['1234:2345', '0:0', 'ok']);
      for (const n of ['new', 'newdir']) expect(`${statSync(join(dir, n)).uid}:${statSync(join(dir, n)).gid}`, n).toBe('0:0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  t('mounts: a bind-mounted file keeps its owner; :ro is read-only inside', async () => {
    const dir = tmpDir('ro');
    try {
      writeFileSync(join(dir, 'f'), 'x');
      const r = await sh(rt, ['-v', `${dir}:/mnt:ro`, '-v', `${join(dir, 'f')}:/etc/single:ro`], 'stat -c %u:%g /etc/single; touch /mnt/w 2>/dev/null; echo rc=$?');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(['0:0', 'rc=1']);
      expect(existsSync(join(dir, 'w'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  t("mounts: Docker's resolv.conf, hosts and hostname are owned by root inside", async () => {
    const r = await sh(rt, [], 'stat -c %u:%g /etc/resolv.conf /etc/hosts /etc/hostname');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['0:0', '0:0', '0:0']);
  });

  t('mounts: a named volume is shared by two running containers with matching owners', async () => {
    const vol = uniqueName('vol');
    await dockerOk(['volume', 'create', vol]);
    try {
      await withContainers(rt, [['-v', `${vol}:/data`, BB, 'sleep', '300'], ['-v', `${vol}:/data`, BB, 'sleep', '300']], async ([a, b]) => {
        const w = await a!.exec(['sh', '-c', 'echo from-a > /data/f && stat -c %u:%g /data/f']);
        expect(w.code, w.stderr).toBe(0);
        expect(w.stdout.trim()).toBe('0:0');
        const rd = await b!.exec(['sh', '-c', 'cat /data/f && echo from-b >> /data/f && stat -c %u:%g /data/f']);
        expect(rd.code, rd.stderr).toBe(0);
        expect(rd.stdout.trim().split('\n')).toEqual(['from-a', '0:0']);
        expect((await a!.exec(['cat', '/data/f'])).stdout).toBe('from-a\nfrom-b\n');
        if (!isRunc) {
          const ua = singleRange((await a!.exec(['cat', '/proc/self/uid_map'])).stdout);
          const ub = singleRange((await b!.exec(['cat', '/proc/self/uid_map'])).stdout);
          expect(ua.outside).not.toBe(ub.outside);
        }
      });
      const mp = (await dockerOk(['volume', 'inspect', '-f', '{{.Mountpoint}}', vol])).trim();
      expect(`${statSync(join(mp, 'f')).uid}:${statSync(join(mp, 'f')).gid}`).toBe('0:0');
    } finally {
      await docker(['volume', 'rm', '-f', vol]);
    }
  });

  // ── special dirs ──
  t('mounts: /var/lib/docker is a host dir owned by root inside, kept across stop/start, gone after rm', async () => {
    await withContainer(rt, [DEB, 'sleep', '300'], async (c) => {
      const id = (await c.inspect('{{.Id}}')).trim();
      const r = await c.exec(['sh', '-c', 'mkdir -p /var/lib/docker; findmnt -no FSTYPE /var/lib/docker || stat -f -c %T /var/lib/docker; stat -c %u:%g /var/lib/docker; echo kept > /var/lib/docker/keep && mkdir -p /var/lib/docker/u && chown 1000:1000 /var/lib/docker/u']);
      expect(r.code, r.stderr).toBe(0);
      const [fstype, owner] = r.stdout.trim().split('\n');
      if (isRunc) expect(fstype).toMatch(/^overlay/);
      else expect(fstype).not.toMatch(/^overlay/);
      expect(owner).toBe('0:0');
      // Docker containers keep their special dirs in Docker's own dir for them: `docker rm` removes them with it.
      const backing = join('/var/lib/docker/containers', id, 'sysbox-special');
      if (!isRunc) {
        expect(existsSync(join(backing, 'var_lib_docker', 'keep'))).toBe(true);
        expect(statSync(join(backing, 'var_lib_docker', 'keep')).uid).toBe(0); // stored 0-based
      }
      await dockerOk(['stop', '-t', '1', c.name]);
      if (!isRunc) expect(existsSync(backing)).toBe(true);
      await dockerOk(['start', c.name]);
      const again = await c.exec(['sh', '-c', 'cat /var/lib/docker/keep; stat -c %u:%g /var/lib/docker/keep /var/lib/docker/u']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout.trim().split('\n')).toEqual(['kept', '0:0', '1000:1000']);
      await dockerOk(['rm', '-f', c.name]);
      expect(existsSync(backing)).toBe(false);
      expect(existsSync(join(MGR_DATA_DIR, 'special', id))).toBe(false);
      expect(existsSync(join(MGR_DATA_DIR, 'mounts', id))).toBe(false);
    });
  });

  t('mounts: special dir and volume keep their owners when a restarted container gets another range', async () => {
    const vol = uniqueName('vol');
    await dockerOk(['volume', 'create', vol]);
    const fillers: string[] = [];
    try {
      await withContainer(rt, ['-v', `${vol}:/data`, BB, 'sleep', '300'], async (c) => {
        const w = await c.exec(['sh', '-c', 'mkdir -p /var/lib/docker && echo s > /var/lib/docker/f && chown 1000:1001 /var/lib/docker/f && echo v > /data/g && chown 1000:1001 /data/g']);
        expect(w.code, w.stderr).toBe(0);
        const first = (await c.exec(['cat', '/proc/self/uid_map'])).stdout;
        let changed = false;
        // Occupy the freed range with another container until the restarted one lands elsewhere (3 tries).
        for (let i = 0; i < 3 && !changed; i++) {
          await dockerOk(['stop', '-t', '1', c.name]);
          const f = uniqueName(rt);
          fillers.push(f);
          await dockerOk(['run', '-d', '--name', f, `--runtime=${rt}`, BB, 'sleep', '300']);
          await dockerOk(['start', c.name]);
          const now = (await c.exec(['cat', '/proc/self/uid_map'])).stdout;
          changed = now.trim() !== first.trim();
          const r = await c.exec(['sh', '-c', 'stat -c %u:%g /var/lib/docker/f /data/g && cat /var/lib/docker/f /data/g && touch /var/lib/docker/f /data/g']);
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout.trim().split('\n')).toEqual(['1000:1001', '1000:1001', 's', 'v']);
        }
        if (!isRunc) expect(changed, 'the restarted container got another range').toBe(true);
      });
      const mp = (await dockerOk(['volume', 'inspect', '-f', '{{.Mountpoint}}', vol])).trim();
      expect(statSync(join(mp, 'g')).uid).toBe(1000); // stored 0-based on disk
    } finally {
      await docker(['rm', '-f', ...fillers]);
      await docker(['volume', 'rm', '-f', vol]);
    }
  }, 180_000);

  t('mounts: a volume at /var/lib/docker replaces the special dir', async () => {
    const vol = uniqueName('vol');
    await dockerOk(['volume', 'create', vol]);
    try {
      await withContainer(rt, ['-v', `${vol}:/var/lib/docker`, BB, 'sleep', '300'], async (c) => {
        const r = await c.exec(['sh', '-c', 'echo v > /var/lib/docker/v && cat /var/lib/docker/v']);
        expect(r.code, r.stderr).toBe(0);
        const id = (await c.inspect('{{.Id}}')).trim();
        if (!isRunc) {
          expect(existsSync(join('/var/lib/docker/containers', id, 'sysbox-special', 'var_lib_docker'))).toBe(false);
          expect(existsSync(join('/var/lib/docker/containers', id, 'sysbox-special', 'var_lib_containerd'))).toBe(true);
        }
      });
      const mp = (await dockerOk(['volume', 'inspect', '-f', '{{.Mountpoint}}', vol])).trim();
      expect(readFileSync(join(mp, 'v'), 'utf8')).toBe('v\n');
    } finally {
      await docker(['volume', 'rm', '-f', vol]);
    }
  });

  // ── bad input (hand-made bundles: Docker itself refuses or fixes these before a runtime sees them) ──
  const badCase = (name: string, edit: (spec: Record<string, any>, rootfs: string, dir: string) => void, msg: RegExp, runcFails: boolean) =>
    t(name, async () => {
      const before = mountPoints();
      let tmp = '';
      const b = makeBundle(['true'], (spec, bb) => {
        tmp = bb.dir;
        edit(spec, bb.rootfs, bb.dir);
      });
      const id = uniqueName('badmnt');
      try {
        const r = await rawRuntime(runtimeBinary(rt), ['--root', b.stateRoot, '--log-format', 'json', 'create', '--bundle', b.bundle, id], { dir: b.dir, timeoutMs: 60_000 });
        if (isRunc) {
          expect(r.code !== 0, r.stderr).toBe(runcFails);
          return;
        }
        expect(r.code).not.toBe(0);
        expect(r.stderr).toMatch(msg);
        const after = mountPoints();
        expect([...after].filter((m) => !before.has(m) && (m.includes(id) || m.startsWith(tmp)))).toEqual([]);
        expect(existsSync(join(MGR_DATA_DIR, 'mounts', id))).toBe(false);
        expect(existsSync(join(MGR_DATA_DIR, 'special', id))).toBe(false);
      } finally {
        await rawRuntime(runtimeBinary(rt), ['--root', b.stateRoot, 'delete', '--force', id], { dir: b.dir });
        b.cleanup();
      }
    });

  badCase(
    'mounts: bad input: nonexistent bind source',
    (spec) => spec.mounts.push({ destination: '/mnt', type: 'bind', source: '/nonexistent/sysbox-e2e', options: ['rbind'] }),
    /error in the container spec: mount source \/nonexistent\/sysbox-e2e \(for \/mnt\) does not exist/,
    true,
  );
  badCase(
    'mounts: bad input: relative bind source',
    (spec) => spec.mounts.push({ destination: '/mnt', type: 'bind', source: 'relative/dir', options: ['rbind'] }),
    /error in the container spec: mount source "relative\/dir" \(for \/mnt\) is not an absolute path/,
    true,
  );
  badCase(
    'mounts: bad input: mount target escaping the rootfs through a symlink',
    (spec, rootfs, dir) => {
      mkdirSync(join(dir, 'src'));
      symlinkSync('../../../../../../etc', join(rootfs, 'evil'));
      spec.mounts.push({ destination: '/evil/sysbox-e2e', type: 'bind', source: join(dir, 'src'), options: ['rbind'] });
    },
    /error in the container spec: mount destination \/evil\/sysbox-e2e escapes the container's root file system through the symlink \/evil/,
    false,
  );
});
