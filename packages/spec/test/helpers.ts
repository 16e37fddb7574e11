import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ALL_CAPS, capsFromMask } from '../src/caps.js';
import type { ConvertContext } from '../src/modifiers/context.js';
import type { Spec } from '../src/types.js';

export const FIXTURE_DIR = join(import.meta.dirname, 'fixtures');

/** Every captured config.json, by file name without `.json`. */
export const FIXTURES: Record<string, Spec> = Object.fromEntries(
  readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(join(FIXTURE_DIR, f), 'utf8')) as Spec]),
);

export function fixture(name: string): Spec {
  const s = FIXTURES[name];
  if (!s) throw new Error(`no fixture ${name}`);
  return structuredClone(s);
}

export function fixtureText(name: string): string {
  return readFileSync(join(FIXTURE_DIR, `${name}.json`), 'utf8');
}

/** This machine kind's bounding set: everything up to CAP_CHECKPOINT_RESTORE except CAP_SYS_RESOURCE. */
export const HOST_CAPS = capsFromMask(0x000001fffeffffffn);

export const CTX: ConvertContext = {
  idRange: { uid: 165536, gid: 165536, size: 65536 },
  hostCapabilities: HOST_CAPS,
};

export { ALL_CAPS };
