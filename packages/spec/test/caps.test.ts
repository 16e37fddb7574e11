import { describe, expect, test } from 'vitest';
import { ALL_CAPS, DOCKER_DEFAULT_CAPS, capsFromMask } from '../src/caps.js';

describe('capsFromMask', () => {
  test.each([
    [0n, []],
    [1n, ['CAP_CHOWN']],
    [0b101n, ['CAP_CHOWN', 'CAP_DAC_READ_SEARCH']],
    [1n << 21n, ['CAP_SYS_ADMIN']],
    [1n << 40n, ['CAP_CHECKPOINT_RESTORE']],
    [1n << 45n, ['CAP_45']],
    [-1n, []],
  ] as const)('%s', (mask, names) => {
    expect(capsFromMask(mask)).toEqual(names);
  });

  test("this host's CapBnd 000001fffeffffff lacks only CAP_SYS_RESOURCE", () => {
    const caps = capsFromMask(BigInt('0x000001fffeffffff'));
    expect(caps).toHaveLength(40);
    expect(ALL_CAPS.filter((c) => !caps.includes(c))).toEqual(['CAP_SYS_RESOURCE']);
  });

  test('full mask gives the whole table in bit order', () => {
    expect(capsFromMask((1n << BigInt(ALL_CAPS.length)) - 1n)).toEqual([...ALL_CAPS]);
  });

  test('Docker defaults are 14 known names', () => {
    expect(DOCKER_DEFAULT_CAPS).toHaveLength(14);
    for (const c of DOCKER_DEFAULT_CAPS) expect(ALL_CAPS).toContain(c);
  });
});
