import { parseArgs } from 'node:util';

export interface MgrFlags {
  socket: string;
  pidFile: string;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** a path, or 'stderr' */
  logFile: string;
  rangeSize: number;
  /** seconds between checks of registered containers' liveness paths; 0: only at start */
  reapInterval: number;
  /** the fd store socket (sysbox-fs keeps its /dev/fuse fds there), 'none'; default mgr-fds.sock beside --socket */
  fdStore?: string;
  /** sysbox-fs's gRPC socket: a container's views there are dropped when it is unregistered, or 'none' */
  fsSocket: string;
  help: boolean;
}

export const USAGE = `Usage: sysbox-mgr [flags]

sysbox-mgr allocates exclusive ID ranges for system containers, stages their ID-mapped
rootfs views and keeps the container registry. sysbox-runc talks to it over gRPC.

Flags:
  --socket <path>       gRPC unix socket (default /run/sysbox/mgr.sock)
  --pid-file <path>     pid file (default /run/sysbox/mgr.pid)
  --data-dir <path>     state and staged mounts (default /var/lib/sysbox)
  --log-level <level>   fatal|error|warn|info|debug|trace|silent (default info)
  --log-file <path>     JSON log file, or "stderr" (default stderr)
  --range-size <n>      IDs per container range (default 65536)
  --reap-interval <s>   seconds between checks that registered containers still exist
                        (by the liveness path their Register gave; default 30, 0: only at start)
  --fd-store <path>     fd store socket: keeps sysbox-fs's /dev/fuse fds across its restarts, or "none"
                        (default mgr-fds.sock beside --socket)
  --fs-socket <path>    sysbox-fs's socket: a torn-down container's /proc and /sys views are dropped
                        there too, or "none" (default /run/sysbox/fs.sock)
  -h, --help            this help
`;

/** Thrown for bad command lines; main prints `sysbox-mgr: <message>` and exits 1. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function parseFlags(argv: string[]): MgrFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        socket: { type: 'string', default: '/run/sysbox/mgr.sock' },
        'pid-file': { type: 'string', default: '/run/sysbox/mgr.pid' },
        'data-dir': { type: 'string', default: '/var/lib/sysbox' },
        'log-level': { type: 'string', default: 'info' },
        'log-file': { type: 'string', default: 'stderr' },
        'range-size': { type: 'string', default: '65536' },
        'reap-interval': { type: 'string', default: '30' },
        'fd-store': { type: 'string' },
        'fs-socket': { type: 'string', default: '/run/sysbox/fs.sock' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    const e = err as { code?: string; message: string };
    const m = /'([^']+)'/.exec(e.message);
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${m?.[1] ?? ''} (see sysbox-mgr --help)`);
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument ${m?.[1] ?? ''} (see sysbox-mgr --help)`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`${e.message.split('\n')[0]} (see sysbox-mgr --help)`);
    throw new UsageError(e.message.split('\n')[0] ?? e.message);
  }
  const logLevel = values['log-level'];
  if (!LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LEVELS.join('|')}, got "${logLevel}"`);
  const rs = values['range-size'];
  const rangeSize = Number(rs);
  if (!/^[0-9]+$/.test(rs) || !Number.isSafeInteger(rangeSize) || rangeSize <= 0) {
    throw new UsageError(`--range-size must be a positive integer, got "${rs}"`);
  }
  const ri = values['reap-interval'];
  const reapInterval = Number(ri);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(ri) || !Number.isFinite(reapInterval)) {
    throw new UsageError(`--reap-interval must be a number of seconds >= 0, got "${ri}"`);
  }
  for (const k of ['socket', 'pid-file', 'data-dir', 'fs-socket'] as const) {
    if (!values[k]) throw new UsageError(`--${k} must not be empty`);
  }
  return {
    socket: values.socket,
    pidFile: values['pid-file'],
    dataDir: values['data-dir'],
    logLevel: logLevel as MgrFlags['logLevel'],
    logFile: values['log-file'],
    rangeSize,
    reapInterval,
    ...(values['fd-store'] ? { fdStore: values['fd-store'] } : {}),
    fsSocket: values['fs-socket'],
    help: values.help,
  };
}
