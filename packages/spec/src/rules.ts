// Sysbox rules: the checks that turn "a valid OCI spec" into "a spec sysbox accepts", plus the
// namespaces every system container gets. Pure: no I/O; whether a namespace *path* is the host's can
// only be known by stat(2), so the caller may pass that check in (`isHostNamespace`).

import { SysboxSpecError } from './errors.js';
import type { LinuxNamespace, LinuxNamespaceType, Spec } from './types.js';
import { clone, findNamespace } from './util.js';

/**
 * Says whether the namespace file at `path` is the host's namespace of that type:
 * true = host, false = not the host, undefined = can't tell. An app implements it by comparing
 * `stat(path)` (dev, ino) with `stat('/proc/self/ns/<type>')`, as sysbox-runc does.
 */
export type HostNamespaceCheck = (type: LinuxNamespaceType, path: string) => boolean | undefined;

export interface RulesOptions {
  isHostNamespace?: HostNamespaceCheck;
}

/** Namespaces a system container must not share with the host, in the order messages list them. */
const PRIVATE_NAMESPACES = ['pid', 'ipc', 'uts', 'mount'] as const;

const PROC_NS_NAME: Record<string, string> = { network: 'net', mount: 'mnt' };

/**
 * Paths that are the host's namespace without looking at the file system: the namespace links of
 * the host's init (pid 1) and of the runtime itself, and Docker's sandbox for `--network=host`
 * (Docker 20.10 writes `{"type":"network","path":"/var/run/docker/netns/default"}` for it).
 */
export function isKnownHostNamespacePath(type: LinuxNamespaceType, path: string): boolean {
  const name = PROC_NS_NAME[type] ?? type;
  const p = path.replace(/\/+$/, '');
  if (p === `/proc/1/ns/${name}` || p === `/proc/self/ns/${name}` || p === `/proc/thread-self/ns/${name}`) return true;
  if (type === 'network' && (p === '/var/run/docker/netns/default' || p === '/run/docker/netns/default')) return true;
  return false;
}

function verdict(type: LinuxNamespaceType, path: string, opts: RulesOptions): boolean | undefined {
  const fromCaller = opts.isHostNamespace?.(type, path);
  if (fromCaller !== undefined) return fromCaller;
  return isKnownHostNamespacePath(type, path) ? true : undefined;
}

export const HOST_NETWORK_MESSAGE =
  "sysbox containers can't share a network namespace with the host (because they use the linux user-namespace for isolation)";

export function hostNamespacesMessage(types: readonly string[]): string {
  return `sysbox containers can't share namespaces [${types.join(' ')}] with the host (because they use the linux user-namespace for isolation)`;
}

/**
 * Refuses specs that share the host's pid, ipc, uts, mount or network namespace (SysboxSpecError
 * with the exact user-facing message), and adds user and cgroup namespaces. Returns a new spec.
 *
 * - pid/ipc/uts/mount: refused when the entry is absent (Docker's `--pid=host` etc.), or has a path that
 *   is the host's or can't be shown not to be (sysbox can only isolate namespaces it creates under its
 *   own user namespace; a caller that can stat() may pass `isHostNamespace` to allow e.g. pod sharing).
 * - network: refused when absent or a known host path; a path to another container's netns
 *   (`--network container:x`, Kubernetes pods) is allowed unless `isHostNamespace` says it is the host.
 * - user: `--userns=host` (no entry) is ignored: a fresh user namespace is added; a joined user
 *   namespace (with a path) is replaced by a fresh one, as sysbox owns the ID mapping.
 * - cgroup: added when absent (Docker on cgroup v1 never lists it, so its absence is not a refusal).
 */
export function applySysboxRules(spec: Spec, opts: RulesOptions = {}): { spec: Spec; changes: string[] } {
  const shared: string[] = [];
  for (const type of PRIVATE_NAMESPACES) {
    const ns = findNamespace(spec, type);
    if (!ns || (ns.path !== undefined && ns.path !== '' && verdict(type, ns.path, opts) !== false)) shared.push(type);
  }
  if (shared.length > 0) throw new SysboxSpecError('host-namespace', hostNamespacesMessage(shared));

  const net = findNamespace(spec, 'network');
  if (!net || (net.path !== undefined && net.path !== '' && verdict('network', net.path, opts) === true)) {
    throw new SysboxSpecError('host-network', HOST_NETWORK_MESSAGE);
  }

  const changes: string[] = [];
  const out = clone(spec);
  const linux = (out.linux ??= {});
  const namespaces: LinuxNamespace[] = (linux.namespaces ??= []);
  const user = namespaces.find((ns) => ns.type === 'user');
  if (!user) {
    namespaces.push({ type: 'user' });
    changes.push('added a user namespace');
  } else if (user.path) {
    changes.push(`replaced the joined user namespace ${user.path} with a new one`);
    delete user.path;
  }
  if (!namespaces.some((ns) => ns.type === 'cgroup')) {
    namespaces.push({ type: 'cgroup' });
    changes.push('added a cgroup namespace');
  }
  return { spec: out, changes };
}
