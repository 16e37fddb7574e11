// @sysbox/mount-policy: pure decisions over a spec's bind mounts (restricted host paths, ID-mapping,
// special dirs). Nothing here does I/O: callers resolve sources (realpath) and read the admin file.
export * from './policy.js';
export * from './mounts.js';
export { RestrictedMountError, BadMountError, PolicyFileError, restrictedMountMessage, containsRestrictedMessage } from './errors.js';

/** Default location of the admin file. */
export const DEFAULT_POLICY_FILE = '/etc/sysbox/mount-policy.json';
