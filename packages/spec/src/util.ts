import type { Linux, LinuxNamespace, LinuxNamespaceType, Spec } from './types.js';

/** Deep copy of a JSON value (specs are plain JSON; modifiers never mutate their input). */
export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** The spec's `linux` section (created empty on a copy when absent). */
export function linuxOf(spec: Spec): Linux {
  return spec.linux ?? {};
}

export function findNamespace(spec: Spec, type: LinuxNamespaceType): LinuxNamespace | undefined {
  return spec.linux?.namespaces?.find((ns) => ns.type === type);
}

/** Adds a fresh (path-less) namespace of `type` if none is listed. Returns a new spec. */
export function withNamespace(spec: Spec, type: LinuxNamespaceType): Spec {
  if (findNamespace(spec, type)) return spec;
  const linux = linuxOf(spec);
  return { ...spec, linux: { ...linux, namespaces: [...(linux.namespaces ?? []), { type }] } };
}

export function uniq(xs: Iterable<string>): string[] {
  return [...new Set(xs)];
}

/**
 * Heuristic for Docker's `--privileged`: the device cgroup allows every device (Docker writes a single
 * `{allow: true, access: "rwm"}` rule; containerd's `--privileged` does the same). Non-privileged
 * Docker and containerd specs always start with a deny-all rule.
 */
export function isPrivileged(spec: Spec): boolean {
  const rules = spec.linux?.resources?.devices ?? [];
  return rules.some(
    (r) =>
      r.allow === true &&
      (r.type === undefined || r.type === 'a') &&
      (r.major === undefined || r.major === null || r.major === -1) &&
      (r.minor === undefined || r.minor === null || r.minor === -1) &&
      (r.access === undefined || r.access === '' || r.access.includes('r') && r.access.includes('w')),
  );
}

/** Whether path `p` is `dir` or below it (a trailing slash of `dir` ignored). */
export function isUnder(p: string, dir: string): boolean {
  const d = dir.replace(/\/+$/, '');
  return p === d || p.startsWith(`${d}/`);
}

/** Whether path `p` is strictly below one of `dirs`. */
export function isBelowAny(p: string, dirs: readonly string[]): boolean {
  return dirs.some((d) => isUnder(p, d) && p !== d.replace(/\/+$/, ''));
}
