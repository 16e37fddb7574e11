// One logger per invocation (for the CLI: per process), written only to --log (never to the container's stdio). Docker reads runtime
// errors from that file as JSON lines with `level`, `msg`, `time` (logrus' shape), so pino is set up to
// write exactly those keys. pino is loaded lazily: most invocations never log.
// The settings and the logger belong to the invocation (./invocation.ts): the create server runs many at once,
// each with its own --log.
import type { Logger } from 'pino';
import { appendFileSync } from 'node:fs';
import { invocation, type LogSettings } from './invocation.js';
import { requireLazily } from './require.js';

export type LogOptions = LogSettings;

export function configureLog(o: LogOptions): void {
  const inv = invocation();
  inv.log = o;
  inv.logger = undefined;
}

function root(): Logger {
  const inv = invocation();
  if (inv.logger) return inv.logger as Logger;
  const opts = inv.log;
  const pino = requireLazily('pino') as typeof import('pino');
  const dest = pino.destination({ dest: opts.file ?? '/dev/null', sync: true, append: true, mkdir: false });
  const base = {
    base: null,
    level: opts.debug ? 'debug' : 'info',
    messageKey: 'msg',
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const logger = pino.default ? pino.default(base, dest) : (pino as unknown as typeof pino.default)(base, dest);
  inv.logger = logger;
  inv.closeLog = () => dest.end();
  return logger;
}

export interface Log {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  child(bindings: object): Log;
}

function make(bindings: object): Log {
  const l = (): Logger => (Object.keys(bindings).length ? root().child(bindings) : root());
  const textLine = (level: string, obj: object, msg: string): boolean => {
    const opts = invocation().log;
    if (opts.format === 'json' || !opts.file) return false;
    if (level === 'debug' && !opts.debug) return true;
    const fields = Object.entries({ ...bindings, ...obj })
      .map(([k, v]) => `${k}=${JSON.stringify(typeof v === 'string' ? v : JSON.stringify(v))}`)
      .join(' ');
    appendFileSync(opts.file, `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)}${fields ? ' ' + fields : ''}\n`);
    return true;
  };
  return {
    // Debug lines carry `t`: ms since the invocation started (the CLI's: its process), to see where it spends its time.
    debug: (o, m) => {
      const inv = invocation();
      if (!inv.log.debug) return;
      const ot = { ...o, t: Math.round((performance.now() - inv.t0) * 10) / 10 };
      if (!textLine('debug', ot, m)) l().debug(ot, m);
    },
    info: (o, m) => void (textLine('info', o, m) || l().info(o, m)),
    warn: (o, m) => void (textLine('warning', o, m) || l().warn(o, m)),
    error: (o, m) => void (textLine('error', o, m) || l().error(o, m)),
    child: (b) => make({ ...bindings, ...b }),
  };
}

export const log: Log = make({});
