// `exec`: a process spec given with --process gets the system container's capability rules, then the
// engine's exec runs it (its seccomp listener fd reaches sysbox-fs the same way as the init's).
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { get, rewriteFlags, type ParsedArgs } from '../cli.js';
import type { Context } from '../context.js';
import { passFds, runEngine } from '../engine.js';
import { boundingSetMask } from '../host.js';
import { readRecord } from '../state.js';
import { readExecCgroup } from '../cgroups.js';

/**
 * `--cgroup <leaf>` where the container's record names a leaf for exec'd processes (systemd on cgroup v2: the
 * cgroup whose subtree_control systemd manages can't hold processes) and the caller gave no --cgroup.
 */
function execCgroup(ctx: Context, id: string, parsed: ParsedArgs): string[] {
  if (get(parsed.flags, 'cgroup') !== undefined) return [];
  const leaf = readExecCgroup(ctx.stateDir(id));
  return leaf ? ['--cgroup', leaf] : [];
}

export async function exec(ctx: Context, parsed: ParsedArgs): Promise<number> {
  const id = parsed.positionals[0];
  if (!id) throw new Error('exec: missing container id');
  const fds = passFds(Number(get(parsed.flags, 'preserve-fds') ?? 0));
  const processFile = get(parsed.flags, 'process');
  const rec = readRecord(ctx.stateDir(id));
  const leaf = rec ? execCgroup(ctx, id, parsed) : [];
  if (!processFile || !rec) {
    // No process spec to convert (argv form inherits the converted config's process), or not ours.
    return (await runEngine(ctx, [...ctx.engineGlobals(), 'exec', ...leaf, ...parsed.flagTokens, ...parsed.positionals], { fds })).code;
  }
  let proc: unknown;
  try {
    proc = JSON.parse(readFileSync(processFile, 'utf8'));
  } catch (e) {
    throw new Error(`exec: can't read process spec ${processFile}: ${(e as Error).message}`);
  }
  const spec = await import('@sysbox/spec');
  const converted = spec.convertProcess(proc as never, {
    idRange: rec.idRange,
    hostCapabilities: spec.capsFromMask(boundingSetMask()),
    honorCaps: rec.honorCaps === true, // recorded at create (SYSBOX_HONOR_CAPS, config honorCaps, regular mode)
  });
  // Unique per invocation without node:crypto (its import costs ~3 ms on every exec).
  const tmp = join(ctx.stateDir(id), `exec-${process.pid}-${process.hrtime.bigint()}.json`);
  writeFileSync(tmp, JSON.stringify(converted));
  try {
    return (await runEngine(ctx, [...ctx.engineGlobals(), 'exec', ...leaf, ...rewriteFlags(parsed, { process: tmp }), ...parsed.positionals], { fds })).code;
  } finally {
    rmSync(tmp, { force: true });
  }
}
