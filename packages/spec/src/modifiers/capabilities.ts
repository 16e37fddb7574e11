import { DOCKER_DEFAULT_CAPS } from '../caps.js';
import type { LinuxCapabilities, Process, Spec } from '../types.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/**
 * The capabilities of a system-container process.
 *
 * - root (uid 0): bounding = effective = permitted = the host's bounding set (the kernel confines them
 *   to the container's user namespace); inheritable = ambient = [] (as Docker ≥ 20.10.14 does).
 * - any other uid: bounding = the host's set, effective/permitted/inheritable/ambient = [] (Docker's
 *   behaviour for non-root users).
 * - `--cap-drop X` is honoured: Docker omits X from the spec, so a Docker default capability missing
 *   from the incoming bounding set was dropped by the user and stays dropped.
 * - `--cap-drop ALL` (no Docker default left at all): the user asked for an exact set, which is kept
 *   as given (e.g. `--cap-drop ALL --cap-add NET_ADMIN` → just CAP_NET_ADMIN), within the host's set.
 * - Never a capability outside `hostCapabilities` (runc refuses those: "unable to apply caps").
 */
export function convertCapabilities(
  caps: LinuxCapabilities | undefined,
  uid: number,
  hostCapabilities: readonly string[],
): { capabilities: LinuxCapabilities; dropped: string[] } {
  const host = [...new Set(hostCapabilities)];
  const incoming = caps?.bounding ?? caps?.permitted ?? caps?.effective;
  let granted = host;
  let dropped: string[] = [];
  if (incoming) {
    const have = new Set(incoming);
    dropped = DOCKER_DEFAULT_CAPS.filter((c) => !have.has(c));
    if (dropped.length === DOCKER_DEFAULT_CAPS.length) {
      granted = host.filter((c) => have.has(c));
      dropped = host.filter((c) => !have.has(c));
    } else {
      const drop = new Set(dropped);
      granted = host.filter((c) => !drop.has(c));
    }
  }
  const root = uid === 0;
  return {
    capabilities: {
      bounding: [...granted],
      effective: root ? [...granted] : [],
      permitted: root ? [...granted] : [],
      inheritable: [],
      ambient: [],
    },
    dropped,
  };
}

/** The capability rules applied to one process (the container's init, or an `exec` process.json). */
export function convertProcess(process: Process, ctx: ConvertContext, report: Report = noReport): Process {
  const uid = process.user?.uid ?? 0;
  const { capabilities, dropped } = convertCapabilities(process.capabilities, uid, ctx.hostCapabilities);
  report(
    `uid ${uid}: ${uid === 0 ? 'effective and ' : ''}bounding = ${capabilities.bounding!.length} host capabilities` +
      (dropped.length > 0 ? `, dropped by the user: ${dropped.join(' ')}` : ''),
  );
  return { ...process, capabilities };
}

/**
 * The record behind sysbox-runc's `exec` fast path (the front door, native/csrc/sysbox-runc.c), written at create beside
 * the container's state: the bounding set the container was created with (sorted, comma-joined), then the
 * capabilities object of an exec'd root process and of any other uid, both for that bounding set. The fast
 * path splices one of them into an exec process spec whose bounding set is the same (Docker gives `docker
 * exec` the container's set) and leaves any other spec to convertProcess. Undefined without a bounding set.
 */
export function execCapsRecord(init: Process | undefined, hostCapabilities: readonly string[]): string | undefined {
  const bounding = init?.capabilities?.bounding;
  if (!bounding) return undefined;
  const as = (uid: number) => JSON.stringify(convertCapabilities(init.capabilities, uid, hostCapabilities).capabilities);
  return `sysbox-exec-caps 1\n${[...bounding].sort().join(',')}\n${as(0)}\n${as(1)}\n`;
}

export function capabilitiesModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  if (!spec.process) return spec;
  return { ...spec, process: convertProcess(spec.process, ctx, report) };
}
