// sysbox-mgr: flags, logging, signals and the process lifetime; the service itself is in service.ts.
import { makeLogger, startDaemon, StartError } from './daemon.js';
import { parseFlags, USAGE, UsageError } from './flags.js';

function fail(msg: string): never {
  process.stderr.write(`sysbox-mgr: ${msg}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) fail(err.message);
    throw err;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return;
  }
  const { log, flush } = makeLogger(flags);
  let daemon;
  try {
    daemon = await startDaemon(flags, { log });
  } catch (err) {
    const msg = err instanceof StartError ? err.message : `startup failed: ${(err as Error).stack ?? String(err)}`;
    log.fatal(msg);
    flush();
    process.stderr.write(`sysbox-mgr: ${msg.split('\n')[0]}\n`);
    process.exit(1);
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

await main();
