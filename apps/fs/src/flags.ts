import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

export interface FsFlags {
  socket: string;
  pidFile: string;
  mountRoot: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** a path, or 'stderr' */
  logFile: string;
  /** FUSE implementation: devfuse (the protocol over /dev/fuse, survives restarts) or fuse-native */
  fuse: 'devfuse' | 'fuse-native';
  /** sysbox-mgr's fd store socket, or 'none' */
  fdStore: string;
  /** devfuse: µs to keep reading /dev/fuse after a request before sleeping */
  spinUs: number;
  /** the seccomp listener socket (the spec's listenerPath), or 'none' */
  seccompSocket: string;
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
  --fuse <impl>         devfuse (FUSE protocol over /dev/fuse; mounts survive a restart of sysbox-fs)
                        or fuse-native (libfuse 2.9; mounts die with the process) (default devfuse)
  --fd-store <path>     sysbox-mgr's fd store, which keeps the /dev/fuse fds across restarts, or "none"
                        (default mgr-fds.sock beside --socket: /run/sysbox/mgr-fds.sock)
  --spin-us <n>         devfuse: after a request, keep reading /dev/fuse for up to n µs before sleeping
                        (0..1000; default 50: a reader's next request usually follows within that)
  --seccomp-socket <p>  where the engine sends each container's seccomp listener fd (the spec's listenerPath;
                        sysbox-fs vets the container's mount calls), or "none" (default /run/sysbox/fs-seccomp.sock)
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
        fuse: { type: 'string', default: 'devfuse' },
        'fd-store': { type: 'string' },
        'spin-us': { type: 'string', default: '50' },
        'seccomp-socket': { type: 'string', default: '/run/sysbox/fs-seccomp.sock' },
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
  const fuse = values.fuse;
  if (fuse !== 'devfuse' && fuse !== 'fuse-native') throw new UsageError(`--fuse must be devfuse or fuse-native, got "${fuse}"`);
  const spinUs = Number(values['spin-us']);
  if (!/^[0-9]+$/.test(values['spin-us']) || spinUs > 1000) throw new UsageError(`--spin-us must be an integer 0..1000, got "${values['spin-us']}"`);
  for (const k of ['socket', 'pid-file', 'mount-root'] as const) {
    if (!values[k]) throw new UsageError(`--${k} must not be empty`);
  }
  return {
    socket: values.socket,
    pidFile: values['pid-file'],
    mountRoot: values['mount-root'],
    logLevel: logLevel as FsFlags['logLevel'],
    logFile: values['log-file'],
    fuse,
    spinUs,
    fdStore: values['fd-store'] || join(dirname(values.socket), 'mgr-fds.sock'),
    seccompSocket: values['seccomp-socket'] || 'none',
    help: values.help,
  };
}
