// [dns] Docker's embedded DNS (127.0.0.11) of a system container aliased to its gateway (@sysbox/dns says when and
// how), so that inner containers resolve the outer network's names too. Done once the container's network is set up
// (Docker's libnetwork-setkey hook has run: from the `wait` hook, or after the engine's create) and before its
// process starts: the host's iptables-save and iptables-restore run in the container's network namespace only
// (sysbox-nsenter net-exec), and Docker's resolv.conf for the container is rewritten in place.
// Fail closed: when resolv.conf names 127.0.0.11 and the alias can't be made, the create fails with one line saying
// why; when it doesn't name it (or there is no default route, or no embedded-DNS rules), nothing is changed.
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { aliasResolvConf, aliasRules, DOCKER_DNS, planDnsAlias, ROUTE_LOCALNET } from '@sysbox/dns';
import type { Context } from './context.js';
import { loadNative } from './native.js';

export class DnsAliasError extends Error {
  override name = 'DnsAliasError';
}

/** Where the host's iptables tools are looked for (the host's, not the image's: the container may have none). */
const SBIN_DIRS = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];

function hostTool(ctx: Context, name: string): string | undefined {
  const own = ctx.env(`SYSBOX_${name.toUpperCase().replace(/-/g, '_')}`);
  if (own) return own;
  return SBIN_DIRS.map((d) => join(d, name)).find((p) => existsSync(p));
}

export interface DnsAliasResult {
  action: 'none' | 'skip' | 'alias';
  reason?: string;
  gateway?: string;
  /** DNAT rules now answering at the gateway */
  aliased?: number;
}

/**
 * Aliases the container's embedded DNS to its gateway if its resolv.conf (`resolvConf`: Docker's file for it, see
 * @sysbox/dns dockerResolvConf; undefined: the image's own, never rewritten) names 127.0.0.11. `workDir`: a private
 * dir for the rules file iptables-restore reads (the container's state dir).
 */
export async function aliasDockerDns(ctx: Context, o: { containerId: string; initPid: number; resolvConf: string | undefined; workDir: string }): Promise<DnsAliasResult> {
  const clog = ctx.log.child({ containerId: o.containerId });
  let text: string | undefined;
  if (o.resolvConf) {
    try {
      text = readFileSync(o.resolvConf, 'utf8');
    } catch {
      text = undefined;
    }
  }
  // the init's /proc/<pid>/net: its network namespace's table (read only when resolv.conf names 127.0.0.11)
  const route = () => readFileSync(`/proc/${o.initPid}/net/route`, 'utf8');
  const plan = planDnsAlias({ resolvConf: text, route, littleEndian: endianness() === 'LE' });
  if (plan.action !== 'alias') {
    clog.debug({ reason: plan.reason }, `dns: ${plan.action === 'skip' ? 'not aliased' : 'nothing to alias'}`);
    return plan;
  }
  const gw = plan.gateway;
  const fail = (why: string) => new DnsAliasError(`cannot alias Docker's embedded DNS (${DOCKER_DNS}) of container ${o.containerId} to its gateway ${gw}: ${why}`);
  const save = hostTool(ctx, 'iptables-save');
  const restore = hostTool(ctx, 'iptables-restore');
  if (!save || !restore) throw fail(`the host has no ${save ? 'iptables-restore' : 'iptables-save'} (install iptables)`);
  const native = loadNative();
  const oneLine = (e: unknown) => ((e as { stderr?: string }).stderr?.trim() || (e as Error).message).split('\n').filter(Boolean).pop() ?? '';
  let rules: string;
  try {
    rules = await native.nsenterNetExec({ pid: o.initPid, argv: [save, '-t', 'nat'] });
  } catch (e) {
    throw fail(`${save} -t nat in its network namespace failed: ${oneLine(e)}`);
  }
  const r = aliasRules(rules, gw);
  if (r.aliased === 0) {
    const reason = `resolv.conf lists ${DOCKER_DNS} but the network namespace has no rules of Docker's embedded DNS`;
    clog.info({ reason }, 'dns: nothing to alias');
    return { action: 'none', reason };
  }
  if (!r.prerouting) throw fail("its rules have no OUTPUT jump to DOCKER_OUTPUT, which the jump for packets from inner containers follows");
  const file = join(o.workDir, 'dns-alias.rules');
  writeFileSync(file, r.rules, { mode: 0o600 });
  try {
    await native.nsenterNetExec({ pid: o.initPid, sysctls: { [ROUTE_LOCALNET.name]: ROUTE_LOCALNET.value }, argv: [restore, file] });
  } catch (e) {
    throw fail(`${restore} in its network namespace failed: ${oneLine(e)}`);
  } finally {
    try {
      unlinkSync(file);
    } catch {
      // gone
    }
  }
  try {
    // in place: the container's bind mount holds this inode
    writeFileSync(o.resolvConf!, aliasResolvConf(text!, gw));
  } catch (e) {
    throw fail(`rewriting ${o.resolvConf}: ${(e as Error).message}`);
  }
  clog.debug({ gateway: gw, aliased: r.aliased }, 'dns: embedded DNS aliased to the gateway');
  return { action: 'alias', gateway: gw, aliased: r.aliased };
}
