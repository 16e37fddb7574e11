import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ensureSubids, FileStore, readSubidPool, writeFileAtomic } from '../src/host.js';

describe('host I/O (tmp files, no root)', () => {
  test('writeFileAtomic replaces content, leaves no temp files, sets mode', async () => {
    const d = await mkdtemp(join(tmpdir(), 'idmap-'));
    const p = join(d, 'state.json');
    await writeFileAtomic(p, 'one');
    await writeFileAtomic(p, 'two', 0o640);
    expect(await readFile(p, 'utf8')).toBe('two');
    expect((await stat(p)).mode & 0o777).toBe(0o640);
    expect(await readdir(d)).toEqual(['state.json']);
  });
  test('writeFileAtomic names the path when the dir is missing', async () => {
    await expect(writeFileAtomic('/nonexistent-dir/x.json', 'x')).rejects.toThrow(/cannot write \/nonexistent-dir\/x.json atomically/);
  });
  test('FileStore: undefined before the first write', async () => {
    const d = await mkdtemp(join(tmpdir(), 'idmap-'));
    const s = new FileStore(join(d, 's.json'));
    expect(await s.read()).toBeUndefined();
    await s.write('{}');
    expect(await s.read()).toBe('{}');
  });
  test('ensureSubids appends entries and returns the pool; idempotent', async () => {
    const d = await mkdtemp(join(tmpdir(), 'idmap-'));
    const subuidPath = join(d, 'subuid');
    const subgidPath = join(d, 'subgid');
    await writeFile(subuidPath, 'alice:100000:65536\n');
    const pool = await ensureSubids({ subuidPath, subgidPath, size: 655360 });
    expect(pool).toEqual({ uid: { start: 165536, count: 655360 }, gid: { start: 100000, count: 655360 } });
    expect(await readFile(subuidPath, 'utf8')).toBe('alice:100000:65536\nsysbox:165536:655360\n');
    expect(await ensureSubids({ subuidPath, subgidPath })).toEqual(pool);
    expect(await readSubidPool({ subuidPath, subgidPath })).toEqual(pool);
    await expect(readSubidPool({ subuidPath, subgidPath, user: 'bob' })).rejects.toThrow(/has no entry for "bob"/);
  });
});

describe('withShadowLock', () => {
  test('serialises holders, removes a stale lock, times out on a live one', async () => {
    const { withShadowLock } = await import('../src/host.js');
    const d = await mkdtemp(join(tmpdir(), 'idmap-lock-'));
    const p = join(d, 'subuid');
    const order: string[] = [];
    await Promise.all(
      ['a', 'b', 'c'].map((n) =>
        withShadowLock(p, async () => {
          order.push(`${n}+`);
          await new Promise((r) => setTimeout(r, 20));
          order.push(`${n}-`);
        }),
      ),
    );
    for (let i = 0; i < order.length; i += 2) expect(order[i]!.slice(0, 1)).toBe(order[i + 1]!.slice(0, 1));
    expect(await readdir(d)).toEqual([]);
    await writeFile(`${p}.lock`, '999999999'); // dead pid: stale
    expect(await withShadowLock(p, async () => 7)).toBe(7);
    await writeFile(`${p}.lock`, '1'); // init holds it
    await expect(withShadowLock(p, async () => 0, 120)).rejects.toThrow(`cannot lock ${p}: ${p}.lock is held by pid 1`);
  });
});
