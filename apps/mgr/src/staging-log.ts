// The staging modules log through `(obj, msg) => void`; this adapts a pino logger to that.
import type { Logger } from 'pino';

/** The staging module logs through `(obj, msg) => void`; failures and fallbacks are warnings. */
export function stagingLog(log: Logger): (obj: object, msg: string) => void {
  const bound = 'containerId' in log.bindings();
  return (obj, msg) => {
    // A container's child logger carries containerId already: don't write the key twice.
    const o = bound && 'containerId' in obj ? Object.fromEntries(Object.entries(obj).filter(([k]) => k !== 'containerId')) : obj;
    if (/fail|refused|falling back|stale/i.test(msg)) log.warn(o, msg);
    else log.info(o, msg);
  };
}
