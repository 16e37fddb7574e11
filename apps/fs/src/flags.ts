import { dirname, join } from 'node:path';
import { COMMON_USAGE, parseDaemonFlags, UsageError, type CommonFlags } from '@sysbox/daemon-kit';

export { UsageError };

export interface FsFlags extends CommonFlags {
  mountRoot: string;
  /** FUSE implementation: devfuse (the protocol over /dev/fuse, survives restarts) or fuse-native */
  fuse: 'devfuse' | 'fuse-native';
  /** sysbox-mgr's fd store socket, or 'none' */
  fdStore: string;
  /** devfuse: µs to keep reading /dev/fuse after a request before sleeping */
  spinUs: number;
  /** the seccomp listener socket (the spec's listenerPath), or 'none' */
  seccompSocket: string;
  /** the vetting threads time their stages (logged with the seccomp counters at stop) */
  vetTiming: boolean;
}

const DEFAULTS = { socket: '/run/sysbox/fs.sock', pidFile: '/run/sysbox/fs.pid' };

export const USAGE = `Usage: sysbox-fs [flags]

sysbox-fs serves the emulated /proc and /sys files of system containers over FUSE, one mount per
container under --mount-root. sysbox-runc registers each container over gRPC and mounts the files
over the container's /proc and /sys entries.

Flags:
${COMMON_USAGE(DEFAULTS)}
  --mount-root <path>   where the per-container FUSE trees are mounted (default /var/lib/sysboxfs)
  --fuse <impl>         devfuse (FUSE protocol over /dev/fuse; mounts survive a restart of sysbox-fs)
                        or fuse-native (libfuse 2.9; mounts die with the process) (default devfuse)
  --fd-store <path>     sysbox-mgr's fd store, which keeps the /dev/fuse fds across restarts, or "none"
                        (default mgr-fds.sock beside --socket: /run/sysbox/mgr-fds.sock)
  --spin-us <n>         devfuse: after a request, keep reading /dev/fuse for up to n µs before sleeping
                        (0..1000; default 50: a reader's next request usually follows within that)
  --seccomp-socket <p>  where the engine sends each container's seccomp listener fd (the spec's listenerPath;
                        sysbox-fs vets the container's mount calls), or "none" (default fs-seccomp.sock beside --socket:
                        /run/sysbox/fs-seccomp.sock)
  --vet-timing          the vetting threads (one per container) sum the time of each stage of the calls they answer
                        (receive, argument copy, lookup, decision, NOTIF_ID_VALID, reply): logged with the counters
                        when sysbox-fs stops
  -h, --help            this help
`;

export function parseFlags(argv: string[]): FsFlags {
  const { common, values } = parseDaemonFlags('sysbox-fs', argv, DEFAULTS, {
    'mount-root': { type: 'string', default: '/var/lib/sysboxfs' },
    fuse: { type: 'string', default: 'devfuse' },
    'fd-store': { type: 'string' },
    'spin-us': { type: 'string', default: '50' },
    'seccomp-socket': { type: 'string' },
    'vet-timing': { type: 'boolean', default: false },
  });
  const fuse = values.fuse;
  if (fuse !== 'devfuse' && fuse !== 'fuse-native') throw new UsageError(`--fuse must be devfuse or fuse-native, got "${fuse}"`);
  const spin = values['spin-us'] as string;
  const spinUs = Number(spin);
  if (!/^[0-9]+$/.test(spin) || spinUs > 1000) throw new UsageError(`--spin-us must be an integer 0..1000, got "${spin}"`);
  if (!values['mount-root']) throw new UsageError('--mount-root must not be empty');
  return {
    ...common,
    mountRoot: values['mount-root'] as string,
    fuse,
    spinUs,
    fdStore: (values['fd-store'] as string | undefined) || join(dirname(common.socket), 'mgr-fds.sock'),
    seccompSocket: (values['seccomp-socket'] as string | undefined) || join(dirname(common.socket), 'fs-seccomp.sock'),
    vetTiming: values['vet-timing'] === true,
  };
}
