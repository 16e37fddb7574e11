// Root, the real kernel: Docker's embedded DNS aliased in a network namespace of our own (no Docker, no traffic: a
// dummy interface with a default route, and the NAT rules Docker's embedded DNS puts in a container's namespace).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { aliasDockerDns, DnsAliasError } from '../src/dns.js';
import type { Context } from '../src/context.js';

const isRoot = process.getuid?.() === 0 && existsSync('/usr/sbin/iptables-restore');
const dir = mkdtempSync(join(tmpdir(), 'runc-dns-int-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { debug() {}, info() {}, warn() {}, error() {}, close() {}, child: () => quiet };
const ctxWith = (env: Record<string, string> = {}) => ({ env: (n: string) => env[n], log: quiet }) as unknown as Context;

/** Docker's embedded-DNS rules in a container's namespace (the fixture of @sysbox/dns's tests) */
const DOCKER_RULES = readFileSync(new URL('../../../packages/dns/test/fixtures/docker-embedded-dns.nat', import.meta.url), 'utf8');
const sleepers: ChildProcess[] = [];
afterEach(() => {
  for (const s of sleepers.splice(0)) s.kill('SIGKILL');
});

/** A process in a network namespace of its own: with a default route via 10.250.0.1 and Docker's rules, or bare. */
async function netns(o: { route: boolean; rules: boolean }): Promise<number> {
  const s = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
  sleepers.push(s);
  await new Promise((r) => setTimeout(r, 150));
  const pid = s.pid!;
  const inNs = (...argv: string[]) => execFileSync('nsenter', ['-t', String(pid), '-n', ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  if (o.route) {
    inNs('ip', 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
    inNs('ip', 'addr', 'add', '10.250.0.2/24', 'dev', 'd0');
    inNs('ip', 'link', 'set', 'd0', 'up');
    inNs('ip', 'link', 'set', 'd1', 'up');
    inNs('ip', 'route', 'add', 'default', 'via', '10.250.0.1');
  }
  if (o.rules) execFileSync('nsenter', ['-t', String(pid), '-n', 'iptables-restore'], { input: DOCKER_RULES });
  return pid;
}

const natOf = (pid: number) => execFileSync('nsenter', ['-t', String(pid), '-n', 'iptables-save', '-t', 'nat'], { encoding: 'utf8' });
const localnetOf = (pid: number) => execFileSync('nsenter', ['-t', String(pid), '-n', 'cat', '/proc/sys/net/ipv4/conf/all/route_localnet'], { encoding: 'utf8' }).trim();

/** Docker's resolv.conf for a container, in a state dir of our own */
function resolvConf(id: string, text: string): { path: string; work: string } {
  const c = join(dir, 'containers', id);
  mkdirSync(c, { recursive: true });
  writeFileSync(join(c, 'resolv.conf'), text);
  const work = join(dir, 'state', id);
  mkdirSync(work, { recursive: true });
  return { path: join(c, 'resolv.conf'), work };
}

describe.runIf(isRoot)('aliasDockerDns (root, a network namespace of our own)', () => {
  test("aliases Docker's embedded DNS to the default gateway: rules, route_localnet, resolv.conf", async () => {
    const pid = await netns({ route: true, rules: true });
    const f = resolvConf('a1', 'search example.org\nnameserver 127.0.0.11\noptions ndots:0\n');
    const hostLocalnet = readFileSync('/proc/sys/net/ipv4/conf/all/route_localnet', 'utf8');
    const r = await aliasDockerDns(ctxWith(), { containerId: 'a1', initPid: pid, resolvConf: f.path, workDir: f.work });
    expect(r).toEqual({ action: 'alias', gateway: '10.250.0.1', aliased: 2 });
    const nat = natOf(pid);
    expect(nat).toContain('-A PREROUTING -d 10.250.0.1/32 -j DOCKER_OUTPUT');
    expect(nat).toContain('-A DOCKER_OUTPUT -d 10.250.0.1/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:51234');
    expect(nat).toContain('--to-source 10.250.0.1:53');
    expect(nat).not.toContain('-d 127.0.0.11');
    expect(localnetOf(pid)).toBe('1');
    expect(readFileSync('/proc/sys/net/ipv4/conf/all/route_localnet', 'utf8')).toBe(hostLocalnet);
    expect(readFileSync(f.path, 'utf8')).toBe('search example.org\nnameserver 10.250.0.1\noptions ndots:0\n');
    expect(readdirSync(f.work)).toEqual([]); // the rules file is gone
  });

  test('nothing changes when resolv.conf does not name 127.0.0.11, without a default route, or without the rules', async () => {
    const routed = await netns({ route: true, rules: true });
    const other = resolvConf('n1', 'nameserver 10.0.0.2\n');
    expect(await aliasDockerDns(ctxWith(), { containerId: 'n1', initPid: routed, resolvConf: other.path, workDir: other.work })).toMatchObject({ action: 'none' });
    expect(readFileSync(other.path, 'utf8')).toBe('nameserver 10.0.0.2\n');
    expect(natOf(routed)).toContain('-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT');
    // the image's own resolv.conf (no Docker file): never read or rewritten
    expect(await aliasDockerDns(ctxWith(), { containerId: 'n1', initPid: routed, resolvConf: undefined, workDir: other.work })).toMatchObject({ action: 'none' });

    const bare = await netns({ route: false, rules: true });
    const noRoute = resolvConf('n2', 'nameserver 127.0.0.11\n');
    expect(await aliasDockerDns(ctxWith(), { containerId: 'n2', initPid: bare, resolvConf: noRoute.path, workDir: noRoute.work })).toMatchObject({ action: 'skip' });
    expect(readFileSync(noRoute.path, 'utf8')).toBe('nameserver 127.0.0.11\n');

    const noRules = await netns({ route: true, rules: false });
    const f = resolvConf('n3', 'nameserver 127.0.0.11\n');
    expect(await aliasDockerDns(ctxWith(), { containerId: 'n3', initPid: noRules, resolvConf: f.path, workDir: f.work })).toMatchObject({ action: 'none', reason: expect.stringContaining('no rules') });
    expect(readFileSync(f.path, 'utf8')).toBe('nameserver 127.0.0.11\n');
    expect(localnetOf(noRules)).toBe('0');
  });

  test('fails closed: a host tool that fails refuses with one line naming the container and why; nothing rewritten', async () => {
    const pid = await netns({ route: true, rules: true });
    const f = resolvConf('f1', 'nameserver 127.0.0.11\n');
    const save = aliasDockerDns(ctxWith({ SYSBOX_IPTABLES_SAVE: '/bin/false' }), { containerId: 'f1', initPid: pid, resolvConf: f.path, workDir: f.work });
    await expect(save).rejects.toBeInstanceOf(DnsAliasError);
    await expect(save).rejects.toThrow(/^cannot alias Docker's embedded DNS \(127\.0\.0\.11\) of container f1 to its gateway 10\.250\.0\.1: \/bin\/false -t nat in its network namespace failed/);
    const restore = aliasDockerDns(ctxWith({ SYSBOX_IPTABLES_RESTORE: join(dir, 'no-such-iptables-restore') }), { containerId: 'f1', initPid: pid, resolvConf: f.path, workDir: f.work });
    await expect(restore).rejects.toThrow(/of container f1 to its gateway 10\.250\.0\.1: .*no-such-iptables-restore in its network namespace failed: .*No such file/);
    for (const e of [await save.catch((x: Error) => x), await restore.catch((x: Error) => x)]) expect((e as Error).message).not.toContain('\n');
    expect(readFileSync(f.path, 'utf8')).toBe('nameserver 127.0.0.11\n');
    expect(natOf(pid)).toContain('-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT');
    expect(readdirSync(f.work)).toEqual([]);
  });
});
