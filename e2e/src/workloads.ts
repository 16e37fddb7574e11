// System workloads shared by the e2e tests and the bench: the runc reference that boots systemd, and waiting for it.
import { docker, waitFor } from './docker.ts';

/**
 * runc's insecure reference for systemd as PID 1 on this host: the privileged-equivalent options (plain --privileged
 * can't start here: CAP_SYS_RESOURCE is missing from the bounding set) plus what systemd needs under runc: a tmpfs
 * /run and /run/lock, the host's cgroup tree read-write in the host's cgroup namespace, SIGRTMIN+3 as stop signal.
 */
export const RUNC_SYSTEMD_REFERENCE: readonly string[] = Object.freeze([
  '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE', '--security-opt', 'seccomp=unconfined', '--security-opt', 'systempaths=unconfined',
  '--security-opt', 'apparmor=unconfined', '--stop-signal', 'SIGRTMIN+3', '--tmpfs', '/run', '--tmpfs', '/run/lock',
  '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '--cgroupns', 'host',
]);

/** The options a runtime needs to boot systemd: none for sysbox-runc. */
export function systemdRunArgs(runtime: string): readonly string[] {
  return runtime === 'runc' ? RUNC_SYSTEMD_REFERENCE : [];
}

/**
 * `systemctl is-system-running` once booted: 'running' or 'degraded'; 'exited' when the container stopped;
 * '' on timeout. Polls every `intervalMs`.
 */
export function systemBooted(name: string, timeoutMs = 30_000, intervalMs = 500): Promise<string> {
  return waitFor(async () => {
    const s = (await docker(['exec', name, 'systemctl', 'is-system-running'], { timeoutMs: 15_000 })).stdout.trim();
    if (s === 'running' || s === 'degraded') return s;
    const st = await docker(['inspect', '-f', '{{.State.Running}}', name]);
    return st.stdout.trim() === 'false' ? 'exited' : '';
  }, timeoutMs, intervalMs);
}
