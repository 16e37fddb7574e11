import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, test } from 'vitest';
import { parsePrestage, servePrestage } from '../src/prestage-socket.js';
import type { PrestageRequest } from '../src/service.js';

const dir = mkdtempSync(join(tmpdir(), 'prestage-sock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// the launcher's sender (native/csrc/sysbox-runc-prestage.c), built by @sysbox/native
const sender = join(__dirname, '..', 'node_modules', '@sysbox', 'native', 'bin', 'sysbox-runc-prestage');

describe('prestage socket', () => {
  test('parsePrestage: four NUL-terminated fields, the first "prestage"', () => {
    expect(parsePrestage(Buffer.from('prestage\0c1\0/b\0/run/x/c1\0'))).toEqual({ containerId: 'c1', bundle: '/b', livenessPath: '/run/x/c1' });
    expect(parsePrestage(Buffer.from('prestage\0c1\0/b\0/run/x/c1'))).toBeUndefined();
    expect(parsePrestage(Buffer.from('other\0c1\0/b\0/l\0'))).toBeUndefined();
    expect(parsePrestage(Buffer.from('prestage\0c1\0/b\0'))).toBeUndefined();
    expect(parsePrestage(Buffer.alloc(0))).toBeUndefined();
  });

  test.skipIf(!existsSync(sender))('the launcher\'s sender reaches the service; no listener or a bad path is not an error (needs the built sysbox-runc-prestage)', async () => {
    const path = join(dir, 'mgr-prestage.sock');
    const got: PrestageRequest[] = [];
    let done!: () => void;
    const arrived = new Promise<void>((r) => (done = r));
    const server = await servePrestage(path, async (req) => {
      got.push(req);
      done();
      return 'prestaged';
    }, pino({ level: 'silent' }));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    execFileSync(sender, [path, 'c1', '/bundles/c 1', '/run/sysbox-runc/sysbox/c1']);
    await arrived;
    expect(got).toEqual([{ containerId: 'c1', bundle: '/bundles/c 1', livenessPath: '/run/sysbox-runc/sysbox/c1' }]);
    server.close();
    // exits 0 without a listener, with a too long path, with bad usage
    execFileSync(sender, [path, 'c2', '/b', '/l']);
    execFileSync(sender, [join(dir, 'x'.repeat(200)), 'c2', '/b', '/l']);
    execFileSync(sender, []);
  });
});
