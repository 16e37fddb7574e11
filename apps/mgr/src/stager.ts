import type { IdRange } from '@sysbox/idmap';
import type { Logger } from 'pino';
import { MgrError } from './errors.js';

/** How the mgr service stages rootfs views. The real one wraps @sysbox/staging (./staging.ts). */
export interface Stager {
  stage(opts: { containerId: string; rootfs: string; idRange: IdRange; dataDir: string; log?: Logger }): Promise<{ rootfs: string; method: string }>;
  unstage(opts: { containerId: string; dataDir: string; log?: Logger }): Promise<void>;
  /** removes staging of containers not in `keep`; returns the ids it removed */
  gc(opts: { dataDir: string; keep: Set<string> }): Promise<string[] | void>;
}

/** Used when staging can't be loaded: PrepareRootfs answers why; unstage and gc have nothing to do. */
export function unavailableStager(reason: string): Stager {
  return {
    async stage({ containerId }) {
      throw new MgrError('FAILED_PRECONDITION', `cannot stage rootfs of container ${containerId}: rootfs staging is unavailable in this sysbox-mgr (${reason})`);
    },
    async unstage() {},
    async gc() {},
  };
}
