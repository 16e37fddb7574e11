// What create needs so that every difference from runc is a named system-container rule (README, "Differences from
// runc"): the container's switches (honour-caps, regular-container mode), the ID range config.json asks for, what its
// joined namespaces are, and the device nodes the host lacks. The decisions are @sysbox/spec's; this file does the I/O
// around them, and prepare.ts passes the results on (to sysbox-mgr's Register and through convertSpec's context).
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerOptions, LinuxDevice, NamespaceFacts, RequestedIdRange, Spec } from '@sysbox/spec';
import type { Context } from './context.js';
import { loadNative } from './native.js';

type SpecLib = typeof import('@sysbox/spec');

export const DEFAULT_DEVICES_DIR = '/var/lib/sysbox-runc/devices';

export interface Conformance {
  /** the container's switches: SYSBOX_HONOR_CAPS / SYSBOX_SYSCONT_MODE over the config's honorCaps / syscontMode */
  options: ContainerOptions;
  /** the range of config.json's ID maps, for sysbox-mgr's Register (undefined: mgr allocates one) */
  requestedIdRange: RequestedIdRange | undefined;
  /** for applySysboxRules and convertSpec: what each joined namespace is */
  inspectNamespace: (path: string) => NamespaceFacts | undefined;
}

/**
 * Reads the container's switches and the range its ID maps ask for; both may refuse the spec (SysboxSpecError naming
 * the variable or the field). Called before sysbox-mgr's Register, which gets the range.
 */
export function conformanceOf(ctx: Context, spec: SpecLib, parsed: Spec): Conformance {
  return {
    options: spec.containerOptions(parsed, { honorCaps: ctx.config.honorCaps, syscontMode: ctx.config.syscontMode }),
    requestedIdRange: spec.requestedIdRange(parsed),
    inspectNamespace,
  };
}

const PROC_NS: Record<string, string> = { network: 'net', mount: 'mnt' };

/**
 * What the namespace file at `path` is: its type, whether it is the host's own namespace of that type (this process
 * runs in the host's namespaces), whether the host's user namespace owns it (NS_GET_USERNS; for a user namespace, its
 * parent). Undefined when it can't be told (no such file, not a namespace): the rules then fall back to the stat check.
 */
export function inspectNamespace(path: string): NamespaceFacts | undefined {
  try {
    const info = loadNative().realKernel().namespaceInfo(path);
    const own = (type: string) => statSync(`/proc/self/ns/${PROC_NS[type] ?? type}`, { bigint: true }).ino;
    return { type: info.type, isHost: info.ino === own(info.type), ownedByHost: info.ownerIno === own('user') };
  } catch {
    return undefined;
  }
}

/**
 * sysbox-mgr's refusal of the requested range (outside the subordinate IDs, or overlapping another container's), as
 * the spec refusal it is: one line naming the field. Other errors pass through.
 */
export function registerError(spec: SpecLib, err: unknown, requested: RequestedIdRange | undefined): unknown {
  const code = (err as { code?: string }).code;
  const message = (err as Error)?.message ?? '';
  if (!requested || (code !== 'INVALID_ARGUMENT' && code !== 'ALREADY_EXISTS')) return err;
  const m = /^(uid|gid) range /.exec(message);
  if (!m) return err;
  return new spec.SysboxSpecError('id-mappings', `linux.${m[1]}Mappings: ${message}`);
}

/**
 * The engine's bundle flags for create/run. crun reads the converted config.json from our private bundle (`--config`)
 * while `--bundle` stays the caller's, so the state the engine hands to hooks (and `state` shows) names the caller's
 * bundle, as the runtime spec asks. runc has no such flag: it runs from the private bundle (its hooks see that path).
 */
export function engineBundleFlags(ctx: Context, record: { bundle: string; privateBundle: string }): Record<string, string> {
  if (ctx.engine.name === 'crun') return { bundle: record.bundle, config: join(record.privateBundle, 'config.json') };
  return { bundle: record.privateBundle };
}

// ---- devices the host lacks --------------------------------------------------------------------------------------

const S_IFMT = 0o170000;
const FILE_TYPE: Record<string, number> = { c: 0o020000, u: 0o020000, b: 0o060000, p: 0o010000 };

/** Does the host have `d` at its path, as the same device? (The engine binds the host's node there.) */
function hostHas(d: LinuxDevice): boolean {
  let st;
  try {
    st = lstatSync(d.path);
  } catch {
    return false;
  }
  if ((st.mode & S_IFMT) !== FILE_TYPE[d.type]) return false;
  if (d.type === 'p') return true;
  const major = Math.floor(st.rdev / 256) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  return major === d.major && minor === d.minor;
}

/** The entries of `linux.devices` the host lacks (or has as another device), with their index. */
export function devicesToStage(spec: Spec): Array<{ index: number; device: LinuxDevice }> {
  return (spec.linux?.devices ?? []).flatMap((device, index) => (hostHas(device) ? [] : [{ index, device }]));
}

/** The mount options of the mount holding `path` (the longest mount point above it in mountinfo). */
function mountOptionsOf(path: string): string[] {
  const real = realpathSync(path);
  let best = '';
  let opts: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const at = (f[4] ?? '').replace(/\\040/g, ' ');
    if (!f[5] || !(real === at || real.startsWith(at === '/' ? '/' : `${at}/`))) continue;
    if (at.length >= best.length) {
      best = at;
      opts = f[5].split(',');
    }
  }
  return opts;
}

/**
 * Makes the nodes of `linux.devices` the host lacks in `<devicesDir>/<id>/` (mknod: type, numbers and mode as
 * config.json says; owner and group shifted into the container's range, so that they show as config.json says inside),
 * for stagedDevicesModifier to bind in. Refuses (SysboxSpecError naming the device) what can't be made, before the
 * engine runs. Returns ConvertContext.stagedDevices and the dir to remove once the engine has bound them (the binds keep
 * the nodes), or undefined with nothing to make.
 */
export function stageDevices(
  ctx: Context,
  spec: SpecLib,
  parsed: Spec,
  containerId: string,
  idRange: { uid: number; gid: number; size: number },
): { stagedDevices: Array<{ path: string; source: string }>; dir: string } | undefined {
  const todo = devicesToStage(parsed);
  if (todo.length === 0) return undefined;
  const base = ctx.config.devicesDir ?? DEFAULT_DEVICES_DIR;
  const dir = join(base, containerId);
  const refuse = (index: number, d: LinuxDevice, why: string) =>
    new spec.SysboxSpecError('device', `linux.devices[${index}] (${d.path}): the host has no such device and sysbox-runc can't make it: ${why}`);
  for (const { index, device: d } of todo) {
    for (const [k, v] of [['uid', d.uid], ['gid', d.gid]] as const) {
      if (v !== undefined && v >= idRange.size) throw refuse(index, d, `${k} ${v} is outside the container's ${idRange.size} IDs`);
    }
  }
  try {
    mkdirSync(base, { recursive: true, mode: 0o711 });
    rmSync(dir, { recursive: true, force: true }); // a leftover of a create cut short
    mkdirSync(dir, { mode: 0o711 }); // the engine reaches the nodes from inside the user namespace
  } catch (e) {
    throw refuse(todo[0]!.index, todo[0]!.device, `${base}: ${(e as Error).message}`);
  }
  if (mountOptionsOf(dir).includes('nodev')) {
    rmSync(dir, { recursive: true, force: true });
    throw refuse(todo[0]!.index, todo[0]!.device, `${base} is on a nodev mount (set "devicesDir" in /etc/sysbox/config.json)`);
  }
  const kernel = loadNative().realKernel();
  const stagedDevices: Array<{ path: string; source: string }> = [];
  for (const { index, device: d } of todo) {
    const source = join(dir, String(index));
    const mode = (d.fileMode ?? 0o666) & 0o7777;
    try {
      kernel.mknod(source, FILE_TYPE[d.type]! | mode, d.major ?? 0, d.minor ?? 0);
      chmodSync(source, mode); // mknod's mode is masked by the umask
      chownSync(source, idRange.uid + (d.uid ?? 0), idRange.gid + (d.gid ?? 0));
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw refuse(index, d, (e as Error).message);
    }
    stagedDevices.push({ path: d.path, source });
  }
  return { stagedDevices, dir };
}

/** Removes staged device nodes (after the engine's create bound them, or when the create is undone). Never throws. */
export function removeStagedDevices(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}
