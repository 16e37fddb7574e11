import { DOCKER_DEFAULT_CAPS } from '../caps.js';
import type { LinuxCapabilities, Process, Spec } from '../types.js';
import { type ConvertContext, type Report, noReport } from './context.js';

/**
 * Docker's defaults a resolved list must keep to be read as "Docker's defaults minus some `--cap-drop`s" (half of
 * the 14); a list that keeps fewer is read as `--cap-drop ALL --cap-add <the list>`. See readDockerCaps.
 */
export const DROP_READING_MIN_DEFAULTS = Math.ceil(DOCKER_DEFAULT_CAPS.length / 2);

/**
 * How the system-container rule reads the capability list Docker (or another caller) resolved from its flags. Docker
 * hands over only the resolved list L (the bounding set, else permitted, else effective), never the flags, so:
 * - no capabilities section: every capability the host has (a section whose sets are all absent or null, as Docker
 *   writes `--cap-drop ALL`, is an empty list);
 * - L keeps at least DROP_READING_MIN_DEFAULTS (7) of Docker's 14 defaults: the defaults L lacks were dropped with
 *   `--cap-drop`, and everything else is granted → every host capability except those. This covers no flags
 *   (all 14: everything), `--cap-add X` (everything), `--cap-drop X` (all but X), `--cap-drop X --cap-add Y`;
 * - L keeps fewer than 7 of them (none, for `--cap-drop ALL`): L is an exact set (`--cap-drop ALL --cap-add ...`) →
 *   exactly L, for any X in `--cap-drop ALL --cap-add X`; `--cap-drop ALL` alone → none.
 * The ambiguous lists: `--cap-drop ALL --cap-add` with 7 or more of Docker's defaults reads as drops of the others
 * (granting more than listed), and `--cap-drop` of 8 or more defaults reads as the exact list that is left.
 * Never a capability outside `hostCapabilities` (runc refuses those: "unable to apply caps").
 */
export function readDockerCaps(
  caps: LinuxCapabilities | undefined,
  hostCapabilities: readonly string[],
): { granted: string[]; dropped: string[]; exact: boolean } {
  const host = [...new Set(hostCapabilities)];
  if (!caps) return { granted: host, dropped: [], exact: false };
  // (Docker writes `--cap-drop ALL` as null sets: Go's nil slices)
  const have = new Set(caps.bounding ?? caps.permitted ?? caps.effective ?? []);
  const missing = DOCKER_DEFAULT_CAPS.filter((c) => !have.has(c));
  if (DOCKER_DEFAULT_CAPS.length - missing.length >= DROP_READING_MIN_DEFAULTS) {
    const drop = new Set(missing);
    return { granted: host.filter((c) => !drop.has(c)), dropped: missing, exact: false };
  }
  return { granted: host.filter((c) => have.has(c)), dropped: host.filter((c) => !have.has(c)), exact: true };
}

/**
 * The capabilities of a system-container process (without honour-caps; with it the spec's sets are kept as they are,
 * see convertProcess).
 *
 * - root (uid 0): bounding = effective = permitted = what readDockerCaps grants (the kernel confines them to the
 *   container's user namespace); inheritable = ambient = [] (as Docker >= 20.10.14 does).
 * - any other uid: bounding = the same, effective/permitted/inheritable/ambient = [] (Docker's behaviour for
 *   non-root users).
 */
export function convertCapabilities(
  caps: LinuxCapabilities | undefined,
  uid: number,
  hostCapabilities: readonly string[],
): { capabilities: LinuxCapabilities; dropped: string[]; exact: boolean } {
  const { granted, dropped, exact } = readDockerCaps(caps, hostCapabilities);
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
    exact,
  };
}

/** The capability rules applied to one process (the container's init, or an `exec` process.json). */
export function convertProcess(process: Process, ctx: ConvertContext, report: Report = noReport): Process {
  const uid = process.user?.uid ?? 0;
  if (ctx.honorCaps) {
    report(`uid ${uid}: capabilities as config.json gives them (honour-caps)`);
    return process;
  }
  const { capabilities, dropped, exact } = convertCapabilities(process.capabilities, uid, ctx.hostCapabilities);
  const what = exact ? `exactly the ${capabilities.bounding!.length} listed` : `${capabilities.bounding!.length} host capabilities`;
  report(
    `uid ${uid}: ${uid === 0 ? 'effective and ' : ''}bounding = ${what}` +
      (dropped.length > 0 && !exact ? `, dropped by the user: ${dropped.join(' ')}` : ''),
  );
  return { ...process, capabilities };
}

/**
 * The record behind sysbox-runc's `exec` fast path (the front door, native/csrc/sysbox-runc.c), written at create beside
 * the container's state: the bounding set the container was created with (sorted, comma-joined), then the
 * capabilities object of an exec'd root process and of any other uid, both for that bounding set. The fast
 * path splices one of them into an exec process spec whose bounding set is the same (Docker gives `docker
 * exec` the container's set) and leaves any other spec to convertProcess. With honour-caps the record says `as-is`
 * (every exec's spec is kept as it is: convertProcess); undefined without a bounding set.
 */
export function execCapsRecord(init: Process | undefined, hostCapabilities: readonly string[], honorCaps = false): string | undefined {
  if (honorCaps) return 'sysbox-exec-caps 1\nas-is\n';
  const bounding = init?.capabilities?.bounding;
  if (!bounding) return undefined;
  const as = (uid: number) => JSON.stringify(convertCapabilities(init.capabilities, uid, hostCapabilities).capabilities);
  return `sysbox-exec-caps 1\n${[...bounding].sort().join(',')}\n${as(0)}\n${as(1)}\n`;
}

export function capabilitiesModifier(spec: Spec, ctx: ConvertContext, report: Report = noReport): Spec {
  if (!spec.process) return spec;
  return { ...spec, process: convertProcess(spec.process, ctx, report) };
}
