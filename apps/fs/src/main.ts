// sysbox-fs: flags, logging, signals and the process lifetime; the service is in service.ts.
import { dirname, join } from 'node:path';
import { makeLogger, startDaemon, StartError } from './daemon.js';
import { parseFlags, USAGE, UsageError } from './flags.js';
import { prepareLibfuse } from './fuse.js';

function fail(msg: string): never {
  process.stderr.write(`sysbox-fs: ${msg}\n`);
  process.exit(1);
}

const LIB_ENV = 'SYSBOX_FS_LIBFUSE_DIR';

/**
 * fuse-native's prebuilt addon links libfuse.so.2 (bundled, but named libfuse.so, and without an rpath).
 * The loader reads LD_LIBRARY_PATH only at exec: point it at a dir with a libfuse.so.2 link and re-exec.
 */
function ensureLibfuse(pidFile: string): void {
  if (process.env[LIB_ENV]) return;
  let dir: string;
  try {
    dir = prepareLibfuse(join(dirname(pidFile), 'fs-lib'));
  } catch (err) {
    fail(`cannot prepare libfuse for fuse-native: ${(err as Error).message}`);
  }
  const ld = process.env['LD_LIBRARY_PATH'];
  process.execve!(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    ...process.env,
    [LIB_ENV]: dir,
    LD_LIBRARY_PATH: ld ? `${dir}:${ld}` : dir,
  });
}

async function main(): Promise<void> {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) fail(err.message);
    throw err;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (flags.fuse === 'fuse-native') ensureLibfuse(flags.pidFile);
  const { log, flush } = makeLogger(flags);
  let daemon;
  try {
    daemon = await startDaemon(flags, { log });
  } catch (err) {
    const msg = err instanceof StartError ? err.message : `startup failed: ${(err as Error).stack ?? String(err)}`;
    log.fatal(msg);
    flush();
    process.stderr.write(`sysbox-fs: ${msg.split('\n')[0]}\n`);
    process.exit(1);
  }
  const onSignal = (sig: NodeJS.Signals) => {
    log.info({ signal: sig }, 'stopping');
    daemon.stop().then(
      () => {
        flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: (err as Error).message }, 'unclean stop');
        flush();
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.on('uncaughtException', (err) => {
    log.fatal({ err: err.stack ?? String(err) }, 'uncaught exception');
    flush();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.error({ err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'unhandled rejection');
  });
}

await main();
