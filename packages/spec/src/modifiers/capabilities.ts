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

export function capabilitiesModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  if (!spec.process) return spec;
  return { ...spec, process: convertProcess(spec.process, ctx, report) };
}
