// /sys emulation: a per-container DMI product_uuid, and "covers" — FUSE directories placed whole over a
// container directory of sysfs (which can't get new entries) to add emulated entries to it, while the
// container's own entries come back through placeholders that the real (cloned) sysfs dirs are mounted over.
import { createHash } from 'node:crypto';
import type { DirEntry, HostEnv } from './env.js';
import type { ContainerView } from './view.js';

export const DMI_ID = '/sys/devices/virtual/dmi/id';
/** The directory covered on hosts without DMI: dmi/ is added to it, its other entries stay the container's. */
export const VIRTUAL_DEVICES = '/sys/devices/virtual';

/** A directory of the FUSE tree to place whole over the container's directory at the same path. */
export interface Cover {
  /** container path, e.g. /sys/devices/virtual */
  readonly dir: string;
  /**
   * The container's own entries of that directory when it was registered: the tree serves a placeholder
   * for each (an empty dir or file), and sysbox-runc mounts the container's real entry back over it.
   */
  readonly own: readonly DirEntry[];
}

/** Does the host have DMI (a readable product_uuid)? Then only product_uuid is emulated, as a file. */
export function hostHasDmi(env: HostEnv): boolean {
  return env.read(`${DMI_ID}/product_uuid`) !== undefined;
}

/**
 * The covers a container needs, read at registration from its own sysfs (`/proc/<initPid>/root/sys/...`,
 * before anything is placed there). `root`: the container's root as the init sees it when it registers
 * before the engine's pivot_root (an OCI hook), e.g. /var/lib/sysbox/rootfs/<id>/merged; default "/".
 * None where the host has DMI. Throws nothing: a directory that can't be listed gets no cover (the container
 * then has no product_uuid, as on the host).
 */
export function sysCovers(env: HostEnv, initPid: number, root = '/'): Cover[] {
  if (hostHasDmi(env) || !env.list) return [];
  const under = root.replace(/\/+$/, '');
  const own = env.list(`/proc/${initPid}/root${under}${VIRTUAL_DEVICES}`);
  if (!own) return [];
  return [{ dir: VIRTUAL_DEVICES, own: own.filter((e) => e.name !== 'dmi' && (e.type === 'dir' || e.type === 'file')) }];
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
