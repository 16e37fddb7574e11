// The container's cgroups delegated to its root: the directory of each of its cgroups and the files that create and
// move into children (@sysbox/spec's cgroupDelegation: never a limit file), owned by the container's root on the host.
// With the cgroup file system mounted read-write inside (cgroupsModifier), systemd or an inner Docker manages child
// cgroups, and the container's own limits stay root's. Done once the engine has made the cgroups, before the
// container's process starts.
import { chownSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupDelegation, processCgroupDirs, type IdRange } from '@sysbox/spec';

export function delegateCgroups(initPid: number, idRange: IdRange): string[] {
  const text = readFileSync(`/proc/${initPid}/cgroup`, 'utf8');
  const unifiedRoot = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
  const done: string[] = [];
  for (const { version, dir } of processCgroupDirs(text, { unifiedRoot })) {
    // a hierarchy's root is the host's: never delegated (a container there shares it with the host)
    if (dir === unifiedRoot || /^\/sys\/fs\/cgroup\/[^/]+$/.test(dir) || !existsSync(dir)) continue;
    chownSync(dir, idRange.uid, idRange.gid);
    for (const f of cgroupDelegation(version)) {
      const p = join(dir, f);
      if (existsSync(p)) chownSync(p, idRange.uid, idRange.gid);
    }
    done.push(dir);
  }
  return done;
}
