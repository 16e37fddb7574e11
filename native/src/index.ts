export type {
  Kernel,
  IdMapping,
  Statx,
  StatxTimestamp,
  MountSetattrAttr,
  SeccompNotification,
  SeccompResponse,
  SeccompAddFd,
  SeccompNotify,
  Watcher,
  IdmappedBindOptions,
  ResolvedStat,
  BindCloneOptions,
  OverlayInUsernsOptions,
  NamespaceInfo,
  NamespaceType,
  VetLookup,
  VetTable,
  VetTableCall,
  VetTableRule,
  Vetter,
  VetterStats,
} from './kernel.js';
export { KernelError, isKernelError, errnoName, errnoNumber, escapeOverlayLayer } from './kernel.js';
export * from './constants.js';
export { realKernel, addonPath } from './real.js';
export { FakeKernel } from './fake.js';
export type { FakeMount, FakeFd, FakeCall } from './fake.js';
export {
  nsenterPath,
  runNsenter,
  nsenterMoveMount,
  nsenterMoveMounts,
  nsenterSysctlRead,
  nsenterSysctlWrite,
  nsenterNetExec,
  NsenterError,
  nsenterAsCaller,
  NotFuseError,
} from './nsenter.js';
export type { NsenterRunOptions, AsCallerOptions, CallerPath } from './nsenter.js';
