import { join } from 'node:path';
import type { StagingFs } from './env.js';

/**
 * Shifts owners in a tree by +delta (uid and gid separately): IDs in [from, from+size) become
 * id - from + to. Does not cross into other mounts. chown clears set-id bits on files, so they are
 * put back. (Only used by the 'chown' fallback; ID-mapped mounts need none of this.)
 */
export function shiftTree(
  fs: StagingFs,
  root: string,
  range: { fromUid: number; toUid: number; fromGid: number; toGid: number; size: number },
): number {
  const rootDev = fs.lstat(root).dev;
  let changed = 0;
  const visit = (p: string): void => {
    const st = fs.lstat(p);
    if (st.dev !== rootDev) return;
    const inU = st.uid >= range.fromUid && st.uid < range.fromUid + range.size;
    const inG = st.gid >= range.fromGid && st.gid < range.fromGid + range.size;
    if (inU || inG) {
      const uid = inU ? st.uid - range.fromUid + range.toUid : st.uid;
      const gid = inG ? st.gid - range.fromGid + range.toGid : st.gid;
      fs.lchown(p, uid, gid);
      if (!st.isSymbolicLink() && st.mode & 0o6000) fs.chmod(p, st.mode & 0o7777);
      changed++;
    }
    if (st.isDirectory()) for (const name of fs.readdir(p)) visit(join(p, name));
  };
  visit(root);
  return changed;
}
