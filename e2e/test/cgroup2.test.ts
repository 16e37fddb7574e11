// cgroup v2. This host is cgroup v1 hybrid (controllers on v1, an empty cgroup2 tree at /sys/fs/cgroup/unified),
// so the engine runs through a wrapper that gives each of its invocations a mount namespace of its own where
// /sys/fs/cgroup is the cgroup2 hierarchy: runc then manages the container's cgroup in unified mode. runc is run
// through it directly; sysbox-runc drives it as its engine ("enginePath" in a config given by SYSBOX_CONFIG), so
// sysbox-mgr's staging and sysbox-fs's views (made in the host's namespace before the engine runs) are seen.
// No controller is enabled on this host's cgroup2 tree (they are bound to v1), so limits are not part of it: the
// cgroup v2 limit parsing of /proc emulation is unit-tested in packages/procfs.
import { describe, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseFor } from '../src/cases.ts';
import { RUNC, RUNTIMES, SYSBOX_RUNC } from '../src/paths.ts';
import { makeBundle, rawRuntime } from '../src/bundle.ts';
import { sleep } from '../src/docker.ts';

const PARENT = 'sysbox-e2e-v2';
const V2_HOST = '/sys/fs/cgroup/unified';

describe.each(RUNTIMES)('%s', (rt) => {
  const t = caseFor(rt);
  const isRunc = rt === 'runc';

  t('cgroup2: a container runs with the unified hierarchy: own cgroup namespace, uid map, emulated /proc/uptime', async () => {
    if (!existsSync(`${V2_HOST}/cgroup.procs`)) throw new Error(`no cgroup2 hierarchy at ${V2_HOST} on this host`);
    const id = `sysbox-e2e-v2-${process.pid}-${Date.now().toString(36)}`;
    const b = makeBundle(
      ['sh', '-c', 'cat /proc/self/cgroup; echo ---; cat /proc/self/uid_map; echo ---; awk \'$2 == "/sys/fs/cgroup" { print $3 }\' /proc/self/mounts; echo ---; cut -d" " -f1 /proc/uptime'],
      (spec) => {
        spec.linux.cgroupsPath = `/${PARENT}/${id}`;
      },
    );
    // the engine, in a mount namespace with cgroup2 at /sys/fs/cgroup
    const engine = join(b.dir, 'runc-v2');
    writeFileSync(engine, `#!/bin/sh\nexec unshare -m sh -c 'mount -t cgroup2 none /sys/fs/cgroup || exit 90; exec ${RUNC} "$@"' runc-v2 "$@"\n`);
    chmodSync(engine, 0o755);
    const config = join(b.dir, 'sysbox-config.json');
    writeFileSync(config, JSON.stringify({ engine: 'runc', enginePath: engine }));
    const bin = isRunc ? engine : SYSBOX_RUNC;
    const env = { SYSBOX_CONFIG: config };
    const call = (...args: string[]) => rawRuntime(bin, ['--root', b.stateRoot, ...args], { dir: b.dir, env });
    try {
      // create with stdio on a file of ours: the container writes its output there
      const outFile = join(b.dir, 'container-out');
      const out = openSync(outFile, 'w');
      const created = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const c = spawn(bin, ['--root', b.stateRoot, 'create', '--bundle', b.bundle, id], { stdio: ['ignore', out, 'pipe'], env: { ...process.env, ...env } });
        let stderr = '';
        c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
        c.on('exit', (code) => resolve({ code, stderr }));
      });
      closeSync(out);
      expect(created.code, created.stderr).toBe(0);
      const started = await call('start', id);
      expect(started.code, started.stderr).toBe(0);
      let state = '';
      for (let i = 0; i < 100 && !state.includes('"stopped"'); i++) {
        await sleep(50);
        state = (await call('state', id)).stdout;
      }
      expect(state).toContain('"stopped"');
      const deleted = await call('delete', id);
      expect(deleted.code, deleted.stderr).toBe(0);

      const [cgroups, uidMap, cgFs, uptime] = readFileSync(outFile, 'utf8').split('---\n').map((x) => x.trim());
      // the v2 line (the process still sits in the root of each v1 hierarchy this host has); in its own cgroup
      // namespace (sysbox-runc) the container's cgroup is the root of the unified hierarchy
      expect(cgroups!.split('\n').find((l) => l.startsWith('0::'))).toBe(isRunc ? `0::/${PARENT}/${id}` : '0::/');
      expect(cgFs).toBe('cgroup2');
      const [inside, outside, size] = uidMap!.split(/\s+/).map(Number);
      if (isRunc) {
        expect([inside, outside, size]).toEqual([0, 0, 4294967295]);
      } else {
        expect(inside).toBe(0);
        expect(outside).toBeGreaterThan(0);
        expect(size).toBe(65536);
      }
      // sysbox-fs: the container's own uptime (it started just now); runc: the host's
      const hostUptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      if (isRunc) expect(Number(uptime)).toBeGreaterThan(hostUptime - 60);
      else expect(Number(uptime)).toBeLessThan(30);
    } finally {
      await call('delete', '--force', id).catch(() => undefined);
      b.cleanup();
      // the parent cgroup the engine made (empty once the container is gone)
      try {
        for (const d of readdirSync(`${V2_HOST}/${PARENT}`, { withFileTypes: true })) if (d.isDirectory() && d.name.startsWith(id)) rmdirSync(`${V2_HOST}/${PARENT}/${d.name}`);
        rmdirSync(`${V2_HOST}/${PARENT}`);
      } catch {
        /* in use by a parallel run, or already gone */
      }
    }
  });
});
