// The front door (native/csrc/sysbox-runc.c) set up for a test: the built binary copied into a scratch dir with its
// sysbox-runc.conf beside it, naming a fake `node` (a script that prints what it was given) and a fake main.
import { chmodSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BUILT_FRONT_DOOR = join(__dirname, '..', 'node_modules', '@sysbox', 'native', 'bin', 'sysbox-runc');
export const haveFrontDoor = existsSync(BUILT_FRONT_DOOR);

/** A script at dir/name that prints its name, then each argument on its own line. */
export function echoScript(dir: string, name: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\nprintf '%s\\n' "${name}" "$@"\n`);
  chmodSync(p, 0o755);
  return p;
}

/** Installs the front door in dir/bin with its conf; returns its path. */
export function installFrontDoor(dir: string, conf: { node: string; main: string; cache?: string }): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const fd = join(bin, 'sysbox-runc');
  copyFileSync(BUILT_FRONT_DOOR, fd);
  chmodSync(fd, 0o755);
  writeFileSync(join(bin, 'sysbox-runc.conf'), `node=${conf.node}\nmain=${conf.main}\n${conf.cache ? `cache=${conf.cache}\n` : ''}`);
  return fd;
}
