import pino, { type Logger } from 'pino';
import type { CommonFlags } from './flags.js';

export interface DaemonLogger {
  log: Logger;
  /** writes what is buffered (at exit) */
  flush(): void;
}

/** The daemon's one logger: pino JSON (`name`, `pid`, ISO time) to a file (async, flushed at exit) or stderr. */
export function makeLogger(name: string, flags: Pick<CommonFlags, 'logFile' | 'logLevel'>): DaemonLogger {
  const dest =
    flags.logFile === 'stderr' ? pino.destination({ fd: 2, sync: true }) : pino.destination({ dest: flags.logFile, sync: false, mkdir: true });
  const log = pino({ level: flags.logLevel, base: { name, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  return {
    log,
    flush() {
      try {
        dest.flushSync();
      } catch {
        /* nothing buffered or already closed */
      }
    },
  };
}
