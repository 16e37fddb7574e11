import type { IdRange } from '@sysbox/idmap';
import type { Logger } from 'pino';
import { MgrError } from './errors.js';

export interface MountStageRequest {
  index: number;
  source: string;
  destination: string;
  readonly: boolean;
  recursive: boolean;
  /** not ID-mapped (host /proc, /sys, /dev): a read-only bind is staged as a plain clone */
  noIdmap: boolean;
}

export interface MountStageResult {
  mounts: { index: number; source: string; method: string }[];
  specialDirs: { destination: string; source: string; method: string; created: boolean }[];
}

/** How the mgr service stages bind mounts and special dirs. The real one wraps @sysbox/staging (./staging.ts). */
export interface MountStager {
  stage(opts: { containerId: string; idRange: IdRange; dataDir: string; mounts: MountStageRequest[]; specialDirs: string[]; rootfs: string; log?: Logger }): Promise<MountStageResult>;
  /** undoes stage's mounts; removes the special dirs too unless Docker still has the container */
  unstage(opts: { containerId: string; dataDir: string; log?: Logger }): Promise<void>;
  /** removes leftovers of containers not in `keep` (and special dirs Docker no longer has); returns their ids */
  gc(opts: { dataDir: string; keep: Set<string> }): Promise<string[] | void>;
}

export function unavailableMountStager(reason: string): MountStager {
  return {
    async stage({ containerId, mounts, specialDirs }) {
      if (mounts.length === 0 && specialDirs.length === 0) return { mounts: [], specialDirs: [] };
      throw new MgrError('FAILED_PRECONDITION', `cannot stage mounts of container ${containerId}: mount staging is unavailable in this sysbox-mgr (${reason})`);
    },
    async unstage() {},
    async gc() {},
  };
}

/** Stages nothing: every mount keeps its source (for tests and embedders without a kernel). */
export const passthroughMountStager: MountStager = {
  async stage({ mounts }) {
    return { mounts: mounts.map((m) => ({ index: m.index, source: m.source, method: 'none' })), specialDirs: [] };
  },
  async unstage() {},
  async gc() {},
};
