// sysbox-runc: runc's command line over an OCI engine. Verbs that need sysbox work (create, run, exec,
// delete) load what they need lazily; every other verb goes straight to the engine, so the common path
// stays a Node start plus one spawn. The container's stdio is never read or written here: it is passed to
// the engine as raw fds, and messages go to --log (and, like runc, one line to fd 2 on failure).
// Docker's creates usually don't start this program: the front door (native/csrc/sysbox-runc.c) sends them to the
// create server (`sysbox-runc serve`, ./server.ts), which runs main() below for each, in a warm process.
import { get, isSet, parseArgs, UsageError, type ParsedArgs } from './cli.js';
import { Context } from './context.js';
import { processInvocation, writeAll, type Invocation } from './invocation.js';
import { makeLog } from './log.js';
import type { CodeCacheHook } from './load.js';

const VERSION = '0.1.0';

const HELP = `NAME:
   sysbox-runc - OCI runtime for system containers (sysbox-ts ${VERSION})

USAGE:
   sysbox-runc [global options] command [command options] [arguments...]

COMMANDS:
   create run start state kill delete exec ps list pause resume events update features spec
   (checkpoint and restore are not supported)
   serve: the create server, a daemon that runs creates in a warm process (sysbox-runc serve --help)

GLOBAL OPTIONS:
   --root value        root directory for container state (default: "/run/sysbox-runc")
   --log value         log file (default: stderr)
   --log-format value  'text' (default) or 'json'
   --debug             debug logging
   --systemd-cgroup    use systemd cgroups (passed to the engine)
   --rootless value    passed to the engine
   --engine value      runc or crun (default: from /etc/sysbox/config.json, else runc)
`;

async function dispatch(ctx: Context, parsed: ParsedArgs): Promise<number> {
  switch (parsed.command) {
    case 'create':
      return (await import('./commands/create.js')).create(ctx, parsed);
    case 'run':
      return (await import('./commands/create.js')).run(ctx, parsed);
    case 'delete':
      return (await import('./commands/delete.js')).del(ctx, parsed);
    case 'exec':
      return (await import('./commands/exec.js')).exec(ctx, parsed);
    case 'state':
      return (await import('./commands/passthrough.js')).state(ctx, parsed);
    case 'features':
    case 'spec':
      return (await import('./commands/passthrough.js')).stateless(ctx, parsed);
    case 'checkpoint':
    case 'restore':
      throw new UsageError(`${parsed.command} is not supported by sysbox-runc (system containers can't be checkpointed)`);
    case 'help':
      writeAll(1, HELP);
      return 0;
    default:
      return (await import('./commands/passthrough.js')).passthrough(ctx, parsed);
  }
}

/**
 * One invocation of the CLI: its exit code. `inv` is this process's (the CLI), or a create the create server
 * (server.ts) runs for a client. Help and version go to stdout (a CLI's own); errors to --log and one line to the
 * invocation's stderr, as runc does.
 */
export async function main(argv: string[], inv: Invocation = processInvocation()): Promise<number> {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    inv.stderr(`sysbox-runc: ${(e as Error).message}\n`);
    return 1;
  }
  const g = parsed.global;
  const format = get(g, 'log-format') ?? 'text';
  if (format !== 'text' && format !== 'json') {
    const msg = `invalid log format: ${format} (use text or json)`;
    makeLog({ file: get(g, 'log'), format: 'text' }).error({}, msg);
    inv.stderr(`${msg}\n`);
    return 1;
  }
  if (isSet(g, 'version')) {
    writeAll(1, `sysbox-runc version ${VERSION}\nspec: 1.2.0\n`);
    return 0;
  }
  if (isSet(g, 'help') || parsed.command === undefined) {
    if (parsed.command === undefined && !isSet(g, 'help')) {
      inv.stderr(HELP);
      return 1;
    }
    writeAll(1, HELP);
    return 0;
  }
  let ctx: Context | undefined;
  try {
    ctx = new Context(parsed, inv);
    const code = await dispatch(ctx, parsed);
    // dist/load.cjs keeps the code a create compiled for the next ones (see load.ts)
    if (code === 0 && parsed.command === 'create' && !inv.served) (globalThis as { sysboxCodeCache?: CodeCacheHook }).sysboxCodeCache?.save();
    return code;
  } catch (e) {
    // Like runc: the error goes to --log (where Docker reads it) and one line to the caller's stderr.
    const err = e as Error;
    const log = ctx?.log ?? makeLog({ file: get(g, 'log'), format });
    log.error(err.name !== 'Error' ? { kind: err.name } : {}, err.message);
    inv.stderr(`${err.message}\n`);
    return 1;
  } finally {
    ctx?.log.close();
  }
}

const argv = process.argv.slice(2);
// `sysbox-runc serve ...` (not a runc verb): the create server, a daemon (see server.ts)
const program = argv[0] === 'serve' ? import('./server.js').then((s) => s.serveMain(argv.slice(1), main)) : main(argv);
program.then(
  (code) => {
    if (code !== undefined) process.exit(code);
  },
  (e: unknown) => {
    writeAll(2, `sysbox-runc: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
