import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { SpecError, SysboxSpecError } from '../src/errors.js';
import { convertProcess, convertSpec } from '../src/modifiers/index.js';
import { validateSpec, parseSpec } from '../src/validate.js';
import { CTX, FIXTURES } from './helpers.js';

const DELETE = Symbol('delete');
type Json = unknown;

/** Every path (list of keys) to a node of a JSON value. */
function paths(v: Json, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

function mutate(root: Json, path: Array<string | number>, value: unknown): Json {
  if (path.length === 0) return value === DELETE ? {} : value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node: Record<string | number, unknown> = copy;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (value === DELETE) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

/** Only a result or the library's own error types. */
function outcome(fn: () => unknown, allowed: Array<new (...a: never[]) => Error>): 'ok' | 'typed-error' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (allowed.some((C) => e instanceof C)) return 'typed-error';
    throw e;
  }
}

const names = Object.keys(FIXTURES);
const replacement = fc.oneof(
  fc.constant(DELETE),
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, -1, 0, 2 ** 32, 1.5, '', 'CAP_SYS_RESOURCE', '/proc/1/ns/net', [], {}, true),
);

const seen = { invalid: 0, converted: 0, refused: 0 };

/** Validates, converts if valid (and checks the output validates), converts the process for exec. */
function pipeline(value: unknown): void {
  const r = validateSpec(value);
  if (!r.ok) seen.invalid++;
  expect(typeof r.ok).toBe('boolean');
  if (!r.ok) {
    for (const p of r.problems) {
      expect(typeof p.path).toBe('string');
      expect(p.message.length).toBeGreaterThan(0);
    }
    return;
  }
  const o = outcome(() => {
    const { spec } = convertSpec(r.spec, CTX);
    const again = validateSpec(spec);
    expect(again.ok ? [] : again.problems).toEqual([]);
    if (r.spec.process) convertProcess(r.spec.process, CTX);
  }, [SysboxSpecError]);
  seen[o === 'ok' ? 'converted' : 'refused']++;
}

describe('property: only a result or the typed error', () => {
  test('validateSpec on arbitrary values never throws', () => {
    fc.assert(fc.property(fc.anything(), (v) => void validateSpec(v)), { numRuns: 2000 });
  });

  test('parseSpec on arbitrary text throws only SpecError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (t) => void outcome(() => parseSpec(t), [SpecError])), { numRuns: 2000 });
  });

  test('parseSpec on arbitrary JSON throws only SpecError', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => void outcome(() => parseSpec(JSON.stringify(v)), [SpecError])), { numRuns: 2000 });
  });

  test('mutated captured configs: validate, convert, validate again', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.array(fc.tuple(fc.nat(), replacement), { minLength: 1, maxLength: 4 }),
        (name, edits) => {
          let v: Json = FIXTURES[name];
          for (const [i, value] of edits) {
            const all = paths(v);
            v = mutate(v, all[i % all.length]!, value);
          }
          outcome(() => parseSpec(JSON.stringify(v)), [SpecError]);
          pipeline(v);
        },
      ),
      { numRuns: 3000 },
    );
    // the generator reaches all three outcomes
    expect(seen.invalid).toBeGreaterThan(100);
    expect(seen.converted).toBeGreaterThan(100);
    expect(seen.refused).toBeGreaterThan(10);
  });

  test('truncated config.json text gives SpecError', () => {
    const texts = names.map((n) => JSON.stringify(FIXTURES[n]));
    fc.assert(
      fc.property(fc.constantFrom(...texts), fc.nat(), (t, cut) => {
        const r = outcome(() => parseSpec(t.slice(0, cut % t.length)), [SpecError]);
        expect(r).toBe('typed-error');
      }),
      { numRuns: 500 },
    );
  });
});
