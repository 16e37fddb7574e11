import type { MountDecision } from './policy.js';

/**
 * A bind mount of a restricted host path. The message is the one the user sees after Docker's
 * `OCI runtime create failed: ` (DESIGN.md contract table), so it is fixed text; it has the same
 * `error in the container spec: ` prefix as @sysbox/spec's SysboxSpecError.
 */
export class RestrictedMountError extends Error {
  override readonly name = 'RestrictedMountError';
  readonly code = 'restricted-mount';
  readonly path: string;
  readonly decision: MountDecision | undefined;

  constructor(path: string, decision?: MountDecision) {
    super(decision?.contains ? containsRestrictedMessage(path, decision.contains) : restrictedMountMessage(path));
    this.path = path;
    this.decision = decision;
  }
}

export function restrictedMountMessage(path: string): string {
  return `error in the container spec: can't mount ${path} because it's configured as a restricted host mount`;
}

/** A source that contains a restricted path (e.g. `/`): it would expose that path below the mount point. */
export function containsRestrictedMessage(path: string, restricted: string): string {
  return `error in the container spec: can't mount ${path} because it contains ${restricted}, which is configured as a restricted host mount`;
}

/** A bind mount the runtime can't set up as written (relative source, missing source, bad target). */
export class BadMountError extends Error {
  override readonly name = 'BadMountError';
  constructor(message: string) {
    super(`error in the container spec: ${message}`);
  }
}

/** The admin policy file is malformed. */
export class PolicyFileError extends Error {
  override readonly name = 'PolicyFileError';
}
