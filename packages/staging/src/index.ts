// @sysbox/staging: what sysbox-mgr stages on the host so that a system container's root (an unprivileged range)
// sees its files as its own, without any file being chown'ed:
//   stageRootfs / unstageRootfs / gcStaging   an ID-mapped view of the rootfs (an overlay on ID-mapped layers)
//   stageMounts / unstageMounts / gcMounts    ID-mapped views of bind sources and special dirs; read-only clones of
//                                             the read-only binds that are not ID-mapped (so the kernel locks them)
// Everything outside goes through StagingEnv: the kernel (@sysbox/native's Kernel) and the file system (StagingFs).
export { nodeFs, type FileStat, type StagingEnv, type StagingFs } from './env.js';
export {
  stageRootfs,
  unstageRootfs,
  gcStaging,
  mkdirTraversable,
  WORKDIR_NAME,
  DEFAULT_DATA_DIR,
  type StageRootfsOptions,
  type StagedRootfs,
  type StagingMethod,
  type StagingLog,
} from './rootfs.js';
export * from './mounts.js';
export { StagingError, parseMountinfo, readMountinfo, overlayLayers, splitLowerdir, parseSuperOptions, mountsUnder, mountAt, unmountAll } from './mountinfo.js';
export type { MountinfoEntry, OverlayLayers } from './mountinfo.js';
export { shiftTree } from './shift.js';
