// @sysbox/syscall-vetting: decisions for the syscalls a system container's seccomp filter hands to sysbox-fs.
export * from './arch.js';
export * from './constants.js';
export * from './decision.js';
export * from './decode.js';
export * from './fast.js';
export * from './memory.js';
export * from './mounts.js';
export * from './paths.js';
export * from './vetter.js';
export * from './fake.js';
