import type { Logger } from 'pino';
import { StartError, UsageError } from './errors.js';
import type { CommonFlags } from './flags.js';
import { makeLogger } from './logger.js';

export interface RunningDaemon {
  /** stops serving and releases what it holds (its pid file included) */
  stop(): Promise<void>;
}

export interface DaemonSpec<F extends CommonFlags> {
  /** e.g. sysbox-mgr: the prefix of its one-line errors and its logger's name */
  name: string;
  usage: string;
  /** throws UsageError */
  parse(argv: string[]): F;
  /** before the logger exists (e.g. a re-exec with another environment); may not return */
  prepare?(flags: F): void;
  /** throws StartError for a start that can't go on (one line), anything else is logged with its stack */
  start(flags: F, log: Logger): Promise<RunningDaemon>;
}

function fail(name: string, msg: string): never {
  process.stderr.write(`${name}: ${msg}\n`);
  process.exit(1);
}

/**
 * A daemon's main: flags (`--help` prints the usage), the logger, the start (a failure: one line on stderr and in the
 * log, exit 1), then SIGTERM/SIGINT stop it (exit 0, or 1 if the stop failed). An uncaught exception is logged and
 * ends the process (exit 1); an unhandled rejection is logged.
 */
export async function runDaemon<F extends CommonFlags>(spec: DaemonSpec<F>, argv = process.argv.slice(2)): Promise<void> {
  let flags: F;
  try {
    flags = spec.parse(argv);
  } catch (err) {
    if (err instanceof UsageError) fail(spec.name, err.message);
    throw err;
  }
  if (flags.help) {
    process.stdout.write(spec.usage);
    return;
  }
  spec.prepare?.(flags);
  const { log, flush } = makeLogger(spec.name, flags);
  let daemon: RunningDaemon;
  try {
    daemon = await spec.start(flags, log);
  } catch (err) {
    const msg = err instanceof StartError ? err.message : `startup failed: ${(err as Error).stack ?? String(err)}`;
    log.fatal(msg);
    flush();
    fail(spec.name, msg.split('\n')[0]!);
  }
  const onSignal = (sig: NodeJS.Signals) => {
    log.info({ signal: sig }, 'stopping');
    daemon.stop().then(
      () => {
        flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: (err as Error).message }, 'unclean stop');
        flush();
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.on('uncaughtException', (err) => {
    log.fatal({ err: err.stack ?? String(err) }, 'uncaught exception');
    flush();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.error({ err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'unhandled rejection');
  });
}
