// sysbox-mgr's staging: @sysbox/staging over the real kernel and node:fs, with special dirs copied by `cp -a` (it
// keeps owners, modes, links and xattrs); the rootfs stager and the mount stager the service uses. If the native
// addon can't load, both answer why on every call that needs them.
import { execFileSync } from 'node:child_process';
import type { Logger } from 'pino';
import { errText } from './errors.js';
import { stagingLog } from './staging-log.js';
import { unavailableStager, type Stager } from './stager.js';
import { unavailableMountStager, type MountStager } from './mount-stager.js';

/** cp -a of src's contents into dst. */
function copyTree(src: string, dst: string): void {
  execFileSync('cp', ['-a', '--', `${src}/.`, `${dst}/`], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export async function loadStagers(log: Logger): Promise<{ stager: Stager; mountStager: MountStager }> {
  let staging: typeof import('@sysbox/staging');
  let env: import('@sysbox/staging').StagingEnv;
  try {
    const native = await import('@sysbox/native');
    staging = await import('@sysbox/staging');
    env = { kernel: native.realKernel(), fs: { ...staging.nodeFs, copyTree } };
  } catch (err) {
    const reason = errText(err);
    log.warn({ err: reason }, 'staging unavailable: PrepareRootfs and PrepareMounts will fail');
    return { stager: unavailableStager(reason), mountStager: unavailableMountStager(reason) };
  }
  const s = staging;
  return {
    stager: {
      stage: ({ log: l, ...o }) => s.stageRootfs(env, { ...o, log: stagingLog(l ?? log) }),
      unstage: ({ log: l, ...o }) => s.unstageRootfs(env, { ...o, log: stagingLog(l ?? log) }),
      gc: (o) => s.gcStaging(env, { ...o, log: stagingLog(log) }),
    },
    mountStager: {
      stage: ({ log: l, ...o }) => s.stageMounts(env, { ...o, log: stagingLog(l ?? log) }),
      async unstage({ log: l, ...o }) {
        const sl = stagingLog(l ?? log);
        s.unstageMounts(env, { ...o, log: sl });
        s.removeSpecialDirs(env, { ...o, log: sl }); // Docker containers keep theirs in Docker's own dir
      },
      gc: async (o) => s.gcMounts(env, { ...o, log: stagingLog(log) }),
    },
  };
}
