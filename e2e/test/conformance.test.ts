// Issue 19: every difference from runc a named system-container rule; capabilities and ID maps honoured on request; a
// regular-container mode. runc (the reference) beside sysbox-runc, with crun as the engine too where the engine matters
// (the runc column then runs crun itself). Raw bundles (the runtime driven directly, as the OCI validation suite does)
// for what Docker has no flag for: ID maps, namespace paths, devices the host lacks, the runtime's config defaults.
import { describe, expect, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, tmpDir, uniqueName, withContainer } from '../src/docker.ts';
import { caseFor } from '../src/cases.ts';
import { IMAGES, RUNTIMES, SYSBOX_RUNC, type Runtime } from '../src/paths.ts';
import { DOCKER_DEFAULT_CAPS, REFUSAL, capField, hostCapBnd, hostUptime, ociCreateFailed, singleRange } from '../src/host.ts';
import { makeBundle, rawRuntime, runtimeBinary, type Bundle } from '../src/bundle.ts';
import { ensureV1ControllersForCrun, registerRuntimes } from '../src/harness.ts';
import { mgrStateText } from '../src/daemons.ts';

const BB = IMAGES.busybox;
const SPEC_REFUSAL = 'error in the container spec: invalid or unsupported container spec: ';
const OTHER_CONTAINER = (types: string) => `${SPEC_REFUSAL}sysbox containers can't join namespaces [${types}] of another container yet (they belong to another user namespace)`;
/** where sysbox-runc makes device nodes the host lacks (DEFAULT_DEVICES_DIR in apps/runc/src/conformance.ts) */
const DEVICES_DIR = '/var/lib/sysbox-runc/devices';

/** The Docker runtimes of a column, one per engine: runc's column runs the engines themselves. */
const dockerRuntimes = (rt: Runtime) => (rt === 'runc' ? ['runc', 'crun'] : ['sysbox-runc', 'sysbox-runc-crun']);
/** The raw runtime command line of a column, one per engine. */
const rawRuntimes = (rt: Runtime): Array<{ engine: string; bin: string; pre: string[] }> =>
  rt === 'runc'
    ? [{ engine: 'runc', bin: runtimeBinary('runc'), pre: [] }, { engine: 'crun', bin: runtimeBinary('crun'), pre: [] }]
    : [{ engine: 'runc', bin: SYSBOX_RUNC, pre: ['--engine', 'runc'] }, { engine: 'crun', bin: SYSBOX_RUNC, pre: ['--engine', 'crun'] }];

const hex = (n: bigint) => n.toString(16).padStart(16, '0');
const bit = (name: string) => 1n << BigInt(['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN'].indexOf(name));

/** The container's stdout when the runtime runs the bundle in the foreground (`run`), then its leftovers removed. */
async function rawRun(r: { bin: string; pre: string[] }, b: Bundle, env: Record<string, string> = {}) {
  const id = uniqueName('conf');
  try {
    return { id, ...(await rawRuntime(r.bin, [...r.pre, '--root', b.stateRoot, 'run', '--bundle', b.bundle, id], { dir: b.dir, env, timeoutMs: 60_000 })) };
  } finally {
    await rawRuntime(r.bin, [...r.pre, '--root', b.stateRoot, 'delete', '--force', id], { dir: b.dir });
  }
}

/** sysbox's pool: the `sysbox` entry of /etc/subuid (sysbox-mgr's default). */
function subuidPool(): { start: number; count: number } {
  const line = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith('sysbox:'));
  if (!line) throw new Error('no sysbox entry in /etc/subuid');
  const [, start, count] = line.split(':');
  return { start: Number(start), count: Number(count) };
}

const maps = (hostID: number, size = 65536) => [{ containerID: 0, hostID, size }];

/** A bundle whose spec asks for ID maps: runc then mounts the rootfs as the mapped root, which must reach it. */
function mappedBundle(args: string[], edit: (spec: Record<string, any>) => void): Bundle {
  const b = makeBundle(args, (spec) => {
    spec.linux.namespaces.push({ type: 'user' });
    edit(spec);
  });
  chmodSync(b.dir, 0o755);
  return b;
}

beforeAll(async () => {
  await registerRuntimes({ 'sysbox-runc-crun': { path: SYSBOX_RUNC, runtimeArgs: ['--engine', 'crun'] } });
  await ensureV1ControllersForCrun();
}, 120_000);

describe.each(RUNTIMES)('%s', (rt) => {
  const t = caseFor(rt);
  const isRunc = rt === 'runc';

  // ── capabilities: one rule, as users read Docker's flags; honoured on request ──
  t("conformance: CapEff of root in busybox for Docker's capability flags (both engines)", async () => {
    const host = hostCapBnd();
    const cases: Array<[string, string[], bigint, bigint]> = [
      // flags, runc's CapEff, sysbox-runc's CapEff
      ['-e SYSBOX_HONOR_CAPS=TRUE', ['-e', 'SYSBOX_HONOR_CAPS=TRUE'], DOCKER_DEFAULT_CAPS, DOCKER_DEFAULT_CAPS],
      ['no flags', [], DOCKER_DEFAULT_CAPS, host],
      ['--cap-drop ALL', ['--cap-drop', 'ALL'], 0n, 0n],
      ['--cap-drop ALL --cap-add NET_BIND_SERVICE', ['--cap-drop', 'ALL', '--cap-add', 'NET_BIND_SERVICE'], 0x400n, 0x400n],
      ['--cap-drop ALL --cap-add SYS_ADMIN', ['--cap-drop', 'ALL', '--cap-add', 'SYS_ADMIN'], bit('SYS_ADMIN'), bit('SYS_ADMIN')],
      ['--cap-drop CHOWN', ['--cap-drop', 'CHOWN'], DOCKER_DEFAULT_CAPS & ~bit('CHOWN'), host & ~bit('CHOWN')],
      ['--cap-add NET_ADMIN', ['--cap-add', 'NET_ADMIN'], DOCKER_DEFAULT_CAPS | bit('NET_ADMIN'), host],
    ];
    for (const runtime of dockerRuntimes(rt)) {
      for (const [what, flags, runcEff, sysboxEff] of cases) {
        const r = await run(runtime, ['--rm', ...flags, BB, 'cat', '/proc/self/status'], { timeoutMs: 60_000 });
        expect(r.code, `${runtime} ${what}: ${r.stderr}`).toBe(0);
        expect(hex(capField(r.stdout, 'CapEff')), `${runtime} ${what}`).toBe(hex(isRunc ? runcEff : sysboxEff));
        expect(hex(capField(r.stdout, 'CapBnd')), `${runtime} ${what}`).toBe(hex(isRunc ? runcEff : sysboxEff));
      }
    }
  }, 300_000);

  // runc copies the host's mount namespace into the container's user namespace (a read-only bind staged on the host
  // arrives locked); crun clones its binds before it joins it (unlocked): the seccomp filter leaves bind remounts to
  // the kernel only with runc, and the vetter refuses them with crun
  t('conformance: a read-only bind stays read-only against a bind remount read-write, with both engines (CAP_SYS_ADMIN)', async () => {
    for (const dr of dockerRuntimes(rt)) {
      const dir = tmpDir('conf-ro');
      const r = await run(dr, ['--rm', '--cap-add', 'SYS_ADMIN', '-v', `${dir}:/h:ro`, BB, 'sh', '-c', 'mount -o remount,bind,rw /h; echo made=$?; touch /h/x; echo write=$?'], { timeoutMs: 60_000 });
      const out = `${dr}: ${r.stdout}${r.stderr}`;
      expect(r.code, out).toBe(0);
      if (isRunc) {
        expect(r.stdout, out).toMatch(/made=0\s+write=0/);
        expect(existsSync(join(dir, 'x')), out).toBe(true);
      } else {
        expect(r.stdout, out).toMatch(/made=[1-9]\d*\s+write=[1-9]/);
        expect(existsSync(join(dir, 'x')), out).toBe(false);
      }
    }
  });

  t('conformance: -e SYSBOX_HONOR_CAPS=TRUE for a non-root user and for docker exec, as runc', async () => {
    const user = await run(rt, ['--rm', '-e', 'SYSBOX_HONOR_CAPS=TRUE', '-u', '1000', BB, 'cat', '/proc/self/status'], { timeoutMs: 60_000 });
    expect(user.code, user.stderr).toBe(0);
    expect(hex(capField(user.stdout, 'CapEff'))).toBe(hex(0n));
    expect(hex(capField(user.stdout, 'CapBnd'))).toBe(hex(DOCKER_DEFAULT_CAPS));
    await withContainer(rt, ['-e', 'SYSBOX_HONOR_CAPS=TRUE', BB, 'sleep', '300'], async (c) => {
      const root = await c.exec(['cat', '/proc/self/status']);
      expect(root.code, root.stderr).toBe(0);
      expect(hex(capField(root.stdout, 'CapEff'))).toBe(hex(DOCKER_DEFAULT_CAPS));
      const other = await c.exec(['cat', '/proc/self/status'], { flags: ['-u', '1000'] });
      expect(hex(capField(other.stdout, 'CapEff'))).toBe(hex(0n));
      expect(hex(capField(other.stdout, 'CapBnd'))).toBe(hex(DOCKER_DEFAULT_CAPS));
    });
  });

  t('conformance: a SYSBOX_HONOR_CAPS value other than TRUE or FALSE is refused naming the variable', async () => {
    const r = await run(rt, ['--rm', '-e', 'SYSBOX_HONOR_CAPS=yes', BB, 'true'], { timeoutMs: 60_000 });
    if (isRunc) return expect(r.code, r.stderr).toBe(0);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(ociCreateFailed(`${SPEC_REFUSAL}process.env: SYSBOX_HONOR_CAPS must be TRUE or FALSE, got "yes"`));
  });

  // ── regular-container mode ──
  t('conformance: -e SYSBOX_SYSCONT_MODE=FALSE: a private 0 <base> 65536 range, no emulated /proc, the spec as runc runs it', async () => {
    const script = 'cat /proc/self/uid_map; echo ---; cut -d" " -f1 /proc/uptime; echo ---; grep -c " /var/lib/docker " /proc/self/mountinfo; echo ---; ' +
      'grep CapEff /proc/self/status; echo ---; echo 1 > /proc/sys/kernel/panic_print; echo rc=$?';
    for (const mode of ['FALSE', 'TRUE']) {
      const r = await run(rt, ['--rm', '-e', `SYSBOX_SYSCONT_MODE=${mode}`, BB, 'sh', '-c', script], { timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      const [uidMap, uptime, specialDirs, capEff, write] = r.stdout.split('---\n').map((s) => s.trim());
      const regular = isRunc || mode === 'FALSE';
      if (isRunc) expect(uidMap!.replace(/\s+/g, ' ')).toBe('0 0 4294967295');
      else expect(singleRange(uidMap!)).toMatchObject({ inside: 0, size: 65536 });
      if (!isRunc) expect(singleRange(uidMap!).outside).toBeGreaterThan(0);
      // no sysbox-fs: the host's uptime; a system container: its own
      if (regular) expect(Number(uptime)).toBeGreaterThan(hostUptime() - 60);
      else expect(Number(uptime)).toBeLessThan(30);
      // no special dirs (/var/lib/docker) in a regular container
      expect(Number(specialDirs), `SYSBOX_SYSCONT_MODE=${mode}`).toBe(regular ? 0 : 1);
      expect(hex(capField(capEff!, 'CapEff'))).toBe(hex(regular ? DOCKER_DEFAULT_CAPS : hostCapBnd()));
      // Docker's read-only /proc/sys is kept (a system container's is writable, the kernel says no)
      expect(write).toBe('rc=1');
      expect(r.stderr).toContain(regular ? 'Read-only file system' : 'Permission denied');
    }
  });

  t('conformance: -e SYSBOX_SYSCONT_MODE=FALSE still refuses sharing the host namespaces', async () => {
    const r = await run(rt, ['--rm', '-e', 'SYSBOX_SYSCONT_MODE=FALSE', '--pid=host', BB, 'true'], { timeoutMs: 60_000 });
    if (isRunc) return expect(r.code, r.stderr).toBe(0);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(ociCreateFailed(REFUSAL.ns('pid')));
  });

  t("conformance: the runtime's config gives the defaults: honorCaps true, syscontMode false", async () => {
    const script = ['sh', '-c', 'grep CapEff /proc/self/status; cut -d" " -f1 /proc/uptime'];
    for (const [config, wantEff, emulated] of [
      [{ honorCaps: true }, DOCKER_DEFAULT_CAPS, true],
      [{ syscontMode: false }, DOCKER_DEFAULT_CAPS, false],
      [{}, hostCapBnd(), true],
    ] as const) {
      const b = makeBundle(script, (spec) => {
        spec.process.capabilities = Object.fromEntries(['bounding', 'effective', 'permitted'].map((k) => [k, ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE']]));
      });
      try {
        const file = join(b.dir, 'sysbox-config.json');
        writeFileSync(file, JSON.stringify(config));
        const r = await rawRun(rawRuntimes(rt)[0]!, b, { SYSBOX_CONFIG: file });
        expect(r.code, `${JSON.stringify(config)}: ${r.stderr}`).toBe(0);
        const [eff, uptime] = r.stdout.trim().split('\n');
        expect(hex(capField(eff!, 'CapEff')), JSON.stringify(config)).toBe(hex(isRunc ? DOCKER_DEFAULT_CAPS : wantEff));
        if (isRunc || !emulated) expect(Number(uptime)).toBeGreaterThan(hostUptime() - 60);
        else expect(Number(uptime)).toBeLessThan(30);
      } finally {
        b.cleanup();
      }
    }
  });

  // ── ID maps given in config.json ──
  t('conformance: uidMappings/gidMappings in config.json are used as given', async () => {
    const pool = subuidPool();
    const base = pool.start + pool.count - 65536; // the pool's last range: free unless 4095 containers run
    const b = mappedBundle(['sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map'], (spec) => {
      spec.linux.uidMappings = maps(base);
      spec.linux.gidMappings = maps(base);
    });
    try {
      for (const r of rawRuntimes(rt)) {
        const out = await rawRun(r, b);
        expect(out.code, `${r.engine}: ${out.stderr}`).toBe(0);
        expect(out.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual([`0 ${base} 65536`, `0 ${base} 65536`]);
        if (!isRunc) expect(mgrStateText()).not.toContain(out.id); // released with the container
      }
    } finally {
      b.cleanup();
    }
  });

  t('conformance: invalid ID maps in config.json are refused with one line naming the field', async () => {
    const pool = subuidPool();
    await withContainer(rt, [BB, 'sleep', '300'], async (c) => {
      const held = isRunc ? undefined : singleRange((await c.exec(['cat', '/proc/self/uid_map'])).stdout);
      const cases: Array<[string, unknown, unknown, string]> = [
        // runtime-tools' linux_uid_mappings and linux_ns_nopath
        ['too small', maps(1000, 2000), maps(1000, 3000), 'linux.uidMappings[0].size: must be at least 65536, got 2000'],
        ['outside the subordinate IDs', maps(1000), maps(1000), `linux.uidMappings: uid range 1000-66535 is not inside the subordinate uids ${pool.start}-${pool.start + pool.count - 1}`],
        ['uid maps only', maps(pool.start), undefined, 'linux.gidMappings: missing (linux.uidMappings is given; sysbox needs both or neither)'],
      ];
      if (held) {
        // exactly its range: a shifted one could overlap a neighbour's first (other containers may run meanwhile)
        const at = held.outside;
        cases.push(['overlapping a running container', maps(at), maps(at), `linux.uidMappings: uid range ${at}-${at + 65535} overlaps the uid range ${at}-${at + 65535} of container "${await c.inspect('{{.Id}}')}"`]);
      }
      for (const [what, uid, gid, detail] of cases) {
        if (isRunc && !gid) continue; // runc needs both maps
        const b = mappedBundle(['true'], (spec) => {
          spec.linux.uidMappings = uid;
          if (gid) spec.linux.gidMappings = gid;
        });
        try {
          const r = await rawRun(rawRuntimes(rt)[0]!, b);
          if (isRunc) {
            // runc runs any mapping it is given
            expect(r.code, `${what}: ${r.stderr}`).toBe(0);
            continue;
          }
          expect(r.code, what).not.toBe(0);
          expect(r.stderr.split('\n'), what).toContain(`${SPEC_REFUSAL}${detail}`);
          expect(mgrStateText(), what).not.toContain(r.id);
        } finally {
          b.cleanup();
        }
      }
    });
  });

  // ── namespace paths: honoured or refused, never replaced ──
  t('conformance: a namespace path of the wrong type is refused before the engine runs', async () => {
    // runtime-tools' linux_ns_path_type: the user namespace at a uts namespace
    const b = makeBundle(['true'], (spec) => {
      spec.linux.namespaces.push({ type: 'user', path: '/proc/self/ns/uts' });
      spec.linux.uidMappings = maps(0);
      spec.linux.gidMappings = maps(0);
      if (!isRunc) {
        delete spec.linux.uidMappings;
        delete spec.linux.gidMappings;
      }
    });
    try {
      const r = await rawRun(rawRuntimes(rt)[0]!, b);
      expect(r.code).not.toBe(0); // runc: "failed to setns into user namespace: Invalid argument"
      if (!isRunc) {
        const i = JSON.parse(readFileSync(join(b.bundle, 'config.json'), 'utf8')).linux.namespaces.length - 1;
        expect(r.stderr.split('\n')).toContain(`${SPEC_REFUSAL}linux.namespaces[${i}].path: /proc/self/ns/uts is a uts namespace, not a user namespace`);
      }
    } finally {
      b.cleanup();
    }
  });

  t('conformance: joining a namespace made on the host is refused with the host-sharing message', async () => {
    // runtime-tools' linux_ns_path: namespaces made with unshare on the host
    const holder: ChildProcess = spawn('unshare', ['--net', '--ipc', '--fork', 'sleep', '300'], { stdio: 'ignore' });
    try {
      let pid = 0;
      for (let i = 0; i < 100 && !pid; i++) {
        await new Promise((res) => setTimeout(res, 20));
        const kids = readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim();
        pid = Number(kids.split(' ')[0] || 0);
      }
      expect(pid).toBeGreaterThan(0);
      for (const [type, file, msg] of [['network', 'net', REFUSAL.net], ['ipc', 'ipc', REFUSAL.ns('ipc')]] as const) {
        const b = makeBundle(['true'], (spec) => {
          spec.linux.namespaces.find((n: { type: string }) => n.type === type).path = `/proc/${pid}/ns/${file}`;
        });
        try {
          const r = await rawRun(rawRuntimes(rt)[0]!, b);
          if (isRunc) expect(r.code, `${type}: ${r.stderr}`).toBe(0);
          else expect(r.stderr, type).toContain(msg);
        } finally {
          b.cleanup();
        }
      }
    } finally {
      holder.kill('SIGKILL');
    }
  });

  t("conformance: --network container:<another container> is refused for now (another container's user namespace)", async () => {
    await withContainer(rt, [BB, 'sleep', '300'], async (c) => {
      const r = await run(rt, ['--rm', '--network', `container:${c.name}`, BB, 'true'], { timeoutMs: 60_000 });
      if (isRunc) return expect(r.code, r.stderr).toBe(0);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(ociCreateFailed(OTHER_CONTAINER('network')));
    });
  });

  // ── devices the host lacks ──
  t('conformance: a device in config.json that the host lacks is made and bound in (both engines)', async () => {
    // runtime-tools' linux_devices
    const devices = [
      { path: '/dev/sysbox-e2e-test1', type: 'c', major: 10, minor: 666, fileMode: 0o660, uid: 0, gid: 0 },
      { path: '/dev/sysbox-e2e-test2', type: 'b', major: 8, minor: 666, fileMode: 0o640, uid: 5, gid: 6 },
      { path: '/dev/sysbox-e2e-test3', type: 'p', fileMode: 0o600 },
    ];
    const b = makeBundle(['sh', '-c', `ls -ln ${devices.map((d) => d.path).join(' ')}`], (spec) => {
      spec.linux.devices = devices;
    });
    try {
      for (const r of rawRuntimes(rt)) {
        const out = await rawRun(r, b);
        expect(out.code, `${r.engine}: ${out.stderr}`).toBe(0);
        const lines = out.stdout.trim().split('\n').map((l) => l.split(/\s+/));
        expect(lines.map((l) => [l[0], l[2], l[3], l[4], l[5]]), r.engine).toEqual([
          ['crw-rw----', '0', '0', '10,', '666'],
          ['brw-r-----', '5', '6', '8,', '666'],
          ['prw-------', '0', '0', expect.anything(), expect.anything()],
        ]);
        if (!isRunc) expect(existsSync(join(DEVICES_DIR, out.id)), r.engine).toBe(false); // removed once bound in
      }
    } finally {
      b.cleanup();
    }
  });

  t("conformance: a device that can't be made is refused before the engine runs, naming it", async () => {
    const b = makeBundle(['true'], (spec) => {
      spec.linux.devices = [{ path: '/dev/sysbox-e2e-test4', type: 'c', major: 1, minor: 1, fileMode: 0o600, uid: 70000, gid: 0 }];
    });
    try {
      const r = await rawRun(rawRuntimes(rt)[0]!, b);
      if (isRunc) return expect(r.code, r.stderr).toBe(0);
      expect(r.code).not.toBe(0);
      expect(r.stderr.split('\n')).toContain(`${SPEC_REFUSAL}linux.devices[0] (/dev/sysbox-e2e-test4): the host has no such device and sysbox-runc can't make it: uid 70000 is outside the container's 65536 IDs`);
      expect(existsSync(join(DEVICES_DIR, r.id))).toBe(false);
      expect(mgrStateText()).not.toContain(r.id);
      // no half-made container: neither the engine nor sysbox-runc keeps anything of it
      expect(existsSync(join(b.stateRoot, 'engine', r.id))).toBe(false);
      expect(existsSync(join(b.stateRoot, 'sysbox', r.id))).toBe(false);
    } finally {
      b.cleanup();
    }
  });

  // ── the state hooks get ──
  t("conformance: hooks get the caller's bundle in their state (crun as the engine; runc's own column: runc)", async () => {
    const b = makeBundle(['true']);
    const stateFile = join(b.dir, 'hook-state.json');
    const cfgPath = join(b.bundle, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    cfg.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${stateFile}`] }] };
    writeFileSync(cfgPath, JSON.stringify(cfg));
    try {
      const r = await rawRun(rawRuntimes(rt)[1]!, b);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toMatchObject({ id: r.id, bundle: b.bundle });
    } finally {
      b.cleanup();
    }
  });
});
