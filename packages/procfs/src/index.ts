// @sysbox/procfs: the emulated /proc and /sys nodes of a system container, as pure handlers over
// injected host readings (HostEnv). '@sysbox/procfs/host' gives the real HostEnv.
export { ProcfsError, type ProcfsErrno } from './errors.js';
export { FakeHostEnv, type DirEntry, type HostEnv } from './env.js';
export { cgroupDirs, readCgroup, parseCpuList, type CgroupDirs, type CgroupPart, type CgroupReadings } from './cgroup.js';
export { newView, parseStartTicks, visibleCpus, hostCpus, type ContainerView, type NewViewOptions } from './view.js';
export { renderUptime, renderMeminfo, renderCpuinfo, renderStat, renderSwaps, renderDiskstats } from './proc.js';
export {
  FSHIFT,
  FIXED_1,
  LOAD_EXP,
  LOAD_FREQ_MS,
  MAX_SAMPLED_THREADS,
  calcLoad,
  foldLoad,
  formatLoad,
  newLoadState,
  cgroupThreads,
  taskState,
  innermostPid,
  sampleTasks,
  sampleLoad,
  renderLoadavg,
  type LoadState,
  type TaskSample,
} from './loadavg.js';
export { KNOBS, knobAt, validateKnob, readKnob, writeKnob, snapshotKnobs, type Knob, type KnobKind } from './sysctl.js';
export { HANDLERS, TICK_MS, SETTLE_MS, handlerAt, emulatedHandlers, readPath, writePath, directoriesOf, type Handler } from './table.js';
export {
  DMI_ID,
  VIRTUAL_DEVICES,
  CLASS_DIR,
  CPU_DIR,
  KERNEL_DIR,
  EMPTY_DIRS,
  CPU_ONLINE,
  LINKS,
  SYNTHETIC_DMI,
  hostHasDmi,
  sysCovers,
  sysReadOnly,
  coverHidden,
  emulatedLinks,
  formatCpuList,
  renderCpuOnline,
  productUuid,
  uuidV5,
  type Cover,
  type Link,
} from './sysfs.js';
