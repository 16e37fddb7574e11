import { COMMON_USAGE, parseDaemonFlags, UsageError, type CommonFlags } from '@sysbox/daemon-kit';

export { UsageError };

export interface MgrFlags extends CommonFlags {
  dataDir: string;
  rangeSize: number;
  /** seconds between checks of registered containers' liveness paths; 0: only at start */
  reapInterval: number;
  /** the fd store socket (sysbox-fs keeps its /dev/fuse fds there), 'none'; default mgr-fds.sock beside --socket */
  fdStore?: string;
  /** sysbox-fs's gRPC socket: a container's views there are dropped when it is unregistered, or 'none' */
  fsSocket: string;
  /** the registry (containers and ranges); default mgr-state.json beside --socket, i.e. on /run's tmpfs */
  stateFile?: string;
}

const DEFAULTS = { socket: '/run/sysbox/mgr.sock', pidFile: '/run/sysbox/mgr.pid' };

export const USAGE = `Usage: sysbox-mgr [flags]

sysbox-mgr allocates exclusive ID ranges for system containers, stages their ID-mapped
rootfs views and keeps the container registry. sysbox-runc talks to it over gRPC.

Flags:
${COMMON_USAGE(DEFAULTS)}
  --data-dir <path>     staged rootfs, mounts and special dirs (default /var/lib/sysbox)
  --state-file <path>   the registry of containers and their ranges, rewritten atomically after every
                        change (default mgr-state.json beside --socket: on /run, it lives as long as
                        the containers it lists do, until the next boot)
  --range-size <n>      IDs per container range (default 65536)
  --reap-interval <s>   seconds between checks that registered containers still exist
                        (by the liveness path their Register gave; default 30, 0: only at start)
  --fd-store <path>     fd store socket: keeps sysbox-fs's /dev/fuse fds across its restarts, or "none"
                        (default mgr-fds.sock beside --socket)
  --fs-socket <path>    sysbox-fs's socket: a torn-down container's /proc and /sys views are dropped
                        there too, or "none" (default /run/sysbox/fs.sock)
  -h, --help            this help
`;

export function parseFlags(argv: string[]): MgrFlags {
  const { common, values } = parseDaemonFlags('sysbox-mgr', argv, DEFAULTS, {
    'data-dir': { type: 'string', default: '/var/lib/sysbox' },
    'range-size': { type: 'string', default: '65536' },
    'reap-interval': { type: 'string', default: '30' },
    'fd-store': { type: 'string' },
    'fs-socket': { type: 'string', default: '/run/sysbox/fs.sock' },
    'state-file': { type: 'string' },
  });
  const rs = values['range-size'] as string;
  const rangeSize = Number(rs);
  if (!/^[0-9]+$/.test(rs) || !Number.isSafeInteger(rangeSize) || rangeSize <= 0) {
    throw new UsageError(`--range-size must be a positive integer, got "${rs}"`);
  }
  const ri = values['reap-interval'] as string;
  const reapInterval = Number(ri);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(ri) || !Number.isFinite(reapInterval)) {
    throw new UsageError(`--reap-interval must be a number of seconds >= 0, got "${ri}"`);
  }
  for (const k of ['data-dir', 'fs-socket'] as const) {
    if (!values[k]) throw new UsageError(`--${k} must not be empty`);
  }
  const fdStore = values['fd-store'] as string | undefined;
  const stateFile = values['state-file'] as string | undefined;
  return {
    ...common,
    dataDir: values['data-dir'] as string,
    rangeSize,
    reapInterval,
    ...(fdStore ? { fdStore } : {}),
    fsSocket: values['fs-socket'] as string,
    ...(stateFile ? { stateFile } : {}),
  };
}
