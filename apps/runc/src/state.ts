// sysbox-runc's own per-container record, beside the engine's state under --root.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { IdRange } from '@sysbox/spec';

export interface ContainerRecord {
  containerId: string;
  /** The bundle the caller passed (Docker's). */
  bundle: string;
  /** Our private bundle holding the converted config.json. */
  privateBundle: string;
  rootfs: string;
  stagedRootfs: string;
  idRange: IdRange;
  engine: string;
  createdAt: string;
  /** honour-caps: exec's process specs keep their capabilities (absent: false) */
  honorCaps?: boolean;
  /** false: a regular container (no sysbox-fs emulation); absent: a system container */
  syscontMode?: boolean;
}

export function readRecord(dir: string): ContainerRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
}

export function writeRecord(dir: string, rec: ContainerRecord): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.state.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(rec, null, 2));
  renameSync(tmp, join(dir, 'state.json'));
}

export function removeStateDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
