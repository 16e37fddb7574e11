// Issue 18, Docker-in-Docker and sshd sandboxes: IMAGES.dind (systemd as init, docker.service, sshd) under sysbox-runc
// without --privileged, and under runc with the privileged-equivalent options as the insecure reference (src/dind.ts).
// One outer container per runtime serves the assertions of the first block, in order (the restart and the removal
// come last); the others start their own. SYSBOX_HEAVY=1: 5 DinD containers at once instead of 1.
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { docker, dockerOk, removeContainers, run, uniqueName, waitFor, type ExecResult } from '../src/docker.ts';
import { caseFor } from '../src/cases.ts';
import { IMAGES, RUNTIMES, type Runtime } from '../src/paths.ts';
import { hostCapBnd, hostUptime, IDENTITY_MAP, singleRange } from '../src/host.ts';
import { dindRunArgs, httpGetScript, inOuter, loadInnerBusybox, waitInnerDocker } from '../src/dind.ts';
import { leftoversAfterRemoval } from '../src/leftovers.ts';

const HEAVY = process.env.SYSBOX_HEAVY === '1';
const CAP_SYS_RESOURCE = 24n;
/** busybox httpd serving one page (the inner containers' -p target) */
const HTTPD = 'mkdir -p /www && echo hello-from-inner > /www/index.html && exec httpd -f -p 80 -h /www';

const ok = (r: ExecResult) => [r.code, r.stderr.trim().split('\n').slice(-3).join(' | ')] as const;

/** What the host's own rules and Docker state look like (counters and timestamps dropped). */
function hostIptables(): string {
  const out = execFileSync('iptables-save', { encoding: 'utf8' });
  return out.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n');
}
async function hostDockerState(): Promise<{ images: string; repositories: string }> {
  const images = (await dockerOk(['images', '-q', '--no-trunc'])).split('\n').filter(Boolean).sort().join('\n');
  let repositories = '';
  try {
    repositories = readFileSync('/var/lib/docker/image/overlay2/repositories.json', 'utf8');
  } catch {
    repositories = '(none)';
  }
  return { images, repositories };
}

/** Host pids whose command line is exactly `argv`. */
function hostPidsOf(argv: string[]): number[] {
  const want = `${argv.join('\0')}\0`;
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8') === want) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

function hostUidOf(pid: number): number {
  const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[2]);
}

describe.each(RUNTIMES)('%s', (rt: Runtime) => {
  const t = caseFor(rt);
  const isRunc = rt === 'runc';

  // ── one outer container, several assertions (in order) ──
  describe('one DinD container', () => {
    const net = uniqueName('net');
    const peer = uniqueName('peer');
    const name = uniqueName('dind');
    let id = '';
    let started: ExecResult | undefined;
    let up: string = 'not started';
    let before: { iptables: string; docker: Awaited<ReturnType<typeof hostDockerState>> } | undefined;

    beforeAll(async () => {
      await dockerOk(['network', 'create', net]);
      // a peer on the outer network, for the outer-network DNS case (plain runc busybox)
      const p = await run('runc', ['-d', '--name', peer, '--network', net, IMAGES.busybox, 'sleep', '3600'], { timeoutMs: 60_000 });
      if (p.code !== 0) throw new Error(`the peer on ${net} did not start: ${p.stderr.trim()}`);
      before = { iptables: hostIptables(), docker: await hostDockerState() };
      started = await run(rt, ['-d', '--name', name, '--network', net, ...dindRunArgs(rt)], { timeoutMs: 90_000 });
      if (started.code !== 0) return;
      id = started.stdout.trim();
      up = await waitInnerDocker(name);
      if (up === 'up') await loadInnerBusybox(name);
    }, 180_000);

    afterAll(async () => {
      await docker(['rm', '-f', '-v', name, peer], { timeoutMs: 60_000 });
      await docker(['network', 'rm', net], { timeoutMs: 30_000 });
    }, 120_000);

    t('dind: systemd runs docker.service; the inner docker info shows overlay2 (sysbox: on the host-backed special dir)', async () => {
      expect(started?.code, started?.stderr).toBe(0);
      expect(up).toBe('up');
      const state = await waitFor(async () => {
        const s = (await docker(['exec', name, 'systemctl', 'is-system-running'], { timeoutMs: 15_000 })).stdout.trim();
        return s === 'running' || s === 'degraded' ? s : '';
      }, 30_000, 500);
      expect(state).toBe('running');
      expect((await docker(['exec', name, 'systemctl', 'is-active', 'docker.service', 'containerd.service', 'ssh.service'])).stdout.trim().split('\n')).toEqual(['active', 'active', 'active']);
      const info = await docker(['exec', name, 'docker', 'info', '--format', '{{.Driver}} {{json .DriverStatus}}']);
      expect(...ok(info)).toBe(0);
      expect(info.stdout).toMatch(/^overlay2 /);
      expect(info.stdout).toContain('"Backing Filesystem","extfs"');
      // /var/lib/docker is its own mount (not the rootfs' overlay): sysbox-runc's special dir, runc's volume
      const fs = await docker(['exec', name, 'findmnt', '-no', 'FSTYPE', '/var/lib/docker']);
      expect(fs.stdout.trim()).toBe('ext4');
      if (!isRunc) {
        // the inner daemon's data is in the container's own special dir on the host
        const backing = join('/var/lib/docker/containers', id, 'sysbox-special', 'var_lib_docker');
        expect(existsSync(join(backing, 'overlay2'))).toBe(true);
      }
    });

    t('dind: inner docker load of the busybox tarball and docker run --rm busybox echo ok', async () => {
      // loaded once more: docker load of what is already there is answered from the tarball again
      const load = await loadInnerBusybox(name);
      expect(...ok(load)).toBe(0);
      expect(load.stdout).toContain('Loaded image: busybox:latest');
      const r = await docker(['exec', name, 'docker', 'run', '--rm', 'busybox', 'echo', 'ok'], { timeoutMs: 60_000 });
      expect(...ok(r)).toBe(0);
      expect(r.stdout.trim()).toBe('ok');
    });

    t('dind: inner docker build of a two-line Dockerfile', async () => {
      const r = await inOuter(name, 'mkdir -p /tmp/ctx && printf "FROM busybox\\nRUN echo hi > /x\\n" > /tmp/ctx/Dockerfile && DOCKER_BUILDKIT=0 docker build -q -t inner-built /tmp/ctx >/dev/null && docker run --rm inner-built cat /x', 120_000);
      expect(...ok(r)).toBe(0);
      expect(r.stdout.trim()).toBe('hi');
    });

    t('dind: an inner -p port is reachable from the outer container', async () => {
      const r = await docker(['exec', name, 'docker', 'run', '-d', '--name', 'web', '-p', '8080:80', 'busybox', 'sh', '-c', HTTPD], { timeoutMs: 60_000 });
      expect(...ok(r)).toBe(0);
      const ip = (await inOuter(name, "hostname -I | cut -d' ' -f1")).stdout.trim();
      for (const host of ['127.0.0.1', ip]) {
        const got = await waitFor(async () => {
          const g = await inOuter(name, httpGetScript(host, 8080), 15_000);
          return g.stdout.includes('hello-from-inner') ? g.stdout : '';
        }, 20_000, 300);
        expect(got, `GET http://${host}:8080/ in the outer container`).toMatch(/^HTTP\/1\.[01] 200 OK/);
      }
    });

    t('dind: inner containers on an inner user-defined network resolve each other (the inner embedded DNS)', async () => {
      const r = await inOuter(name, 'docker network create innernet >/dev/null && docker run -d --name ia --network innernet busybox sleep 3600 >/dev/null && ' +
        'docker inspect -f "{{.NetworkSettings.Networks.innernet.IPAddress}}" ia && docker run --rm --network innernet busybox nslookup ia', 90_000);
      expect(...ok(r)).toBe(0);
      const [ip, ...rest] = r.stdout.trim().split('\n');
      expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(rest.join('\n')).toContain('Server:\t\t127.0.0.11');
      expect(rest.join('\n')).toMatch(new RegExp(`Name:\\s+ia\\nAddress:\\s+${ip!.replace(/\./g, '\\.')}`));
    });

    t("dind: on an outer user-defined network, inner containers resolve the outer network's peers (127.0.0.11 aliased to the gateway)", async () => {
      const gateway = (await dockerOk(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Gateway}}', net])).trim();
      const peerIp = (await dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, peer])).trim();
      const resolv = (await docker(['exec', name, 'cat', '/etc/resolv.conf'])).stdout;
      // the outer container itself resolves its peer either way
      const own = await docker(['exec', name, 'getent', 'hosts', peer]);
      expect(...ok(own)).toBe(0);
      expect(own.stdout.trim().split(/\s+/)[0]).toBe(peerIp);
      if (isRunc) {
        // no alias: the inner Docker drops the loopback nameserver, inner containers would ask Docker's public
        // defaults (not tried here: no traffic leaves this host)
        expect(resolv).toMatch(/^nameserver 127\.0\.0\.11$/m);
        return;
      }
      expect(resolv).toMatch(new RegExp(`^nameserver ${gateway.replace(/\./g, '\\.')}$`, 'm'));
      expect(resolv).not.toContain('127.0.0.11');
      const r = await docker(['exec', name, 'docker', 'run', '--rm', 'busybox', 'nslookup', peer], { timeoutMs: 60_000 });
      expect(...ok(r)).toBe(0);
      expect(r.stdout).toContain(`Server:\t\t${gateway}`);
      expect(r.stdout).toMatch(new RegExp(`Name:\\s+${peer}\\nAddress:\\s+${peerIp.replace(/\./g, '\\.')}`));
    });

    t("dind: two layers: an inner container has the outer container's uid_map, and its processes are host IDs of the outer range", async () => {
      const marker = String(7_000_000 + Math.floor(Math.random() * 999_999));
      const r = await docker(['exec', name, 'docker', 'run', '-d', '--name', 'deep', 'busybox', 'sleep', marker], { timeoutMs: 60_000 });
      expect(...ok(r)).toBe(0);
      const innerRun = await docker(['exec', name, 'docker', 'run', '--rm', 'busybox', 'sh', '-c', 'cat /proc/self/uid_map; cut -d" " -f1 /proc/uptime'], { timeoutMs: 60_000 });
      expect(...ok(innerRun)).toBe(0);
      const [inner, innerUptime] = innerRun.stdout.trim().split('\n');
      const outer = (await docker(['exec', name, 'cat', '/proc/self/uid_map'])).stdout;
      const pids = await waitFor(async () => hostPidsOf(['sleep', marker]), 10_000, 200);
      expect(pids).toHaveLength(1);
      const hostUid = hostUidOf(pids[0]!);
      if (isRunc) {
        expect(inner!.trim().replace(/\s+/g, ' ')).toBe(IDENTITY_MAP);
        expect(hostUid).toBe(0);
        return;
      }
      expect(inner!.trim().replace(/\s+/g, ' ')).toBe(outer.trim().replace(/\s+/g, ' '));
      // its own /proc (mounted by the inner runc, vetted) has the emulated uptime: the outer container's, not the host's
      expect(Number(innerUptime)).toBeLessThan(hostUptime() - 60);
      const range = singleRange(outer);
      expect(range.outside).toBeGreaterThan(0);
      // the inner container's root is the outer container's root: the range's base on the host
      expect(hostUid).toBe(range.outside);
    });

    t('dind: sshd: a key login from the host over the bridge IP, as a user in the inner docker group, runs docker run', async () => {
      const dir = mkdtempSync('/tmp/sysbox-e2e-ssh-');
      try {
        const key = join(dir, 'id');
        execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sysbox-e2e', '-f', key]);
        const add = await inOuter(name, 'id dev >/dev/null 2>&1 || useradd -m -s /bin/bash -G docker dev; install -d -o dev -g dev -m 700 ~dev/.ssh && cat > ~dev/.ssh/authorized_keys && chown dev:dev ~dev/.ssh/authorized_keys && chmod 600 ~dev/.ssh/authorized_keys', 30_000, readFileSync(`${key}.pub`, 'utf8'));
        expect(...ok(add)).toBe(0);
        const ip = (await dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name])).trim();
        const ssh = (cmd: string) => new Promise<ExecResult>((resolve) => {
          try {
            const out = execFileSync('ssh', ['-F', '/dev/null', '-i', key, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=10', '-o', 'LogLevel=ERROR', `dev@${ip}`, cmd], { encoding: 'utf8', timeout: 90_000, stdio: ['ignore', 'pipe', 'pipe'] });
            resolve({ code: 0, stdout: out, stderr: '', timedOut: false });
          } catch (e) {
            const x = e as { status?: number; stdout?: string; stderr?: string };
            resolve({ code: x.status ?? 1, stdout: x.stdout ?? '', stderr: x.stderr ?? String(e), timedOut: false });
          }
        });
        // sshd may still be starting right after the container's boot: the first login is retried
        const first = await waitFor(async () => {
          const r = await ssh('id -un');
          return r.code === 0 ? r : undefined;
        }, 30_000, 500);
        expect(first?.stdout.trim()).toBe('dev');
        const r = await ssh('id -u; id -Gn; cat /proc/self/uid_map; docker run --rm busybox echo via-ssh');
        expect(...ok(r)).toBe(0);
        const [uid, groups, map, out] = r.stdout.trim().split('\n');
        expect(uid).toBe('1000');
        expect(groups!.split(' ')).toContain('docker');
        expect(groups!.split(' ')).not.toContain('root');
        expect(out).toBe('via-ssh');
        // the session is an unprivileged host user: uid 1000 of the container's range
        if (!isRunc) expect(singleRange(map!).outside).toBeGreaterThan(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 150_000);

    t("dind: the host's images, Docker data and iptables rules are untouched by the inner Docker", async () => {
      expect(before).toBeDefined();
      expect(await hostDockerState()).toEqual(before!.docker);
      expect(hostIptables()).toBe(before!.iptables);
      const names = (await dockerOk(['ps', '-a', '--format', '{{.Names}}'])).split('\n');
      for (const inner of ['web', 'ia', 'deep']) expect(names).not.toContain(inner);
    });

    t('dind: inner images and containers survive an outer docker restart', async () => {
      const r = await docker(['restart', '-t', '30', name], { timeoutMs: 90_000 });
      expect(...ok(r)).toBe(0);
      expect(await waitInnerDocker(name)).toBe('up');
      const images = (await docker(['exec', name, 'docker', 'images', '--format', '{{.Repository}}'])).stdout.split('\n');
      expect(images).toEqual(expect.arrayContaining(['busybox', 'inner-built']));
      const ps = (await docker(['exec', name, 'docker', 'ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n');
      expect(ps).toEqual(expect.arrayContaining(['web', 'ia', 'deep']));
      const again = await docker(['exec', name, 'docker', 'run', '--rm', 'inner-built', 'cat', '/x'], { timeoutMs: 60_000 });
      expect(...ok(again)).toBe(0);
      expect(again.stdout.trim()).toBe('hi');
    }, 180_000);

    t('dind: docker stop ends systemd and the inner Docker cleanly (exit 0); docker rm leaves nothing behind', async () => {
      const r = await docker(['stop', '-t', '60', name], { timeoutMs: 90_000 });
      expect(...ok(r)).toBe(0);
      // (runc: systemd halts with reboot(2), which in a pid namespace ends its init with SIGINT: 130, not SIGKILL's 137)
      expect((await dockerOk(['inspect', '-f', '{{.State.ExitCode}}', name])).trim()).toBe(isRunc ? '130' : '0');
      await dockerOk(['rm', '-v', name]);
      expect(await leftoversAfterRemoval(rt, id)).toEqual([]);
      expect(existsSync(join('/var/lib/docker/containers', id))).toBe(false);
    }, 120_000);
  });

  // ── before the inner dockerd ──
  t('dind: /var/lib/docker is a host-backed special dir owned by container root, mode 0700, before the inner dockerd runs', async () => {
    const r = await run(rt, ['--rm', '--entrypoint', '/bin/sh', IMAGES.dind, '-c', 'stat -c "%u:%g %a" /var/lib/docker && findmnt -no FSTYPE /var/lib/docker'], { timeoutMs: 60_000 });
    if (isRunc) {
      // the image has none, and nothing is mounted there
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('No such file or directory');
      return;
    }
    expect(...ok(r)).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['0:0 700', 'ext4']);
  });

  // ── inner --privileged ──
  t('dind: inner docker run --privileged (sysbox: refused only for a capability the host itself lacks; works once the container has it)', async () => {
    const hostHasAll = (hostCapBnd() >> CAP_SYS_RESOURCE) & 1n;
    const privileged = 'docker run --rm --privileged busybox sh -c "echo privileged-ok; ls /dev | tr \\"\\n\\" \\" \\"; echo; cat /proc/self/uid_map"';
    const attempt = async (extra: string[]) => {
      const name = uniqueName('dindpriv');
      try {
        const s = await run(rt, ['-d', '--name', name, ...dindRunArgs(rt, extra)], { timeoutMs: 90_000 });
        expect(...ok(s)).toBe(0);
        expect(await waitInnerDocker(name)).toBe('up');
        expect((await loadInnerBusybox(name)).code).toBe(0);
        return await inOuter(name, privileged, 90_000);
      } finally {
        await removeContainers([name]);
      }
    };
    if (isRunc) {
      // the reference fails: the outer container's device cgroup doesn't allow everything (a *:* rwm)
      const r = await attempt([]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('devices.allow');
      return;
    }
    const plain = await attempt([]);
    if (hostHasAll) {
      expect(...ok(plain)).toBe(0);
    } else {
      // this host's bounding set lacks CAP_SYS_RESOURCE, and so does the container's root (its capabilities are the
      // host's): the inner runc refuses, as the host's own `docker run --privileged` does
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toContain('unable to apply caps');
      const host = await run('runc', ['--rm', '--privileged', IMAGES.busybox, 'true'], { timeoutMs: 60_000 });
      expect(host.stderr).toContain('unable to apply caps');
    }
    // with every capability (honoured as given; in its user namespace the kernel grants even those the host lacks)
    const r = await attempt(['-e', 'SYSBOX_HONOR_CAPS=TRUE', '--cap-add', 'ALL']);
    expect(...ok(r)).toBe(0);
    const [said, dev, map] = r.stdout.trim().split('\n');
    expect(said).toBe('privileged-ok');
    // still the few devices of a system container, and still the outer range
    expect(dev!.trim().split(' ').filter((d) => !['console'].includes(d)).sort()).toEqual(['fd', 'full', 'mqueue', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']);
    expect(singleRange(map!).outside).toBeGreaterThan(0);
  }, 240_000);

  // ── many at once ──
  const many = HEAVY ? 5 : 1;
  if (!isRunc) t(`dind: ${many} systemd+DinD container${many > 1 ? 's' : ''} at once, each inner daemon running a container, all stopped cleanly, nothing left after docker rm`, async () => {
    const names = Array.from({ length: many }, () => uniqueName('dindmany'));
    const ids: string[] = [];
    try {
      const started = await Promise.all(names.map((n) => run(rt, ['-d', '--name', n, ...dindRunArgs(rt)], { timeoutMs: 180_000 })));
      for (const s of started) expect(...ok(s)).toBe(0);
      ids.push(...started.map((s) => s.stdout.trim()));
      const ups = await Promise.all(names.map((n) => waitInnerDocker(n, 240_000)));
      expect(ups).toEqual(names.map(() => 'up'));
      const ran = await Promise.all(names.map(async (n) => {
        const l = await loadInnerBusybox(n);
        if (l.code !== 0) return l;
        return docker(['exec', n, 'docker', 'run', '-d', '--name', 'inner', 'busybox', 'sleep', '3600'], { timeoutMs: 120_000 });
      }));
      for (const r of ran) expect(...ok(r)).toBe(0);
      const running = await Promise.all(names.map((n) => docker(['exec', n, 'docker', 'inspect', '-f', '{{.State.Running}}', 'inner'])));
      expect(running.map((r) => r.stdout.trim())).toEqual(names.map(() => 'true'));
      const stopped = await Promise.all(names.map((n) => docker(['stop', '-t', '60', n], { timeoutMs: 120_000 })));
      for (const s of stopped) expect(...ok(s)).toBe(0);
      const codes = await Promise.all(names.map((n) => dockerOk(['inspect', '-f', '{{.State.ExitCode}}', n])));
      expect(codes.map((c) => c.trim())).toEqual(names.map(() => '0'));
      await dockerOk(['rm', '-v', ...names], { timeoutMs: 120_000 });
      for (const id of ids) {
        expect(await leftoversAfterRemoval(rt, id)).toEqual([]);
        expect(existsSync(join('/var/lib/docker/containers', id))).toBe(false);
      }
    } finally {
      await removeContainers(names);
    }
  }, HEAVY ? 600_000 : 300_000);
});
