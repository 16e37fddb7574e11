// @sysbox/procfs: the emulated /proc and /sys nodes of a system container, as pure handlers over
// injected host readings (HostEnv). '@sysbox/procfs/host' gives the real HostEnv.
export { ProcfsError, type ProcfsErrno } from './errors.js';
export { FakeHostEnv, type DirEntry, type HostEnv } from './env.js';
export { cgroupDirs, readCgroup, parseCpuList, type CgroupDirs, type CgroupPart, type CgroupReadings } from './cgroup.js';
export { newView, parseStartTicks, visibleCpus, hostCpus, type ContainerView, type NewViewOptions } from './view.js';
export { renderUptime, renderMeminfo, renderCpuinfo, renderStat, renderSwaps, renderLoadavg, renderDiskstats } from './proc.js';
export { KNOBS, knobAt, validateKnob, readKnob, writeKnob, snapshotKnobs, type Knob, type KnobKind } from './sysctl.js';
export { HANDLERS, handlerAt, emulatedHandlers, readPath, writePath, directoriesOf, type Handler } from './table.js';
export { DMI_ID, VIRTUAL_DEVICES, SYNTHETIC_DMI, hostHasDmi, sysCovers, productUuid, uuidV5, type Cover } from './sysfs.js';
