import { parseArgs } from 'node:util';

export interface FsFlags {
  socket: string;
  pidFile: string;
  mountRoot: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** a path, or 'stderr' */
  logFile: string;
  help: boolean;
}

export const USAGE = `Usage: sysbox-fs [flags]

sysbox-fs serves the emulated /proc and /sys files of system containers over FUSE, one mount per
container under --mount-root. sysbox-runc registers each container over gRPC and mounts the files
over the container's /proc and /sys entries.

Flags:
  --socket <path>       gRPC unix socket (default /run/sysbox/fs.sock)
  --pid-file <path>     pid file (default /run/sysbox/fs.pid)
  --mount-root <path>   where the per-container FUSE trees are mounted (default /var/lib/sysboxfs)
  --log-level <level>   fatal|error|warn|info|debug|trace|silent (default info)
  --log-file <path>     JSON log file, or "stderr" (default stderr)
  -h, --help            this help
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function parseFlags(argv: string[]): FsFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        socket: { type: 'string', default: '/run/sysbox/fs.sock' },
        'pid-file': { type: 'string', default: '/run/sysbox/fs.pid' },
        'mount-root': { type: 'string', default: '/var/lib/sysboxfs' },
        'log-level': { type: 'string', default: 'info' },
        'log-file': { type: 'string', default: 'stderr' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    const e = err as { code?: string; message: string };
    const m = /'([^']+)'/.exec(e.message);
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${m?.[1] ?? ''} (see sysbox-fs --help)`);
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument ${m?.[1] ?? ''} (see sysbox-fs --help)`);
    throw new UsageError(`${e.message.split('\n')[0] ?? e.message} (see sysbox-fs --help)`);
  }
  const logLevel = values['log-level'];
  if (!LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LEVELS.join('|')}, got "${logLevel}"`);
  for (const k of ['socket', 'pid-file', 'mount-root'] as const) {
    if (!values[k]) throw new UsageError(`--${k} must not be empty`);
  }
  return {
    socket: values.socket,
    pidFile: values['pid-file'],
    mountRoot: values['mount-root'],
    logLevel: logLevel as FsFlags['logLevel'],
    logFile: values['log-file'],
    help: values.help,
  };
}
