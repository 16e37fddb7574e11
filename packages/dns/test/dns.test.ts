import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { aliasResolvConf, aliasRules, defaultGateway, DOCKER_DNS, dockerResolvConf, nameservers, planDnsAlias } from '../src/index.js';

// iptables-nft-save -t nat of a container on a user-defined network: Docker 20.10's embedded DNS rules (fixtures/README.md)
const SAVE = readFileSync(new URL('./fixtures/docker-embedded-dns.nat', import.meta.url), 'utf8');

// /proc/net/route of a container on 172.18.0.0/16 (gateway 172.18.0.1), little-endian host
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
`;
const NO_DEFAULT = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
`;

describe('nameservers', () => {
  it('lists the nameserver lines in order, ignoring comments and options', () => {
    expect(nameservers('# generated\nsearch example\nnameserver 127.0.0.11\noptions ndots:0\n  nameserver 10.0.0.2 # x\n#nameserver 1.1.1.1\n')).toEqual([
      '127.0.0.11',
      '10.0.0.2',
    ]);
    expect(nameservers('')).toEqual([]);
  });
});

describe('defaultGateway', () => {
  it('reads the up default route with a gateway (little-endian hex)', () => {
    expect(defaultGateway(ROUTE)).toBe('172.18.0.1');
  });
  it('big-endian hosts print the address in network order', () => {
    expect(defaultGateway(ROUTE.replace('010012AC', 'AC120001'), false)).toBe('172.18.0.1');
  });
  it('none without a default route, without RTF_GATEWAY or when down; the lowest metric wins', () => {
    expect(defaultGateway(NO_DEFAULT)).toBeUndefined();
    expect(defaultGateway(ROUTE.replace('\t0003\t', '\t0001\t'))).toBeUndefined();
    expect(defaultGateway(ROUTE.replace('\t0003\t', '\t0002\t'))).toBeUndefined();
    const two = `${ROUTE}eth1\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n`.replace('\t0003\t0\t0\t0\t00000000', '\t0003\t0\t0\t100\t00000000');
    expect(defaultGateway(two)).toBe('192.168.1.1');
    expect(defaultGateway('')).toBeUndefined();
  });
});

describe('planDnsAlias', () => {
  it('aliases when resolv.conf names 127.0.0.11 and there is a default route', () => {
    expect(planDnsAlias({ resolvConf: 'nameserver 127.0.0.11\noptions ndots:0\n', route: ROUTE })).toEqual({ action: 'alias', gateway: '172.18.0.1' });
  });
  it('does nothing when resolv.conf does not name it, or is absent (and then reads no route)', () => {
    const never = () => {
      throw new Error('route read');
    };
    expect(planDnsAlias({ resolvConf: 'nameserver 10.0.0.2\n', route: never })).toMatchObject({ action: 'none' });
    expect(planDnsAlias({ resolvConf: 'nameserver 127.0.0.11\n', route: () => ROUTE })).toEqual({ action: 'alias', gateway: '172.18.0.1' });
    expect(planDnsAlias({ resolvConf: undefined, route: ROUTE })).toMatchObject({ action: 'none' });
  });
  it('skips without a default route (sysbox#834)', () => {
    expect(planDnsAlias({ resolvConf: `nameserver ${DOCKER_DNS}\n`, route: NO_DEFAULT })).toMatchObject({ action: 'skip', reason: expect.stringContaining('no default route') });
  });
});

describe('aliasRules', () => {
  it("rewrites Docker's rules to the gateway and adds the PREROUTING jump after the OUTPUT one", () => {
    const r = aliasRules(SAVE, '172.18.0.1');
    expect(r.aliased).toBe(2);
    expect(r.prerouting).toBe(true);
    const rules = r.rules.split('\n').filter((l) => l.startsWith('-A '));
    expect(rules).toEqual([
      '-A OUTPUT -d 172.18.0.1/32 -j DOCKER_OUTPUT',
      '-A PREROUTING -d 172.18.0.1/32 -j DOCKER_OUTPUT',
      '-A POSTROUTING -d 172.18.0.1/32 -j DOCKER_POSTROUTING',
      // the resolver still listens on 127.0.0.11: the DNAT target stays
      '-A DOCKER_OUTPUT -d 172.18.0.1/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.11:39999',
      '-A DOCKER_OUTPUT -d 172.18.0.1/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:51234',
      '-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p tcp -m tcp --sport 39999 -j SNAT --to-source 172.18.0.1:53',
      '-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p udp -m udp --sport 51234 -j SNAT --to-source 172.18.0.1:53',
    ]);
    // table header, chains, COMMIT kept
    expect(r.rules.split('\n').filter((l) => !l.startsWith('-A '))).toEqual(SAVE.split('\n').filter((l) => !l.startsWith('-A ')));
  });
  it('a second pass finds nothing left to alias and changes nothing', () => {
    const once = aliasRules(SAVE, '172.18.0.1').rules;
    expect(aliasRules(once, '172.18.0.1')).toEqual({ rules: once, aliased: 0, prerouting: false });
  });
  it('rules without embedded-DNS DNAT come back unchanged', () => {
    const plain = '*nat\n:PREROUTING ACCEPT [0:0]\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n';
    expect(aliasRules(plain, '172.18.0.1')).toEqual({ rules: plain, aliased: 0, prerouting: false });
  });
  it('does not touch addresses that merely start like 127.0.0.11', () => {
    const s = `${SAVE}`.replace('COMMIT', '-A OUTPUT -d 127.0.0.110/32 -j ACCEPT\nCOMMIT');
    expect(aliasRules(s, '172.18.0.1').rules).toContain('-A OUTPUT -d 127.0.0.110/32 -j ACCEPT');
  });
  it('reports a missing OUTPUT jump (no PREROUTING jump could follow it)', () => {
    const r = aliasRules(SAVE.replace('-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT\n', ''), '172.18.0.1');
    expect(r.aliased).toBe(2);
    expect(r.prerouting).toBe(false);
  });
  it('refuses a gateway that is not an IPv4 address', () => {
    expect(() => aliasRules(SAVE, '172.18.0.1 -j ACCEPT')).toThrow(/IPv4/);
  });
});

describe('aliasResolvConf', () => {
  it('names the gateway instead of 127.0.0.11, other lines untouched', () => {
    const text = 'search example.org\nnameserver 127.0.0.11\noptions ndots:0 # 127.0.0.11\n';
    expect(aliasResolvConf(text, '172.18.0.1')).toBe('search example.org\nnameserver 172.18.0.1\noptions ndots:0 # 127.0.0.11\n');
    expect(aliasResolvConf('nameserver 127.0.0.111\n', '172.18.0.1')).toBe('nameserver 127.0.0.111\n');
  });
});

describe('dockerResolvConf', () => {
  const id = '0123abcd';
  const docker = { destination: '/etc/resolv.conf', type: 'bind', source: `/var/lib/docker/containers/${id}/resolv.conf`, options: ['rbind', 'rprivate'] };
  it("finds Docker's own file for this container (any data-root)", () => {
    expect(dockerResolvConf([{ destination: '/proc', type: 'proc', source: 'proc' }, docker], id)).toBe(docker.source);
    expect(dockerResolvConf([{ ...docker, type: 'none', source: `/srv/docker/containers/${id}/resolv.conf` }], id)).toBe(`/srv/docker/containers/${id}/resolv.conf`);
  });
  it("anything else is not rewritten: the image's file, a user's bind, another container's, a non-bind", () => {
    expect(dockerResolvConf([], id)).toBeUndefined();
    expect(dockerResolvConf(undefined, id)).toBeUndefined();
    expect(dockerResolvConf([{ ...docker, source: '/etc/resolv.conf' }], id)).toBeUndefined();
    expect(dockerResolvConf([{ ...docker, source: '/var/lib/docker/containers/other/resolv.conf' }], id)).toBeUndefined();
    expect(dockerResolvConf([{ ...docker, source: `/var/lib/docker/containers/${id}/../x/containers/${id}/resolv.conf` }], id)).toBeUndefined();
    expect(dockerResolvConf([{ destination: '/etc/resolv.conf', type: 'tmpfs', source: 'tmpfs' }], id)).toBeUndefined();
  });
  it('the last mount at /etc/resolv.conf wins', () => {
    expect(dockerResolvConf([docker, { ...docker, source: '/home/u/resolv.conf' }], id)).toBeUndefined();
  });
});
