// One logger per invocation, written only to --log (never to the container's stdio). Docker reads runtime errors from
// that file as JSON lines with `level`, `msg`, `time` (logrus' shape), so pino is set up to write exactly those keys;
// `--log-format text` writes logrus' text lines. pino is loaded on the first line: most invocations never log.
import type { Logger } from 'pino';
import { appendFileSync } from 'node:fs';
import { requireLazily } from './require.js';

export interface LogSettings {
  file?: string | undefined;
  format?: 'text' | 'json';
  debug?: boolean;
}

export interface Log {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  child(bindings: object): Log;
  /** flushes and closes the file (the create server closes each invocation's log when it is over) */
  close(): void;
}

/** A logger for these settings; `--debug` lines carry `t`, ms since `t0` (performance.now()). */
export function makeLog(opts: LogSettings, t0 = 0): Log {
  let root: Logger | undefined;
  let closeFile: (() => void) | undefined;
  const pinoRoot = (): Logger => {
    if (root) return root;
    const pino = requireLazily('pino') as typeof import('pino');
    const dest = pino.destination({ dest: opts.file ?? '/dev/null', sync: true, append: true, mkdir: false });
    const base = {
      base: null,
      level: opts.debug ? 'debug' : 'info',
      messageKey: 'msg',
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: { level: (label: string) => ({ level: label }) },
    };
    root = pino.default ? pino.default(base, dest) : (pino as unknown as typeof pino.default)(base, dest);
    closeFile = () => dest.end();
    return root;
  };
  const make = (bindings: object): Log => {
    const l = (): Logger => (Object.keys(bindings).length ? pinoRoot().child(bindings) : pinoRoot());
    const textLine = (level: string, obj: object, msg: string): boolean => {
      if (opts.format === 'json' || !opts.file) return false;
      if (level === 'debug' && !opts.debug) return true;
      const fields = Object.entries({ ...bindings, ...obj })
        .map(([k, v]) => `${k}=${JSON.stringify(typeof v === 'string' ? v : JSON.stringify(v))}`)
        .join(' ');
      appendFileSync(opts.file, `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)}${fields ? ' ' + fields : ''}\n`);
      return true;
    };
    return {
      debug: (o, m) => {
        if (!opts.debug) return;
        const ot = { ...o, t: Math.round((performance.now() - t0) * 10) / 10 };
        if (!textLine('debug', ot, m)) l().debug(ot, m);
      },
      info: (o, m) => void (textLine('info', o, m) || l().info(o, m)),
      warn: (o, m) => void (textLine('warning', o, m) || l().warn(o, m)),
      error: (o, m) => void (textLine('error', o, m) || l().error(o, m)),
      child: (b) => make({ ...bindings, ...b }),
      close: () => closeFile?.(),
    };
  };
  return make({});
}
