// @sysbox/fuse: FUSE servers behind one small interface (fuse.ts: FuseOps in, a FuseMount out):
//   devFuseBackend   the kernel's FUSE protocol spoken over /dev/fuse (no libfuse), kernel access through
//                    @sysbox/native's Kernel; a connection's fd can be kept elsewhere and adopted by a new process
//   fuseNativeBackend  fuse-native (libfuse 2.9), the fallback; prepareLibfuse makes its library loadable
export * from './fuse.js';
export * from './devfuse.js';
