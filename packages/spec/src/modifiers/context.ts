import type { IdRange } from '@sysbox/idmap';
import type { HostNamespaceCheck, NamespaceInspector } from '../rules.js';
import type { Spec } from '../types.js';

/** What the runtime knows about the container and host when converting a spec. */
export interface ConvertContext {
  /** The container's exclusive ID range from sysbox-mgr: maps `0 <uid> <size>` and `0 <gid> <size>`. */
  idRange: IdRange;
  /** Capabilities the runtime process holds in its bounding set (`capsFromMask(CapBnd)`). Never exceeded. */
  hostCapabilities: string[];
  /** Staged root file system to run from (sets `root.path`). */
  rootfs?: string;
  /** Device paths kept under `--privileged` besides the default set (e.g. what `--device` asked for). */
  allowDevices?: string[];
  /** Paths sysbox-fs emulates (e.g. `/proc/sys`): removed from maskedPaths and readonlyPaths. */
  emulatedPaths?: string[];
  /**
   * Syscalls to hand to a seccomp-notify supervisor listening on `listenerPath`; `vetting` (sysbox-fs's mount vetting,
   * see vettingNotify) adds the kernel-side refusals that keep it whole.
   */
  seccompNotify?: { listenerPath: string; syscalls: string[]; listenerMetadata?: string; vetting?: boolean };
  /**
   * The engine copies the host's mount namespace into the container's user namespace, so the read-only flag of a
   * bind sysbox-mgr staged on the host arrives locked (runc; crun clones its binds before it joins the user namespace,
   * unlocked): with vetting, bind remounts are then left to the kernel (see seccompModifier's unlockedReadOnly).
   */
  bindsLocked?: boolean;
  /** Architectures of a profile built from scratch (default: x86-64, x86, x32). */
  seccompArchitectures?: string[];
  /** Bind sources staged ID-mapped by sysbox-mgr, by index in the spec's mounts (see mountsModifier). */
  stagedMounts?: Array<{ index: number; source: string }>;
  /** Special dirs (e.g. /var/lib/docker) backed by staged host dirs, added as bind mounts. */
  specialDirs?: Array<{ destination: string; source: string }>;
  /** sysbox-runc's hook binary and the socket its create listens on (see hooksModifier). */
  attachHooks?: { path: string; socket: string };
  /** Stat-based host-namespace check, passed on to applySysboxRules. */
  isHostNamespace?: HostNamespaceCheck;
  /** What each joined namespace is (type, owner), passed on to applySysboxRules. */
  inspectNamespace?: NamespaceInspector;
  /**
   * Honour the spec's capabilities (the runtime's default; convertSpec resolves it per container with the spec's
   * `SYSBOX_HONOR_CAPS`, see containerOptions, before the modifiers see it).
   */
  honorCaps?: boolean;
  /** A system container (true, the default) or a regular one (false); resolved like honorCaps (`SYSBOX_SYSCONT_MODE`). */
  syscontMode?: boolean;
  /**
   * Device nodes of `linux.devices` the host lacks, made by the runtime on the host (`source`, with the entry's type,
   * numbers, mode and owner as seen through the container's ID range), by device path: see stagedDevicesModifier.
   */
  stagedDevices?: Array<{ path: string; source: string }>;
}

/** Records one human-readable change (e.g. for the runtime's debug log). */
export type Report = (change: string) => void;

/** One concern of the conversion: a pure function from spec to a new spec. */
export type Modifier = (spec: Spec, ctx: ConvertContext, report?: Report) => Spec;

export const noReport: Report = () => {};
