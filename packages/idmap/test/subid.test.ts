import { describe, expect, test } from 'vitest';
import { ensureSubidEntry, findSubidEntry, IdmapError, parseSubid } from '../src/index.js';

describe('parseSubid', () => {
  test('parses entries, skips blanks and comments', () => {
    const e = parseSubid('# c\nalice:100000:65536\n\n1001:165536:65536\n');
    expect(e).toEqual([
      { user: 'alice', start: 100000, count: 65536, line: 2 },
      { user: '1001', start: 165536, count: 65536, line: 4 },
    ]);
  });
  test.each(['alice:1', 'alice:x:1', 'alice:1:2:3', ':1:2', 'alice:4294967295:2'])('rejects %j naming the line', (l) => {
    expect(() => parseSubid(`ok:1:1\n${l}\n`, '/etc/subuid')).toThrow(/\/etc\/subuid line 2/);
    try {
      parseSubid(l);
    } catch (e) {
      expect(e).toBeInstanceOf(IdmapError);
      expect((e as IdmapError).code).toBe('BAD_SUBID');
    }
  });
  test('findSubidEntry by name or uid', () => {
    const t = 'a:100000:10\nsysbox:200000:20\n999:300000:30\n';
    expect(findSubidEntry(t)?.start).toBe(200000);
    expect(findSubidEntry(t, 'other', 999)?.start).toBe(300000);
    expect(findSubidEntry(t, 'none')).toBeUndefined();
  });
});

describe('ensureSubidEntry', () => {
  test('empty file: starts at 100000', () => {
    expect(ensureSubidEntry('')).toBe('sysbox:100000:268435456\n');
  });
  test('appends after the highest existing entry, without overlap', () => {
    const t = 'b:500000:65536\na:100000:65536';
    const out = ensureSubidEntry(t, 'sysbox', 1000);
    expect(out).toBe('b:500000:65536\na:100000:65536\nsysbox:565536:1000\n');
    const entries = parseSubid(out);
    const s = entries.find((e) => e.user === 'sysbox')!;
    for (const e of entries.filter((x) => x.user !== 'sysbox')) {
      expect(s.start >= e.start + e.count || e.start >= s.start + s.count).toBe(true);
    }
  });
  test('unchanged when the user has an entry', () => {
    const t = 'sysbox:100000:65536\n';
    expect(ensureSubidEntry(t)).toBe(t);
  });
  test('refuses when no room is left', () => {
    expect(() => ensureSubidEntry('a:4294900000:60000\n', 'sysbox', 65536, '/etc/subgid')).toThrow(/\/etc\/subgid: no room for 65536 ids for "sysbox"/);
  });
  test('rejects bad size and user', () => {
    expect(() => ensureSubidEntry('', 'sysbox', 0)).toThrow(/positive integer/);
    expect(() => ensureSubidEntry('', 'a:b')).toThrow(/invalid subid user name/);
  });
});
