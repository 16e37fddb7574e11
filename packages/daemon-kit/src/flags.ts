import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The flags every sysbox daemon has. */
export interface CommonFlags {
  socket: string;
  pidFile: string;
  logLevel: LogLevel;
  /** a path, or 'stderr' */
  logFile: string;
  help: boolean;
}

/** The usage lines of the common flags, for a daemon's --help (its defaults filled in). */
export function COMMON_USAGE(defaults: { socket: string; pidFile: string }): string {
  return [
    `  --socket <path>       gRPC unix socket (default ${defaults.socket})`,
    `  --pid-file <path>     pid file (default ${defaults.pidFile})`,
    `  --log-level <level>   ${LOG_LEVELS.join('|')} (default info)`,
    '  --log-file <path>     JSON log file, or "stderr" (default stderr)',
  ].join('\n');
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * The common flags and the daemon's own (`options`, node:util parseArgs style: string values, parsed further by the
 * caller). Errors are UsageError, one line, pointing at `<name> --help`. Paths given must not be empty.
 */
export function parseDaemonFlags<O extends Options>(
  name: string,
  argv: string[],
  defaults: { socket: string; pidFile: string },
  options: O,
): { common: CommonFlags; values: Record<keyof O, string | boolean | undefined> } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        socket: { type: 'string', default: defaults.socket },
        'pid-file': { type: 'string', default: defaults.pidFile },
        'log-level': { type: 'string', default: 'info' },
        'log-file': { type: 'string', default: 'stderr' },
        help: { type: 'boolean', short: 'h', default: false },
        ...options,
      },
    }) as { values: Record<string, string | boolean | undefined> });
  } catch (err) {
    const e = err as { code?: string; message: string };
    const m = /'([^']+)'/.exec(e.message);
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${m?.[1] ?? ''} (see ${name} --help)`);
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument ${m?.[1] ?? ''} (see ${name} --help)`);
    throw new UsageError(`${e.message.split('\n')[0] ?? e.message} (see ${name} --help)`);
  }
  const logLevel = values['log-level'] as string;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join('|')}, got "${logLevel}"`);
  for (const k of ['socket', 'pid-file']) if (!values[k]) throw new UsageError(`--${k} must not be empty`);
  return {
    common: {
      socket: values['socket'] as string,
      pidFile: values['pid-file'] as string,
      logLevel: logLevel as LogLevel,
      logFile: values['log-file'] as string,
      help: values['help'] as boolean,
    },
    values: values as Record<keyof O, string | boolean | undefined>,
  };
}
