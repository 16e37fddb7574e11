// @sysbox/dns: Docker's embedded DNS in a system container, aliased to the container's gateway.
//
// A container on a user-defined Docker network gets `nameserver 127.0.0.11` in its resolv.conf, and NAT rules in its
// network namespace that send 127.0.0.11:53 to Docker's resolver (a socket dockerd opened in that namespace). An
// inner Docker copies resolv.conf into its own containers without loopback nameservers (they would be the inner
// container's own loopback), so inner containers would resolve nothing, not even the outer network's peers.
// Sysbox's answer (sysbox#679), kept here: the resolver is aliased to the container's default gateway. The rules'
// `-d 127.0.0.11` become `-d <gateway>`, the SNAT back from it answers as `<gateway>:53`, packets routed in from
// inner containers take the same DNAT (a PREROUTING jump beside the OUTPUT one), and resolv.conf names the gateway.
// The gateway's address is the host's, but the DNAT happens in the container's namespace: queries never leave it.
// Without a default route (sysbox#834) inner containers can't reach a gateway: nothing is changed.
//
// Everything here is pure text in, text out; the caller reads resolv.conf, /proc/<pid>/net/route and the rules
// (iptables-save in the container's network namespace), and writes the results back (iptables-restore), and must
// also set net.ipv4.conf.all.route_localnet=1 there (a DNAT to 127.0.0.11 of a packet that came in on an interface
// is otherwise dropped as a martian).

/** Docker's embedded DNS server, as containers on user-defined networks see it. */
export const DOCKER_DNS = '127.0.0.11';

/** The network knob the alias needs in the container's namespace (name under /proc/sys/net, value). */
export const ROUTE_LOCALNET: Readonly<{ name: string; value: string }> = Object.freeze({ name: 'ipv4/conf/all/route_localnet', value: '1' });

/** The `nameserver` addresses of a resolv.conf, in order. */
export function nameservers(resolvConf: string): string[] {
  const out: string[] = [];
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}

/** A 32-bit hex field of /proc/net/route (the address in memory order of the host) as a dotted quad. */
function hexToIPv4(hex: string, littleEndian: boolean): string | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
  const bytes = [0, 2, 4, 6].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return (littleEndian ? bytes.reverse() : bytes).join('.');
}

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/**
 * The IPv4 default gateway of a network namespace, from its /proc/net/route (as /proc/<pid>/net/route shows it for
 * a process in that namespace): the up default route with a gateway and the lowest metric; undefined without one.
 * `littleEndian`: the byte order of the host that printed the table (os.endianness() === 'LE').
 */
export function defaultGateway(procNetRoute: string, littleEndian = true): string | undefined {
  let best: { gw: string; metric: number } | undefined;
  for (const line of procNetRoute.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [, dest, gw, flags, , , metric, mask] = f as [string, string, string, string, string, string, string, string];
    if (dest !== '00000000' || mask !== '00000000') continue;
    const fl = Number.parseInt(flags, 16);
    if (!(fl & RTF_UP) || !(fl & RTF_GATEWAY)) continue;
    const ip = hexToIPv4(gw, littleEndian);
    if (!ip || ip === '0.0.0.0') continue;
    const m = Number.parseInt(metric, 10) || 0;
    if (!best || m < best.metric) best = { gw: ip, metric: m };
  }
  return best?.gw;
}

export type DnsAliasPlan =
  /** resolv.conf doesn't name Docker's embedded DNS: nothing to do */
  | { action: 'none'; reason: string }
  /** it does, but there is no default route: nothing inner containers could reach, nothing changed */
  | { action: 'skip'; reason: string }
  /** alias 127.0.0.11 to this gateway */
  | { action: 'alias'; gateway: string };

/**
 * Whether and where to alias Docker's embedded DNS: only when resolv.conf names 127.0.0.11 (absent or unreadable:
 * undefined) and the namespace has a default route (`route`: its /proc/net/route, or how to read it: read only when
 * resolv.conf names 127.0.0.11).
 */
export function planDnsAlias(o: { resolvConf: string | undefined; route: string | (() => string); littleEndian?: boolean }): DnsAliasPlan {
  if (o.resolvConf === undefined) return { action: 'none', reason: 'no resolv.conf' };
  if (!nameservers(o.resolvConf).includes(DOCKER_DNS)) return { action: 'none', reason: `resolv.conf does not list ${DOCKER_DNS}` };
  const gateway = defaultGateway(typeof o.route === 'function' ? o.route() : o.route, o.littleEndian ?? true);
  if (!gateway) return { action: 'skip', reason: `resolv.conf lists ${DOCKER_DNS} but the network namespace has no default route` };
  return { action: 'alias', gateway };
}

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;

function checkIPv4(ip: string, what: string): void {
  if (!IPV4.test(ip)) throw new TypeError(`${what} must be an IPv4 address, got ${JSON.stringify(ip)}`);
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export interface AliasedRules {
  /** the rules to restore (iptables-restore input), unchanged when there was nothing to alias */
  rules: string;
  /** DNAT rules to Docker's resolver that now answer at the gateway (0: the namespace has no embedded-DNS rules) */
  aliased: number;
  /**
   * whether the rules send packets routed in (from inner containers) to the resolver: a PREROUTING jump to
   * DOCKER_OUTPUT for the gateway (added after Docker's OUTPUT jump; false if that jump was not found)
   */
  prerouting: boolean;
}

/**
 * Rewrites iptables-save output (the nat table at least) of a container's network namespace: every `-d 127.0.0.11`
 * becomes `-d <gateway>`, an SNAT `--to-source :53` answers as `<gateway>:53`, and `-A PREROUTING -d <gateway>/32
 * -j DOCKER_OUTPUT` follows the OUTPUT jump (if not there already), so packets routed in from inner containers are
 * DNATed to the resolver too. `aliased` counts the DNAT rules that pointed at 127.0.0.11 (Docker's
 * DOCKER_OUTPUT chain); with none (no embedded DNS here, or aliased already), the rules come back unchanged.
 */
export function aliasRules(save: string, gateway: string, dns = DOCKER_DNS): AliasedRules {
  checkIPv4(gateway, 'gateway');
  checkIPv4(dns, 'dns');
  const pattern = `(\\s-d\\s+)${esc(dns)}(/32)?(?=\\s|$)`;
  const names = new RegExp(pattern);
  const every = new RegExp(pattern, 'g');
  let aliased = 0;
  const out = save.split('\n').map((line) => {
    if (!line.startsWith('-A ')) return line;
    let l = line;
    if (names.test(l)) {
      if (/\s-j\s+DNAT(\s|$)/.test(l)) aliased++;
      l = l.replace(every, `$1${gateway}/32`);
    }
    return l.replace(/(\s--to-source\s+):53(?=\s|$)/g, `$1${gateway}:53`);
  });
  if (aliased === 0) return { rules: save, aliased: 0, prerouting: false };
  const jump = (chain: string) => `-A ${chain} -d ${gateway}/32 -j DOCKER_OUTPUT`;
  if (!out.includes(jump('PREROUTING'))) {
    const at = out.indexOf(jump('OUTPUT'));
    if (at >= 0) out.splice(at + 1, 0, jump('PREROUTING'));
  }
  return { rules: out.join('\n'), aliased, prerouting: out.includes(jump('PREROUTING')) };
}

/** resolv.conf with `nameserver 127.0.0.11` replaced by the gateway (other lines as they were). */
export function aliasResolvConf(resolvConf: string, gateway: string, dns = DOCKER_DNS): string {
  checkIPv4(gateway, 'gateway');
  return resolvConf
    .split('\n')
    .map((line) => line.replace(new RegExp(`^(\\s*nameserver\\s+)${esc(dns)}(?=\\s|$)`), `$1${gateway}`))
    .join('\n');
}

/** The fields of an OCI mount read here. */
export interface ResolvConfMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

/**
 * The host file behind a container's /etc/resolv.conf when it is Docker's own for this container (a bind of
 * `<data-root>/containers/<containerId>/resolv.conf`), else undefined: a resolv.conf of the image, or one the user
 * bound in from elsewhere, is never rewritten.
 */
export function dockerResolvConf(mounts: readonly ResolvConfMount[] | undefined, containerId: string): string | undefined {
  const m = [...(mounts ?? [])].reverse().find((x) => x.destination.replace(/\/+$/, '') === '/etc/resolv.conf');
  if (!m?.source || !(m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind'))) return undefined;
  const parts = m.source.split('/');
  const ok = m.source.startsWith('/') && !parts.includes('..') && parts.at(-1) === 'resolv.conf' && parts.at(-2) === containerId && parts.at(-3) === 'containers';
  return ok ? m.source : undefined;
}
