// Sysbox rules: the checks that turn "a valid OCI spec" into "a spec sysbox accepts", plus the
// namespaces every system container gets. Pure: no I/O; what a namespace *path* is (its type, whether the host
// owns it) can only be known from the kernel, so the caller passes that in (`inspectNamespace`, `isHostNamespace`).

import { SysboxSpecError } from './errors.js';
import type { LinuxNamespace, LinuxNamespaceType, Spec } from './types.js';
import { clone, findNamespace } from './util.js';

/**
 * Says whether the namespace file at `path` is the host's namespace of that type:
 * true = host, false = not the host, undefined = can't tell. An app implements it by comparing
 * `stat(path)` (dev, ino) with `stat('/proc/self/ns/<type>')`, as sysbox-runc does.
 */
export type HostNamespaceCheck = (type: LinuxNamespaceType, path: string) => boolean | undefined;

/**
 * What the runtime found out about a namespace file (`linux.namespaces[].path`), e.g. with the NS_GET_NSTYPE and
 * NS_GET_USERNS ioctls: its real type; whether it is the host's own namespace of that type; whether its owning user
 * namespace is the host's (for a user namespace: its parent). Undefined: can't tell (the path can't be opened).
 */
export interface NamespaceFacts {
  type: LinuxNamespaceType;
  isHost: boolean;
  ownedByHost: boolean;
}
export type NamespaceInspector = (path: string) => NamespaceFacts | undefined;

export interface RulesOptions {
  isHostNamespace?: HostNamespaceCheck;
  /** Decides every joined namespace when given (see applySysboxRules); isHostNamespace is then not asked. */
  inspectNamespace?: NamespaceInspector;
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

export function otherContainerNamespacesMessage(types: readonly string[]): string {
  return `sysbox containers can't join namespaces [${types.join(' ')}] of another container yet (they belong to another user namespace)`;
}

/** What a joined namespace is to a system container: the host's (refused), another container's (refused for now), fine. */
type Judgement = 'host' | 'other' | 'ok';

function judge(type: LinuxNamespaceType, path: string, facts: NamespaceFacts | undefined, opts: RulesOptions): Judgement {
  if (facts) {
    if (type === 'user') return facts.isHost ? 'host' : 'other';
    return facts.isHost || facts.ownedByHost ? 'host' : 'other';
  }
  // Without facts: what a stat(2) check or the known host paths say.
  const v = verdict(type, path, opts);
  if ((PRIVATE_NAMESPACES as readonly string[]).includes(type)) return v === false ? 'ok' : 'host';
  if (type === 'user') return v === true ? 'host' : 'other';
  return v === true ? 'host' : 'ok';
}

/** Types that may be joined by path, in the order messages list them (network is reported on its own). */
const JOINED_ORDER: readonly LinuxNamespaceType[] = ['pid', 'ipc', 'uts', 'mount', 'cgroup', 'user', 'network'];

/**
 * Refuses specs that share the host's namespaces or join another container's (SysboxSpecError with the exact
 * user-facing message), and adds user and cgroup namespaces. Returns a new spec. A namespace `path` is honoured
 * (passed to the engine) or refused, never replaced.
 *
 * - pid/ipc/uts/mount absent (Docker's `--pid=host` etc.): the host's, refused.
 * - network absent, or at a known host path: refused with its own message.
 * - a path whose namespace is of another type (`inspectNamespace` knows the real type): refused, as the engine
 *   refuses it, but before anything runs.
 * - a joined namespace owned by the host's user namespace (made on the host, e.g. with `unshare`, or a runc
 *   container's), or the host's own: refused with the host-sharing message (sysbox can only isolate namespaces it
 *   creates under the container's own user namespace). A user namespace path: refused too (the host's with the
 *   host-sharing message, any other as another container's).
 * - a joined namespace owned by another user namespace (another system container's, e.g. `--network container:x`):
 *   refused for now (pods that share one user namespace and range will lift exactly this).
 * - without `inspectNamespace` (a pure caller): pid/ipc/uts/mount paths are refused unless `isHostNamespace` says they
 *   are not the host's; network and cgroup paths are allowed unless known to be the host's.
 * - user: `--userns=host` (no entry) is ignored: a fresh user namespace is added.
 * - cgroup: added when absent (Docker on cgroup v1 never lists it, so its absence is not a refusal).
 */
export function applySysboxRules(spec: Spec, opts: RulesOptions = {}): { spec: Spec; changes: string[] } {
  const entries = spec.linux?.namespaces ?? [];
  const facts = new Map<string, NamespaceFacts | undefined>();
  entries.forEach((ns, i) => {
    if (!ns.path || !opts.inspectNamespace) return;
    const f = opts.inspectNamespace(ns.path);
    facts.set(ns.path, f);
    if (f && f.type !== ns.type) {
      throw new SysboxSpecError(
        'namespace-path',
        `linux.namespaces[${i}].path: ${ns.path} is a ${f.type} namespace, not a ${ns.type} namespace`,
      );
    }
  });

  const shared: string[] = [];
  const other: string[] = [];
  let hostNetwork = false;
  for (const type of JOINED_ORDER) {
    const ns = findNamespace(spec, type);
    if (!ns) {
      if ((PRIVATE_NAMESPACES as readonly string[]).includes(type)) shared.push(type);
      if (type === 'network') hostNetwork = true;
      continue;
    }
    if (ns.path === undefined || ns.path === '') continue;
    const j = judge(type, ns.path, facts.get(ns.path), opts);
    if (j === 'host' && type === 'network') hostNetwork = true;
    else if (j === 'host') shared.push(type);
    else if (j === 'other') other.push(type);
  }
  if (shared.length > 0) throw new SysboxSpecError('host-namespace', hostNamespacesMessage(shared));
  if (hostNetwork) throw new SysboxSpecError('host-network', HOST_NETWORK_MESSAGE);
  if (other.length > 0) throw new SysboxSpecError('other-container-namespace', otherContainerNamespacesMessage(other));

  const changes: string[] = [];
  const out = clone(spec);
  const linux = (out.linux ??= {});
  const namespaces: LinuxNamespace[] = (linux.namespaces ??= []);
  if (!namespaces.some((ns) => ns.type === 'user')) {
    namespaces.push({ type: 'user' });
    changes.push('added a user namespace');
  }
  if (!namespaces.some((ns) => ns.type === 'cgroup')) {
    namespaces.push({ type: 'cgroup' });
    changes.push('added a cgroup namespace');
  }
  return { spec: out, changes };
}
