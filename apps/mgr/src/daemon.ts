import { chmod, mkdir, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { holdingPidFile, StartError } from '@sysbox/daemon-kit';
import { FileStore, ensureSysboxHost, writeFileAtomic } from '@sysbox/idmap/host';
import { serveFdStore, serveMgr, type FdStoreServer, type IpcServer } from '@sysbox/ipc';
import type { Logger } from 'pino';
import { errText } from './errors.js';
import type { MgrFlags } from './flags.js';
import { MgrService } from './service.js';
import type { Stager } from './stager.js';
import { watchDockerContainers } from './mount-daemon.js';
import { loadStagers } from './staging.js';
import { watchLiveness, type LivenessWatch } from './liveness-watch.js';
import type { MountStager } from './mount-stager.js';

declare const __MGR_VERSION__: string | undefined;
export const VERSION = typeof __MGR_VERSION__ === 'string' ? __MGR_VERSION__ : '0.0.0-dev';

export { StartError };

/** mkdir dataDir 0711; its parents must let the containers' ranges traverse (the engine reaches staged rootfs). */
async function prepareDataDir(dataDir: string, log: Logger): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  await chmod(dataDir, 0o711);
  for (let d = dirname(dataDir); ; d = dirname(d)) {
    const st = await stat(d);
    if ((st.mode & 0o001) === 0) log.warn({ dir: d }, `${d} is not traversable by others (mode ${(st.mode & 0o777).toString(8)}): containers can't reach staged rootfs under ${dataDir}`);
    if (d === dirname(d)) break;
  }
}


export interface Daemon {
  readonly service: MgrService;
  readonly server: IpcServer;
  /** stop accepting, close the server, wait for state writes, remove socket and pid file */
  stop(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  /** default: loadStagers' (@sysbox/staging over the real kernel) */
  stager?: Stager;
  /** default: loadStagers' */
  mountStager?: MountStager;
  /** Docker's containers dir, watched to remove special dirs of removed containers (default /var/lib/docker/containers) */
  dockerContainersDir?: string;
  /** default: ensureSysboxHost (creates the sysbox user and subuid/subgid entries) */
  host?: typeof ensureSysboxHost;
}

export function fdStorePath(flags: Pick<MgrFlags, 'socket' | 'fdStore'>): string {
  return flags.fdStore ?? join(dirname(flags.socket), 'mgr-fds.sock');
}

/**
 * Where the registry is kept: beside the socket (/run/sysbox/mgr-state.json), on a tmpfs. It lists live containers,
 * and none outlives a reboot; a mgr restart (even after SIGKILL) finds it, a reboot clears it (the staging
 * leftovers in the data dir are collected at start). On a tmpfs the atomic write's two fsyncs cost nothing: on the
 * data dir's disk they were ~2 ms of every create (Register and PrepareRootfs each wait for a write).
 */
export function stateFilePath(flags: Pick<MgrFlags, 'socket' | 'stateFile'>): string {
  return flags.stateFile ?? join(dirname(flags.socket), 'mgr-state.json');
}

/**
 * An older mgr kept the registry in <dataDir>/state.json: moved to the state file once (an upgrade with containers
 * running keeps their ranges), then removed, so that a later boot doesn't bring it back.
 */
async function moveLegacyState(statePath: string, dataDir: string, log: Logger): Promise<void> {
  const legacy = join(dataDir, 'state.json');
  if (legacy === statePath || (await stat(statePath).then(() => true, () => false))) return;
  let text: string;
  try {
    text = await readFile(legacy, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await writeFileAtomic(statePath, text);
  await unlink(legacy);
  log.info({ from: legacy, to: statePath }, 'registry moved to the state file');
}

/**
 * The fd store: sysbox-fs keeps a duplicate of each container's /dev/fuse fd here (with its registration), and
 * takes them back when it restarts, so its FUSE connections outlive it. Not started if the addon can't load.
 */
async function startFdStore(flags: MgrFlags, log: Logger): Promise<FdStoreServer | undefined> {
  const path = fdStorePath(flags);
  if (path === 'none') return undefined;
  try {
    const nativeSpec = '@sysbox/native';
    const native = (await import(nativeSpec)) as typeof import('@sysbox/native');
    const k = native.realKernel();
    await unlink(path).catch(() => undefined);
    const store = serveFdStore(k, path, {
      onEvent: (what, name) => log.debug({ what, name }, 'fd store'),
      onError: (err) => log.warn({ err: errText(err) }, 'fd store connection failed'),
    });
    await chmod(path, 0o600);
    return store;
  } catch (err) {
    log.warn({ err: errText(err), path }, 'fd store unavailable: sysbox-fs restarts will abort the containers\' FUSE connections');
    return undefined;
  }
}

/**
 * Drops a torn-down container's views in sysbox-fs (its FUSE tree and fd-store entry). Quietly nothing when
 * sysbox-fs doesn't run: a restarting sysbox-fs re-registers only containers mgr still holds.
 */
function fsUnregister(flags: Pick<MgrFlags, 'fsSocket'>, log: Logger): ((containerId: string) => Promise<void>) | undefined {
  if (flags.fsSocket === 'none') return undefined;
  return async (containerId) => {
    if (!(await stat(flags.fsSocket).then(() => true, () => false))) return;
    const { connectFs } = await import('@sysbox/ipc');
    const fs = await connectFs({ socketPath: flags.fsSocket, deadlineMs: 5_000 });
    try {
      await fs.unregister({ containerId });
    } finally {
      fs.close();
    }
    log.child({ containerId }).debug('sysbox-fs views dropped');
  };
}

export async function startDaemon(flags: MgrFlags, opts: StartOptions): Promise<Daemon> {
  const { log } = opts;
  const dataDir = resolve(flags.dataDir);
  return holdingPidFile('sysbox-mgr', /mgr/, flags.pidFile, async () => {
    const { userCreated, pool } = await (opts.host ?? ensureSysboxHost)({}).catch((err: unknown) => {
      throw new StartError(`cannot set up the sysbox user and its subordinate ids: ${errText(err)}`);
    });
    if (userCreated) log.info('created system user sysbox');
    const ranges = Math.min(Math.floor(pool.uid.count / flags.rangeSize), Math.floor(pool.gid.count / flags.rangeSize));
    if (ranges === 0) {
      throw new StartError(
        `the sysbox entries of /etc/subuid (${pool.uid.count} ids) and /etc/subgid (${pool.gid.count} ids) can't hold one range of ${flags.rangeSize} ids`,
      );
    }
    log.info({ pool, rangeSize: flags.rangeSize, ranges }, 'id pool');
    await prepareDataDir(dataDir, log).catch((err: unknown) => {
      throw new StartError(`cannot prepare data dir ${dataDir}: ${errText(err)}`);
    });
    const loaded = opts.stager && opts.mountStager ? undefined : await loadStagers(log);
    const stager = opts.stager ?? loaded!.stager;
    const mountStager = opts.mountStager ?? loaded!.mountStager;
    const statePath = stateFilePath(flags);
    await mkdir(dirname(statePath), { recursive: true, mode: 0o755 })
      .then(() => moveLegacyState(statePath, dataDir, log))
      .catch((err: unknown) => {
        throw new StartError(`cannot prepare the state file ${statePath} (or move an older ${join(dataDir, 'state.json')} there): ${errText(err)}`);
      });
    let liveness: LivenessWatch | undefined;
    const service = await MgrService.open({
      onRegistered: (_id, path) => liveness?.add(path),
      onUnregister: fsUnregister(flags, log),
      pool,
      rangeSize: flags.rangeSize,
      store: new FileStore(statePath),
      stager,
      mountStager,
      dataDir,
      log,
      version: VERSION,
    }).catch((err: unknown) => {
      throw new StartError(`cannot load ${statePath}: ${errText(err)}`);
    });
    const reap = () =>
      service.reap().then(
        (ids) => {
          if (ids.length) log.warn({ reaped: ids }, 'unregistered containers that are gone');
        },
        (err: unknown) => log.error({ err: errText(err) }, 'reaping gone containers failed'),
      );
    await reap();
    liveness = watchLiveness(service, log);
    for (const p of service.livenessPaths()) liveness.add(p);
    const reapTimer = flags.reapInterval > 0 ? setInterval(() => void reap(), flags.reapInterval * 1000) : undefined;
    reapTimer?.unref();
    await service
      .gcStaging()
      .then((removed) => {
        if (removed?.length) log.warn({ removed }, 'removed staged rootfs of containers no longer registered');
      })
      .catch((err: unknown) => log.error({ err: errText(err) }, 'staging garbage collection failed'));
    const dockerWatch = watchDockerContainers(service, opts.dockerContainersDir ?? '/var/lib/docker/containers', log);
    // before the gRPC socket: whoever waits for mgr.sock (install.sh, then a restart of sysbox-fs) finds the store up
    const fdStore = await startFdStore(flags, log);
    const server = await serveMgr(service, {
      socketPath: flags.socket,
      onCall: ({ method, ms, error }) => {
        if (error) log.warn({ method, ms: +ms.toFixed(2), err: errText(error) }, 'call failed');
        else log.debug({ method, ms: +ms.toFixed(2) }, 'call');
      },
    }).catch((err: unknown) => {
      throw new StartError(errText(err));
    });
    log.info({ socket: flags.socket, dataDir, stateFile: statePath, version: VERSION, containers: service.size, fdStore: fdStore ? fdStorePath(flags) : 'none' }, 'sysbox-mgr ready');
    return {
      service,
      server,
      async stop() {
        clearInterval(reapTimer);
        liveness?.close();
        dockerWatch.close();
        fdStore?.close();
        await server.close();
        await service.flush();
        log.info('sysbox-mgr stopped');
      },
    };
  });
}

export const selfPath = fileURLToPath(import.meta.url);
