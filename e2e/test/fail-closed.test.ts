// Fail closed: a system container is never created without every piece it needs. With sysbox-fs or sysbox-mgr
// stopped, frozen (SIGSTOP: it accepts connections and never answers) or gone with its socket left behind, `docker
// run` fails with one line naming the daemon, its socket and how to start it, and nothing of the container is left
// (mounts, cgroups, ID range, staged dirs, state). Once the daemon is back, the next `docker run` works (and is
// emulated). runc, beside it, needs no daemon: the same `docker run` works there.
import { describe, expect } from 'vitest';
import { docker, run, uniqueName } from '../src/docker.ts';
import { caseFor } from '../src/cases.ts';
import { FS, MGR, assertHarnessOwns, killDaemon, readPid, restoreDaemonsAfterEach, startDaemon, stopDaemon, type DaemonSpec } from '../src/daemons.ts';
import { hostUptime } from '../src/host.ts';
import { leftoversAfterRemoval } from '../src/leftovers.ts';
import { IMAGES, RUNTIMES } from '../src/paths.ts';

const daemons = restoreDaemonsAfterEach();

type Fault = 'stopped' | 'frozen (SIGSTOP)' | 'killed, its socket left behind';

/** Puts the daemon in the fault; returns how to end it (the daemon is running again after it). */
async function inflict(spec: DaemonSpec, fault: Fault): Promise<() => Promise<void>> {
  const pid = assertHarnessOwns(spec);
  daemons.touched();
  if (fault === 'stopped') await stopDaemon(spec);
  else if (fault === 'killed, its socket left behind') await killDaemon(spec, 'SIGKILL');
  else process.kill(pid, 'SIGSTOP');
  return async () => {
    if (fault === 'frozen (SIGSTOP)') process.kill(pid, 'SIGCONT');
    const r = await startDaemon(spec);
    expect(r.available, r.reason).toBe(true);
  };
}

describe.each(RUNTIMES)('%s', (rt) => {
  const t = caseFor(rt);
  for (const spec of [FS, MGR]) {
    for (const fault of ['stopped', 'frozen (SIGSTOP)', 'killed, its socket left behind'] as Fault[]) {
      t(`fail closed: ${spec.name} ${fault}: docker run fails with one line and leaves nothing; the next one works`, async () => {
        const name = uniqueName('closed');
        const end = rt === 'runc' ? async () => {} : await inflict(spec, fault);
        let id = '';
        let ended = false;
        try {
          const t0 = Date.now();
          const r = await run(rt, ['--name', name, IMAGES.busybox, 'cat', '/proc/uptime'], { timeoutMs: 90_000 });
          const ms = Date.now() - t0;
          id = (await docker(['inspect', '-f', '{{.Id}}', name])).stdout.trim();
          if (rt === 'runc') {
            expect(r.code, r.stderr).toBe(0);
            return;
          }
          console.log(`${spec.name} ${fault}: docker run failed after ${ms} ms: ${r.stderr.trim()}`);
          expect(r.code).not.toBe(0);
          // Docker wraps the runtime's one line: "... OCI runtime create failed: <line>: unknown"
          const line = /OCI runtime create failed: (.*): unknown/.exec(r.stderr)?.[1] ?? '';
          expect(line, r.stderr).toMatch(new RegExp(`^${spec.name} .*${spec.socket.replace(/\//g, '\\/')}.*: a system container needs ${spec.name} .*; start it`));
          expect(line).not.toContain('\n');
          await end();
          ended = true;
          await docker(['rm', '-f', name]);
          expect(await leftoversAfterRemoval(rt, id)).toEqual([]);
          // back: the next docker run works, with the emulation
          const again = await run(rt, ['--rm', IMAGES.busybox, 'cat', '/proc/uptime'], { timeoutMs: 90_000 });
          expect(again.code, again.stderr).toBe(0);
          expect(hostUptime() - Number.parseFloat(again.stdout)).toBeGreaterThan(30);
        } finally {
          if (!ended) await end();
          await docker(['rm', '-f', name]);
        }
      }, 120_000);
    }
  }

  t('fail closed: the run verb without the attach hooks (after-create) is emulated too', async () => {
    // (`run` with the hooks is in procfs.test.ts; without them sysbox-runc runs it as create, start and wait)
    const { makeBundle, rawRuntime, runtimeBinary } = await import('../src/bundle.ts');
    const b = makeBundle(['sh', '-c', 'cat /proc/uptime; exit 7']);
    const id = uniqueName('run-steps');
    try {
      const r = await rawRuntime(runtimeBinary(rt), ['--root', b.stateRoot, 'run', '--bundle', b.bundle, id], { dir: b.dir, env: { SYSBOX_FS_ATTACH: 'after-create' } });
      expect(r.code, r.stderr).toBe(7);
      const inside = Number.parseFloat(r.stdout);
      if (rt === 'runc') return;
      expect(hostUptime() - inside, r.stdout).toBeGreaterThan(30);
      const st = await rawRuntime(runtimeBinary(rt), ['--root', b.stateRoot, 'state', id], { dir: b.dir });
      expect(st.code, 'the container is gone after run').not.toBe(0);
    } finally {
      await rawRuntime(runtimeBinary(rt), ['--root', b.stateRoot, 'delete', '--force', id], { dir: b.dir });
      b.cleanup();
    }
  });

  t('fail closed: the run verb with sysbox-fs stopped fails and starts nothing', async () => {
    const { makeBundle, rawRuntime, runtimeBinary } = await import('../src/bundle.ts');
    const b = makeBundle(['sh', '-c', 'echo started']);
    const id = uniqueName('run-nofs');
    const end = rt === 'runc' ? async () => {} : await inflict(FS, 'stopped');
    try {
      const r = await rawRuntime(runtimeBinary(rt), ['--root', b.stateRoot, 'run', '--bundle', b.bundle, id], { dir: b.dir });
      if (rt === 'runc') {
        expect(r.code, r.stderr).toBe(0);
        return;
      }
      expect(r.code).not.toBe(0);
      expect(r.stdout).not.toContain('started');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/sysbox-fs is not running .*start it/);
      expect(readPid(FS)).toBeUndefined();
    } finally {
      await end();
      await rawRuntime(runtimeBinary(rt), ['--root', b.stateRoot, 'delete', '--force', id], { dir: b.dir });
      b.cleanup();
    }
  });
});
