// Docker-in-Docker containers for the suites and the bench: how each runtime runs IMAGES.dind (systemd as init,
// docker.service enabled), and waiting for its inner Docker.
import { docker, type ExecResult, sleep } from './docker.ts';
import { DIND_BUSYBOX_TAR, IMAGES, type Runtime } from './paths.ts';

/**
 * The insecure reference: runc with the privileged-equivalent options (every capability the host grants, no seccomp,
 * no AppArmor, /proc and /sys unmasked) plus what systemd and an inner Docker need under runc on this host: a private
 * cgroup namespace (systemd finds its own cgroup), SIGRTMIN+3 to stop systemd (`docker stop` would send SIGTERM), an
 * anonymous volume at /var/lib/docker (overlay2 can't sit on the container's overlay rootfs) and the cgroup mounts
 * remounted read-write by the entrypoint before it execs systemd (Docker mounts them read-only: inner runc can't
 * make its cgroups). `docker rm -v` removes the volume.
 */
export const RUNC_DIND_OPTIONS: readonly string[] = [
  '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE',
  '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', '--security-opt', 'systempaths=unconfined',
  '--cgroupns=private', '--stop-signal', 'SIGRTMIN+3', '-v', '/var/lib/docker', '--entrypoint', '/bin/sh',
];
const RUNC_DIND_INIT = ['-c', 'for m in $(awk \'$9 ~ /^cgroup/ {print $5}\' /proc/self/mountinfo) /sys/fs/cgroup; do mount -o remount,bind,rw "$m" || exit 1; done; exec /sbin/init'];

/** `docker run` arguments (after --runtime, -d and --name) for IMAGES.dind under `rt`; `extra` go before the image. */
export function dindRunArgs(rt: Runtime | string, extra: readonly string[] = []): string[] {
  if (rt === 'runc') return [...RUNC_DIND_OPTIONS, ...extra, IMAGES.dind, ...RUNC_DIND_INIT];
  // sysbox-runc: nothing but the image (its CMD is /sbin/init)
  return [...extra, IMAGES.dind];
}

/**
 * Polls `docker exec <name> docker version` until the inner dockerd answers ('up'), the container stops ('exited')
 * or timeoutMs passes ('timeout').
 */
export async function waitInnerDocker(name: string, timeoutMs = 90_000): Promise<'up' | 'exited' | 'timeout'> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await docker(['exec', name, 'docker', 'version', '--format', '{{.Server.Version}}'], { timeoutMs: 15_000 });
    if (v.code === 0 && v.stdout.trim()) return 'up';
    const st = await docker(['inspect', '-f', '{{.State.Running}}', name], { timeoutMs: 15_000 });
    if (st.stdout.trim() === 'false') return 'exited';
    if (Date.now() > end) return 'timeout';
    await sleep(250);
  }
}

/** `docker load` of the image's busybox tarball in the inner Docker (tags sysbox-test/busybox and busybox). */
export function loadInnerBusybox(name: string): Promise<ExecResult> {
  return docker(['exec', name, 'docker', 'load', '-q', '-i', DIND_BUSYBOX_TAR], { timeoutMs: 60_000 });
}

/** Runs a shell script in the outer container (bash: its /dev/tcp reaches ports without curl). */
export function inOuter(name: string, script: string, timeoutMs = 60_000, input?: string): Promise<ExecResult> {
  return docker(['exec', ...(input !== undefined ? ['-i'] : []), name, 'bash', '-c', script], { timeoutMs, ...(input !== undefined ? { input } : {}) });
}

/** An HTTP GET over bash's /dev/tcp from inside the outer container: the response, headers and body. */
export function httpGetScript(host: string, port: number): string {
  return `exec 3<>/dev/tcp/${host}/${port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`;
}
