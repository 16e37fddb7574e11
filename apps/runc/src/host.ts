// Facts about the host that the spec conversion needs, read once per invocation.
import { readFileSync } from 'node:fs';

/** The capability bounding set of this process (hex mask from /proc/self/status). */
export function boundingSetMask(): bigint {
  const status = readFileSync('/proc/self/status', 'utf8');
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  if (!m) throw new Error("can't read CapBnd from /proc/self/status");
  return BigInt('0x' + m[1]);
}
