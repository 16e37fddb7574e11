// /sys emulation: a per-container DMI product_uuid (and the /sys/class/dmi/id link to it), the CPUs the
// container sees in /sys/devices/system/cpu, and "covers" — FUSE directories placed over a container directory of
// sysfs (which can't get new entries) to add or hide entries. A cover that only adds is the upper layer of a
// read-only overlay whose lower layer is the container's own directory (one mount); one that hides (the CPUs) is
// placed whole, and the container's own entries come back through placeholders that the real (cloned) sysfs dirs
// are mounted over (one mount per entry).
import { createHash } from 'node:crypto';
import type { DirEntry, HostEnv } from './env.js';
import { readings, visibleCpus, type ContainerView } from './view.js';

export const DMI_ID = '/sys/devices/virtual/dmi/id';
/** The directory covered on hosts without DMI: dmi/ is added to it, its other entries stay the container's. */
export const VIRTUAL_DEVICES = '/sys/devices/virtual';
/** Covered on hosts without DMI: dmi/id is added to it, the usual link to the emulated DMI_ID. */
export const CLASS_DIR = '/sys/class';
/** Always covered: its per-CPU dirs are listed only for the CPUs the container sees; `online` is emulated. */
export const CPU_DIR = '/sys/devices/system/cpu';
export const CPU_ONLINE = `${CPU_DIR}/online`;
/**
 * Always covered: config, debug, tracing and security are served as empty directories owned by the container's
 * root (the kernel shows debugfs, tracefs and securityfs mountpoints owned by nobody inside a user namespace, and
 * config only where configfs is loaded); every other entry is the container's own sysfs entry, mounted back.
 */
export const KERNEL_DIR = '/sys/kernel';
/** The emulated empty directories (container paths), inside the KERNEL_DIR cover. */
export const EMPTY_DIRS: readonly string[] = Object.freeze(['config', 'debug', 'security', 'tracing'].map((n) => `${KERNEL_DIR}/${n}`));

/** A symbolic link of the FUSE tree (inside a cover). */
export interface Link {
  /** container path, e.g. /sys/class/dmi/id */
  readonly path: string;
  readonly target: string;
  /** served only where the host has no DMI */
  readonly noHostDmi?: boolean;
}

/** Every link, independent of the host. */
export const LINKS: readonly Link[] = Object.freeze([{ path: `${CLASS_DIR}/dmi/id`, target: '../../devices/virtual/dmi/id', noHostDmi: true }]);

/** The links to serve on this host. */
export function emulatedLinks(env: HostEnv): Link[] {
  const dmi = hostHasDmi(env);
  return LINKS.filter((l) => !l.noHostDmi || !dmi);
}

/** A directory of the FUSE tree to place whole over the container's directory at the same path. */
export interface Cover {
  /** container path, e.g. /sys/devices/virtual */
  readonly dir: string;
  /**
   * The container's own entries of that directory when it was registered: the tree serves a placeholder
   * for each (an empty dir or file), and sysbox-runc mounts the container's real entry back over it.
   * None for an overlay cover.
   */
  readonly own: readonly DirEntry[];
  /**
   * The cover only adds entries: it is placed as the upper layer of a read-only overlay over the container's own
   * directory (sysbox-nsenter's --overlay), and the tree serves no placeholders in it.
   */
  readonly overlay?: boolean;
}

/** Does the host have DMI (a readable product_uuid)? Then only product_uuid is emulated, as a file. */
export function hostHasDmi(env: HostEnv): boolean {
  return env.read(`${DMI_ID}/product_uuid`) !== undefined;
}

/**
 * The covers a container needs, read at registration from its own sysfs (`/proc/<initPid>/root/sys/...`,
 * before anything is placed there). `root`: the container's root as the init sees it when it registers
 * before the engine's pivot_root (an OCI hook), e.g. /var/lib/sysbox/rootfs/<id>/merged; default "/".
 * - /sys/devices/system/cpu, always: its cpuN dirs are listed only for the CPUs the container sees (coverHidden),
 *   placed whole with placeholders;
 * - /sys/kernel, always: for its EMPTY_DIRS (an overlay cover);
 * - where the host has no DMI, /sys/devices/virtual (dmi/ is added) and /sys/class (dmi/id is added, a link), overlay
 *   covers where the container's /sys is read-only (sysReadOnly), else with placeholders.
 * Throws nothing: a directory that can't be listed gets no cover (for DMI: the container then has no
 * product_uuid, as on the host).
 */
export function sysCovers(env: HostEnv, initPid: number, root = '/'): Cover[] {
  if (!env.list) return [];
  const under = root.replace(/\/+$/, '');
  const list = (dir: string) => env.list!(`/proc/${initPid}/root${under}${dir}`);
  // symlinks and other entries can't be cloned back over a placeholder (sysbox-nsenter reports them hidden)
  const own = (entries: readonly DirEntry[], skip?: string) => entries.filter((e) => e.name !== skip && (e.type === 'dir' || e.type === 'file'));
  const out: Cover[] = [];
  if (!hostHasDmi(env)) {
    // overlays (read-only) only over a read-only /sys: with a read-write one (--privileged), the container's own
    // entries (its network devices' attributes) stay writable, moved back over placeholders
    const overlay = sysReadOnly(env, initPid, under);
    const cover = (dir: string, entries: readonly DirEntry[], skip?: string): Cover => (overlay ? { dir, own: [], overlay } : { dir, own: own(entries, skip) });
    const virtual = list(VIRTUAL_DEVICES);
    if (virtual) out.push(cover(VIRTUAL_DEVICES, virtual, 'dmi'));
    const cls = list(CLASS_DIR);
    if (cls && !cls.some((e) => e.name === 'dmi')) out.push(cover(CLASS_DIR, cls));
  }
  const cpu = list(CPU_DIR);
  if (cpu) out.push({ dir: CPU_DIR, own: own(cpu) });
  if (list(KERNEL_DIR)) out.push({ dir: KERNEL_DIR, own: [], overlay: true });
  return out;
}

/**
 * Whether the container's /sys (the last sysfs mounted at `<root>/sys` in its init's mount table) is mounted read-only,
 * as Docker mounts it unless `--privileged`. Unknown (unreadable, not found): false.
 */
export function sysReadOnly(env: HostEnv, initPid: number, root = '/'): boolean {
  const at = `${root.replace(/\/+$/, '')}/sys`;
  let ro = false;
  for (const line of env.read(`/proc/${initPid}/mountinfo`)?.split('\n') ?? []) {
    const sep = line.indexOf(' - ');
    if (sep < 0 || line.slice(sep + 3).split(' ')[0] !== 'sysfs') continue;
    const f = line.slice(0, sep).split(' ');
    if (f[4] === at) ro = (f[5] ?? '').split(',').includes('ro');
  }
  return ro;
}

/** cpuN entries of /sys/devices/system/cpu */
const CPU_ENTRY = /^cpu(\d+)$/;

/**
 * Entries of a cover that its listing leaves out now. /sys/devices/system/cpu: the cpuN dirs of CPUs the
 * container doesn't see (its cpuset, cut to its CFS quota, as /proc/cpuinfo), as lxcfs does; they stay
 * reachable by path (tools that walk 0..possible read cpuN/topology by name). Other covers: none.
 */
export function coverHidden(env: HostEnv, v: ContainerView, dir: string): Set<string> {
  const hidden = new Set<string>();
  if (dir !== CPU_DIR) return hidden;
  const visible = new Set(visibleCpus(env, readings(env, v, ['cpu'])));
  for (const c of v.covers) {
    if (c.dir !== dir) continue;
    for (const e of c.own) {
      const m = CPU_ENTRY.exec(e.name);
      if (m && !visible.has(Number(m[1]))) hidden.add(e.name);
    }
  }
  return hidden;
}

/** A CPU list as the kernel prints it ("0-2,4"). */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(j === i ? String(cpus[i]) : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * /sys/devices/system/cpu/online: the CPUs the container sees (host numbering, as its affinity mask and the
 * cpuN dirs): glibc sizes sysconf(_SC_NPROCESSORS_ONLN) — getconf, nproc in some builds, thread pools — from it.
 * `possible` and `present` stay the host's, as with lxcfs: `possible` sizes per-CPU kernel data (BPF per-CPU maps,
 * libbpf reads it to size their values), and both describe the hardware, not what the container may use.
 */
export function renderCpuOnline(env: HostEnv, v: ContainerView): string {
  return `${formatCpuList(visibleCpus(env, readings(env, v, ['cpu'])))}\n`;
}

const SYSBOX_NS = '6f1c2d7e-3b0a-5c4e-9a61-7d2f0b8e4c13';

function uuidBytes(s: string): Buffer | undefined {
  const hex = s.trim().toLowerCase().replace(/-/g, '');
  return /^[0-9a-f]{32}$/.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}

/** An RFC 4122 version 5 UUID (SHA-1 of namespace + name). */
export function uuidV5(namespace: string, name: string): string {
  const ns = uuidBytes(namespace);
  if (!ns) throw new RangeError(`uuidV5: namespace ${JSON.stringify(namespace)} is not a UUID`);
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * The container's product_uuid: a UUID v5 of its id, in the namespace of the host's own product_uuid where
 * the host has DMI, else of the host's /etc/machine-id, else a fixed sysbox namespace. Stable across reads,
 * restarts of sysbox-fs and of the container (same id); different for every container id; never the host's.
 */
export function productUuid(env: HostEnv, v: Pick<ContainerView, 'containerId'>): string {
  const host = env.read(`${DMI_ID}/product_uuid`);
  const machine = env.read('/etc/machine-id');
  const ns = [host, machine].find((s) => s !== undefined && uuidBytes(s) !== undefined) ?? SYSBOX_NS;
  return `${uuidV5(ns.trim(), v.containerId)}\n`;
}

/** Values of the synthetic dmi/id files served where the host has no DMI (besides product_uuid). */
export const SYNTHETIC_DMI: Readonly<Record<string, string>> = Object.freeze({
  product_name: 'sysbox-ts\n',
  sys_vendor: 'sysbox-ts\n',
});
