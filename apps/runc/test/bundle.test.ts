import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';

// The built CLI (dist/): main.cjs, run by load.cjs from a V8 code cache taken after a create (src/load.ts).
const dist = join(__dirname, '..', 'dist');
const built = existsSync(join(dist, 'main.cjs')) && existsSync(join(dist, 'load.cjs'));
const cacheDir = mkdtempSync(join(tmpdir(), 'runc-cache-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

describe.skipIf(!built)('the built CLI (needs pnpm build)', () => {
  test('main.cjs has no import() left (vm.Script runs it without an ESM loader)', () => {
    const text = readFileSync(join(dist, 'main.cjs'), 'utf8');
    expect(text.match(/\bimport\(\s*["'`][^"'`]*["'`]\s*\)/g) ?? []).toEqual([]);
  });

  test("neither @grpc/grpc-js nor node:http2 is in it (@sysbox/ipc's client is HTTP/2 written on node:net)", () => {
    const text = readFileSync(join(dist, 'main.cjs'), 'utf8');
    expect(text).not.toContain('@grpc/grpc-js');
    expect(text).not.toMatch(/require\(["'](node:)?http2["']\)/);
  });

  test('load.cjs runs it, with and without a cache dir; a verb other than create writes no cache', () => {
    const run = (env: Record<string, string>, ...args: string[]) =>
      execFileSync(process.execPath, [join(dist, 'load.cjs'), ...args], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', ...env } });
    expect(run({}, '--version')).toMatch(/^sysbox-runc version /);
    expect(run({ NODE_COMPILE_CACHE: cacheDir }, '--version')).toMatch(/^sysbox-runc version /);
    expect(readdirSync(cacheDir).filter((f) => f.startsWith('sysbox-runc-'))).toEqual([]);
  });
});
