// Paths and names shared by the harness, the suites and the bench (defaults from DESIGN.md).
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

export const E2E_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = resolve(E2E_DIR, '..');

export const SYSBOX_RUNC = process.env.SYSBOX_RUNC ?? '/usr/local/bin/sysbox-runc';
export const SYSBOX_MGR = process.env.SYSBOX_MGR ?? '/usr/local/bin/sysbox-mgr';
export const SYSBOX_FS = process.env.SYSBOX_FS ?? '/usr/local/bin/sysbox-fs';
export const RUNC = '/usr/sbin/runc';
export const CRUN = '/usr/bin/crun';

export const MGR_SOCKET = '/run/sysbox/mgr.sock';
export const MGR_PID_FILE = '/run/sysbox/mgr.pid';
export const MGR_DATA_DIR = '/var/lib/sysbox';
export const MGR_LOG_FILE = '/var/log/sysbox-mgr.log';
/** mgr's registry (ranges held by containers; beside its socket, on /run); read by tests to check releases. */
export const MGR_STATE_FILE = '/run/sysbox/mgr-state.json';

export const FS_SOCKET = '/run/sysbox/fs.sock';
export const FS_PID_FILE = '/run/sysbox/fs.pid';
export const FS_LOG_FILE = '/var/log/sysbox-fs.log';

/** sysbox-runc's create server (`sysbox-runc serve`, apps/runc/src/server.ts) */
export const RUNC_SERVER_SOCKET = '/run/sysbox/runc.sock';
export const RUNC_SERVER_PID_FILE = '/run/sysbox/runc.pid';
export const RUNC_SERVER_LOG_FILE = '/var/log/sysbox-runc-server.log';

export const DAEMON_JSON = '/etc/docker/daemon.json';
export const DAEMON_JSON_LOCK = '/tmp/daemon-json.lock';
export const CACHE_DIR = '/var/cache/sysbox-ts';

/** Test images, always built locally (never pulled). */
export const IMAGES = {
  busybox: 'sysbox-test/busybox',
  debian: 'sysbox-test/debian',
  /** debian + systemd + openssh-server (CMD /sbin/init), for the systemd tests: no Docker */
  system: 'sysbox-test/debian-system',
  /**
   * debian + systemd + openssh-server + docker.io (docker.service enabled, CMD /sbin/init) and a `docker save` of
   * sysbox-test/busybox at DIND_BUSYBOX_TAR, for the Docker-in-Docker and sshd-sandbox tests
   */
  dind: 'sysbox-test/debian-dind',
  /** debian + a 450 MB layer, for the bench only (built lazily) */
  debianBig: 'sysbox-test/debian-big',
} as const;

/** In IMAGES.dind: sysbox-test/busybox as `docker save` wrote it (inner `docker load -i`; no pulls inside either). */
export const DIND_BUSYBOX_TAR = '/opt/images/busybox.tar';

/** The runtimes every suite runs for: runc (Docker's default, the reference) and ours. */
export const RUNTIMES = ['runc', 'sysbox-runc'] as const;
export type Runtime = (typeof RUNTIMES)[number];
