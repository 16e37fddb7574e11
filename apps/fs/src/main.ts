// sysbox-fs: its flags and its start (./daemon.ts) in the daemon kit's main; the service is in service.ts.
import { dirname, join } from 'node:path';
import { runDaemon } from '@sysbox/daemon-kit';
import { startDaemon } from './daemon.js';
import { parseFlags, USAGE, type FsFlags } from './flags.js';
import { prepareLibfuse } from '@sysbox/fuse';

const LIB_ENV = 'SYSBOX_FS_LIBFUSE_DIR';

/**
 * fuse-native's prebuilt addon links libfuse.so.2 (bundled, but named libfuse.so, and without an rpath).
 * The loader reads LD_LIBRARY_PATH only at exec: point it at a dir with a libfuse.so.2 link and re-exec.
 */
function ensureLibfuse(flags: FsFlags): void {
  if (flags.fuse !== 'fuse-native' || process.env[LIB_ENV]) return;
  let dir: string;
  try {
    dir = prepareLibfuse(join(dirname(flags.pidFile), 'fs-lib'));
  } catch (err) {
    process.stderr.write(`sysbox-fs: cannot prepare libfuse for fuse-native: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const ld = process.env['LD_LIBRARY_PATH'];
  process.execve!(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    ...process.env,
    [LIB_ENV]: dir,
    LD_LIBRARY_PATH: ld ? `${dir}:${ld}` : dir,
  });
}

await runDaemon({ name: 'sysbox-fs', usage: USAGE, parse: parseFlags, prepare: ensureLibfuse, start: (flags, log) => startDaemon(flags, { log }) });
