// runc's command line, as containerd-shim-runc-v2 and podman call it (urfave/cli rules: `--flag value`,
// `--flag=value`, `-flag`, short aliases; boolean flags take no value unless written `--flag=true`).
// The one source of the grammar: the front door (native/csrc/sysbox-runc.c) reads the same tables, generated from
// these into native/csrc/runc-grammar.h (./grammar.ts; a test regenerates and diffs).

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagDef {
  names: string[];
  value: boolean; // takes a value
  multi?: boolean;
}

function flag(names: string, value: boolean, multi = false): FlagDef {
  return { names: names.split(','), value, multi };
}

export const GLOBAL_FLAGS: FlagDef[] = [
  flag('debug', false),
  flag('log', true),
  flag('log-format', true),
  flag('root', true),
  flag('criu', true),
  flag('systemd-cgroup', false),
  flag('rootless', true),
  flag('engine', true),
  flag('help,h', false),
  flag('version,v', false),
];

const CREATE_FLAGS = [
  flag('bundle,b', true),
  flag('console-socket', true),
  flag('pid-file', true),
  flag('no-pivot', false),
  flag('no-new-keyring', false),
  flag('preserve-fds', true),
];

export const COMMANDS: Record<string, FlagDef[]> = {
  create: CREATE_FLAGS,
  run: [...CREATE_FLAGS, flag('detach,d', false), flag('keep', false), flag('no-subreaper', false)],
  start: [],
  state: [],
  kill: [flag('all,a', false)],
  delete: [flag('force,f', false)],
  exec: [
    flag('console-socket', true),
    flag('cwd', true),
    flag('env,e', true, true),
    flag('tty,t', false),
    flag('user,u', true),
    flag('additional-gids,g', true, true),
    flag('process,p', true),
    flag('detach,d', false),
    flag('pid-file', true),
    flag('process-label', true),
    flag('apparmor', true),
    flag('no-new-privs', false),
    flag('cap,c', true, true),
    flag('preserve-fds', true),
    flag('cgroup', true, true),
    flag('ignore-paused', false),
    flag('no-subreaper', false),
  ],
  ps: [flag('format,f', true)],
  list: [flag('format,f', true), flag('quiet,q', false)],
  pause: [],
  resume: [],
  events: [flag('interval', true), flag('stats', false)],
  update: [
    flag('resources,r', true),
    flag('blkio-weight', true),
    flag('cpu-period', true),
    flag('cpu-quota', true),
    flag('cpu-share', true),
    flag('cpu-rt-period', true),
    flag('cpu-rt-runtime', true),
    flag('cpuset-cpus', true),
    flag('cpuset-mems', true),
    flag('kernel-memory', true),
    flag('kernel-memory-tcp', true),
    flag('memory', true),
    flag('memory-reservation', true),
    flag('memory-swap', true),
    flag('pids-limit', true),
    flag('l3-cache-schema', true),
    flag('mem-bw-schema', true),
  ],
  features: [],
  spec: [flag('bundle,b', true), flag('rootless', false)],
  checkpoint: [],
  restore: [],
  help: [],
};

/** Parsed flags: name (first alias) → values as written (booleans as 'true'/'false'). */
export type Flags = Map<string, string[]>;

export interface ParsedArgs {
  /** Global flags (before the command). */
  global: Flags;
  command: string | undefined;
  /** Command flags, parsed. */
  flags: Flags;
  /** Command flag tokens exactly as written, in order, for passing on to the engine. */
  flagTokens: string[];
  /** Positional arguments after the command's flags (container id first, then e.g. a signal or exec's argv). */
  positionals: string[];
}

function findFlag(defs: FlagDef[], name: string): FlagDef | undefined {
  return defs.find((d) => d.names.includes(name));
}

/** Parses flags from argv[i...] until the first positional; returns the index of the first positional. */
function parseFlags(
  argv: string[],
  start: number,
  defs: FlagDef[],
  where: string,
  out: Flags,
  tokens: string[],
): number {
  let i = start;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg === '--') {
      tokens.push(arg);
      return i + 1;
    }
    if (!arg.startsWith('-') || arg === '-') return i;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const def = findFlag(defs, name);
    if (!def) throw new UsageError(`flag provided but not defined: -${name} (${where})`);
    const key = def.names[0]!;
    let value: string;
    if (eq >= 0) {
      value = body.slice(eq + 1);
      tokens.push(arg);
    } else if (def.value) {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`flag needs an argument: -${name} (${where})`);
      value = next;
      tokens.push(arg, next);
      i++;
    } else {
      value = 'true';
      tokens.push(arg);
    }
    const list = out.get(key) ?? [];
    if (def.multi) list.push(value);
    else list.splice(0, list.length, value);
    out.set(key, list);
    i++;
  }
  return i;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const global: Flags = new Map();
  let i = parseFlags(argv, 0, GLOBAL_FLAGS, 'global options', global, []);
  const command = argv[i];
  if (command === undefined) return { global, command: undefined, flags: new Map(), flagTokens: [], positionals: [] };
  const defs = COMMANDS[command];
  if (!defs) throw new UsageError(`No help topic for '${command}': unknown command`);
  const flags: Flags = new Map();
  const flagTokens: string[] = [];
  i = parseFlags(argv, i + 1, defs, `command ${command}`, flags, flagTokens);
  return { global, command, flags, flagTokens, positionals: argv.slice(i) };
}

export function get(flags: Flags, name: string): string | undefined {
  const v = flags.get(name);
  return v === undefined ? undefined : v[v.length - 1];
}

export function isSet(flags: Flags, name: string): boolean {
  const v = get(flags, name);
  return v !== undefined && v !== 'false';
}

/** Rebuilds command flag tokens with some flags replaced (value) or removed (null). */
export function rewriteFlags(parsed: ParsedArgs, replace: Record<string, string | null>): string[] {
  const out: string[] = [];
  const defs = COMMANDS[parsed.command ?? ''] ?? [];
  const toks = parsed.flagTokens;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === '--') {
      out.push(t);
      continue;
    }
    const body = t.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const def = findFlag(defs, name);
    const takesNext = def?.value === true && eq < 0;
    const key = def?.names[0];
    if (key !== undefined && key in replace) {
      if (takesNext) i++;
      continue; // appended below
    }
    out.push(t);
    if (takesNext) out.push(toks[++i]!);
  }
  for (const [key, value] of Object.entries(replace)) {
    if (value !== null) out.push(`--${key}`, value);
  }
  return out;
}
