// `delete` (when the front door, native/csrc/sysbox-runc.c, doesn't take it): the engine's delete, then
// sysbox's: sysbox-mgr tears the container down (its sysbox-fs views, staged mounts, ID range), our record goes.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ParsedArgs } from '../cli.js';
import type { Context } from '../context.js';
import { daemonTimeoutMs } from '../daemons.js';
import { runEngine } from '../engine.js';
import { removeStateDir } from '../state.js';

export async function cleanupContainer(ctx: Context, id: string): Promise<void> {
  const dir = ctx.stateDir(id);
  if (!existsSync(dir)) return;
  const clog = ctx.log.child({ containerId: id });
  // mgr drops the container's sysbox-fs views, unstages its mounts and releases its range.
  try {
    const { connectMgr } = await import('@sysbox/ipc');
    const mgr = await connectMgr({ socketPath: ctx.mgrSocket, deadlineMs: daemonTimeoutMs(ctx) });
    try {
      await mgr.unregister({ containerId: id });
    } finally {
      mgr.close();
    }
  } catch (e) {
    // The engine's container is gone. mgr reclaims the range itself once our state dir (its liveness path) is
    // removed below. Say so, don't fail.
    clog.warn({ err: (e as Error).message }, `could not release the ID range of ${id} with sysbox-mgr; sysbox-mgr reclaims it when it next checks liveness`);
  }
  clog.debug({}, 'sysbox-fs detached, mgr released');
  removeStateDir(dir);
}

/** The engine's delete --force, then sysbox's cleanup (a container that ran to its end, or one we give up on). */
export async function removeContainer(ctx: Context, id: string): Promise<void> {
  await runEngine(ctx, [...ctx.engineGlobals(), 'delete', '--force', id], { fds: 'ignore' });
  await cleanupContainer(ctx, id);
}

export async function del(ctx: Context, parsed: ParsedArgs): Promise<number> {
  const id = parsed.positionals[0];
  if (!id) throw new Error('delete: missing container id');
  const { code } = await runEngine(ctx, [...ctx.engineGlobals(), 'delete', ...parsed.flagTokens, ...parsed.positionals]);
  ctx.log.child({ containerId: id }).debug({ code }, 'engine delete done');
  if (!existsSync(join(ctx.engineRoot, id))) await cleanupContainer(ctx, id);
  return code;
}
