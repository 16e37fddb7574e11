// The e2e harness: makes the host ready for the suites, idempotently.
//   docker.io installed → dockerd running → runtimes registered (sysbox-runc, crun; runc is Docker's default)
//   → sysbox launchers present (scripts/install.sh if missing) → test images built locally (never pulled).
// Daemons (sysbox-mgr, sysbox-fs) are started/stopped by global-setup through daemons.ts.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, symlinkSync, chmodSync, copyFileSync, mkdtempSync, renameSync, statSync, openSync, closeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { docker, dockerOk, exec, DOCKER } from './docker.ts';
import { claimDaemon, daemonSpecs, readPid } from './daemons.ts';
import { CACHE_DIR, CRUN, DAEMON_JSON, DAEMON_JSON_LOCK, DIND_BUSYBOX_TAR, E2E_DIR, IMAGES, REPO_DIR, SYSBOX_MGR, SYSBOX_RUNC } from './paths.ts';

export const log = (msg: string) => process.stderr.write(`[e2e harness] ${msg}\n`);

function dpkgInstalled(pkg: string): boolean {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).includes('install ok installed');
  } catch {
    return false;
  }
}

/** apt-get install the packages the harness needs, if any is missing. */
export async function ensurePackages(): Promise<void> {
  const wanted = ['docker.io', 'runc', 'crun', 'busybox-static', 'debootstrap', 'util-linux', 'iptables'];
  const missing = wanted.filter((p) => !dpkgInstalled(p));
  if (missing.length === 0) return;
  log(`apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const u = await exec('apt-get', ['update', '-q'], { timeoutMs: 300_000, env });
  if (u.code !== 0) throw new Error(`apt-get update failed: ${u.stderr.trim()}`);
  const r = await exec('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { timeoutMs: 600_000, env });
  if (r.code !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed: ${r.stderr.trim()}`);
}

/** Makes sure a dockerd answers; starts /usr/sbin/dockerd (without NODE_EXTRA_CA_CERTS) if not. */
export async function ensureDockerd(timeoutMs = 60_000): Promise<void> {
  if ((await docker(['version'], { timeoutMs: 15_000 })).code === 0) return;
  log('starting /usr/sbin/dockerd');
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const out = openSync('/var/log/dockerd.log', 'a');
  const child = spawn('/usr/sbin/dockerd', [], { detached: true, stdio: ['ignore', out, out], env });
  closeSync(out);
  child.unref();
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if ((await docker(['version'], { timeoutMs: 5000 })).code === 0) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('dockerd did not answer within 60 s; see /var/log/dockerd.log');
}

export async function dockerRuntimes(): Promise<Record<string, { path?: string }>> {
  const r = await docker(['info', '--format', '{{json .Runtimes}}'], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`docker info failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Record<string, { path?: string }>;
}

function dockerdPid(): number {
  for (const f of ['/var/run/docker.pid', '/run/docker.pid']) {
    try {
      const pid = Number.parseInt(readFileSync(f, 'utf8').trim(), 10);
      if (pid > 0) return pid;
    } catch {
      /* next */
    }
  }
  const out = execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(/\s+/)[0];
  return Number.parseInt(out ?? '', 10);
}

/** The runtimes the harness registers with Docker (runc is Docker's default and stays so). */
export type RuntimeEntry = { path: string; runtimeArgs?: string[] };
export function wantedRuntimes(extra: Record<string, RuntimeEntry> = {}): Record<string, RuntimeEntry> {
  const rts: Record<string, RuntimeEntry> = { 'sysbox-runc': { path: SYSBOX_RUNC }, ...extra };
  if (existsSync(CRUN)) rts.crun = { path: CRUN };
  return rts;
}

/**
 * Merges the runtimes into /etc/docker/daemon.json under flock(/tmp/daemon-json.lock), SIGHUPs dockerd when the
 * file changed (or Docker doesn't list them yet) and waits until `docker info` lists every one.
 */
export async function registerRuntimes(extra: Record<string, RuntimeEntry> = {}): Promise<void> {
  const wanted = wantedRuntimes(extra);
  const listed = await dockerRuntimes();
  const missing = () => Object.entries(wanted).filter(([n, rt]) => listed[n]?.path !== rt.path).map(([n]) => n);
  let cfgHas = false;
  try {
    const cfg = JSON.parse(readFileSync(DAEMON_JSON, 'utf8')) as { runtimes?: Record<string, RuntimeEntry> };
    cfgHas = Object.entries(wanted).every(([n, rt]) => cfg.runtimes?.[n]?.path === rt.path &&
      JSON.stringify(cfg.runtimes?.[n]?.runtimeArgs ?? []) === JSON.stringify(rt.runtimeArgs ?? []));
  } catch {
    cfgHas = false;
  }
  if (cfgHas && missing().length === 0) return;
  const r = await exec('flock', [DAEMON_JSON_LOCK, process.execPath, join(E2E_DIR, 'src', 'merge-daemon-json.ts'), DAEMON_JSON, JSON.stringify(wanted)], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`merging ${DAEMON_JSON} failed: ${r.stderr.trim()}`);
  log(`${DAEMON_JSON}: ${r.stdout.trim()} (runtimes ${Object.keys(wanted).join(', ')})`);
  const end = Date.now() + 30_000;
  let hupAt = 0;
  while (Date.now() < end) {
    Object.assign(listed, await dockerRuntimes());
    if (missing().length === 0) return;
    if (Date.now() - hupAt > 5000) {
      process.kill(dockerdPid(), 'SIGHUP');
      hupAt = Date.now();
    }
    await new Promise((res) => setTimeout(res, 300));
  }
  throw new Error(`dockerd does not list runtimes ${missing().join(', ')} after SIGHUP; see /var/log/dockerd.log`);
}

/**
 * crun refuses a hybrid cgroup layout where a controller sits on the cgroup2 hierarchy (on a fresh boot here:
 * hugetlb). Mounting the v1 hierarchies of the controllers that have none (hugetlb, net_cls,net_prio,
 * perf_event) moves them off cgroup2 (FACTS.md). Used by the bench for its crun columns; idempotent.
 */
export async function ensureV1ControllersForCrun(): Promise<string[]> {
  const unified = '/sys/fs/cgroup/unified/cgroup.controllers';
  if (!existsSync(unified)) return [];
  const onV2 = readFileSync(unified, 'utf8').trim().split(/\s+/).filter(Boolean);
  const mounted: string[] = [];
  const groups: Record<string, string> = { hugetlb: 'hugetlb', net_cls: 'net_cls,net_prio', net_prio: 'net_cls,net_prio', perf_event: 'perf_event' };
  const wanted = new Set<string>();
  const hier = readFileSync('/proc/cgroups', 'utf8').split('\n').slice(1).map((l) => l.split(/\s+/));
  for (const [name, h] of hier) if (name && groups[name] && (h === '0' || onV2.includes(name))) wanted.add(groups[name]);
  for (const opts of wanted) {
    const dir = join('/sys/fs/cgroup', opts);
    mkdirSync(dir, { recursive: true });
    const r = await exec('mount', ['-t', 'cgroup', '-o', opts, 'cgroup', dir], { timeoutMs: 15_000 });
    if (r.code === 0) mounted.push(opts);
    else log(`mount cgroup v1 ${opts} failed: ${r.stderr.trim()}`);
  }
  return mounted;
}

/** If the sysbox launchers are missing and the lead's scripts/install.sh exists, run it. */
export async function ensureLaunchers(): Promise<{ runc: boolean; mgr: boolean }> {
  const present = () => ({ runc: existsSync(SYSBOX_RUNC), mgr: existsSync(SYSBOX_MGR) });
  const before = present();
  const install = join(REPO_DIR, 'scripts', 'install.sh');
  if ((!before.runc || !before.mgr) && existsSync(install)) {
    log('sysbox launchers missing: bash scripts/install.sh');
    const pidsBefore = new Map(daemonSpecs().map((d) => [d.name, readPid(d)]));
    const r = await exec('bash', [install], { timeoutMs: 600_000, cwd: REPO_DIR });
    if (r.code !== 0) log(`scripts/install.sh failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`);
    // daemons install.sh started on the harness's behalf are the harness's (tests may restart them)
    for (const spec of daemonSpecs()) if (readPid(spec) !== pidsBefore.get(spec.name)) claimDaemon(spec);
  }
  const after = present();
  if (!after.runc) log(`${SYSBOX_RUNC} missing: sysbox-runc tests will fail (expected while pending)`);
  if (!after.mgr) log(`${SYSBOX_MGR} missing: sysbox-mgr not started`);
  return after;
}

export async function imageExists(image: string): Promise<boolean> {
  return (await docker(['image', 'inspect', image], { timeoutMs: 15_000 })).code === 0;
}

async function importTar(tarPath: string, image: string, changes: string[]): Promise<void> {
  const args = ['import'];
  for (const c of changes) args.push('-c', c);
  args.push(tarPath, image);
  await dockerOk(args, { timeoutMs: 600_000 });
}

/** A busybox rootfs in `root` from /bin/busybox (busybox-static): applet symlinks, /etc/passwd, /etc/group. */
export function makeBusyboxRootfs(root: string): void {
  for (const d of ['bin', 'etc', 'root', 'tmp', 'var/www', 'home', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').map((s) => s.trim()).filter(Boolean);
  for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n');
  writeFileSync(join(root, 'var', 'www', 'index.html'), 'hello from busybox httpd\n');
}

/** sysbox-test/busybox: makeBusyboxRootfs → tar → docker import. */
export async function buildBusybox(image: string = IMAGES.busybox): Promise<void> {
  const dir = mkdtempSync('/var/tmp/sysbox-e2e-busybox-');
  try {
    const root = join(dir, 'root');
    makeBusyboxRootfs(root);
    const tar = join(dir, 'busybox.tar');
    execFileSync('tar', ['-C', root, '--numeric-owner', '--owner=0', '--group=0', '-cf', tar, '.']);
    await importTar(tar, image, ['ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin', 'CMD ["sh"]']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The Debian mirror apt uses here (sources.list or deb822 .sources), for bookworm; deb.debian.org otherwise. */
export function aptMirror(): string {
  const candidates: string[] = [];
  const files = ['/etc/apt/sources.list'];
  try {
    for (const f of readdirSync('/etc/apt/sources.list.d')) if (f.endsWith('.list') || f.endsWith('.sources')) files.push(join('/etc/apt/sources.list.d', f));
  } catch {
    /* none */
  }
  for (const f of files) {
    let text: string;
    try { text = readFileSync(f, 'utf8'); } catch { continue; }
    if (f.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const uris = /^URIs:\s*(.+)$/m.exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        const enabled = !/^Enabled:\s*no/im.test(stanza);
        if (enabled && suites.includes('bookworm')) candidates.push(...uris);
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/.exec(line.trim() + ' ');
        if (m?.[1]) candidates.push(m[1]);
      }
    }
  }
  return candidates.find((u) => /^https?:/.test(u) && !u.includes('security')) ?? 'http://deb.debian.org/debian';
}

/** A short digest of what an image or a cached tarball is built from (its recipe). */
export function recipeDigest(...parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/**
 * A debootstrap'd bookworm rootfs as a tarball under /var/cache/sysbox-ts (built only when missing). With packages,
 * the name carries a digest of the package list and the units enabled (`systemctl enable` in the new root), so a
 * changed recipe gets a new tarball instead of an old one.
 */
export async function debootstrapTarball(name: string, include: string[] = [], enable: string[] = []): Promise<string> {
  mkdirSync(CACHE_DIR, { recursive: true });
  const tar = join(CACHE_DIR, `debian-bookworm-${name}${include.length || enable.length ? `-${recipeDigest(include, enable)}` : ''}.tar`);
  if (existsSync(tar) && statSync(tar).size > 0) return tar;
  const mirror = aptMirror();
  log(`debootstrap --variant=minbase${include.length ? ` --include=${include.join(',')}` : ''} bookworm from ${mirror} (cached as ${tar})`);
  const dir = mkdtempSync('/var/tmp/sysbox-e2e-deb-');
  try {
    const root = join(dir, 'root');
    const args = ['--variant=minbase', ...(include.length ? [`--include=${include.join(',')}`] : []), 'bookworm', root, mirror];
    const r = await exec('debootstrap', args, { timeoutMs: 900_000 });
    if (r.code !== 0) throw new Error(`debootstrap failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`);
    if (enable.length) {
      // offline: systemctl only writes the units' wants links in the new root
      const e = await exec('chroot', [root, 'systemctl', 'enable', ...enable], { timeoutMs: 60_000 });
      if (e.code !== 0) throw new Error(`systemctl enable ${enable.join(' ')} in the new root failed: ${e.stderr.trim()}`);
    }
    // keep the image small and reproducible: drop apt lists and caches
    rmSync(join(root, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
    mkdirSync(join(root, 'var', 'cache', 'apt', 'archives', 'partial'), { recursive: true });
    execFileSync('tar', ['-C', root, '--numeric-owner', '-cf', `${tar}.tmp`, '.']);
    renameSync(`${tar}.tmp`, tar);
    return tar;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const DEBIAN_CHANGES = ['ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'CMD ["bash"]'];
const SYSTEM_CHANGES = [DEBIAN_CHANGES[0]!, 'CMD ["/sbin/init"]'];

export async function buildDebian(): Promise<void> {
  await importTar(await debootstrapTarball('minbase'), IMAGES.debian, DEBIAN_CHANGES);
}

/** What IMAGES.system holds: systemd as init, dbus, sshd (ssh.service enabled), iproute2. No Docker. */
export const SYSTEM_PACKAGES: readonly string[] = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'iproute2', 'procps', 'kmod'];
/** What IMAGES.dind adds: Docker (docker.service and containerd.service enabled) and iptables. */
export const DIND_PACKAGES: readonly string[] = [...SYSTEM_PACKAGES, 'docker.io', 'iptables'];
const SYSTEM_UNITS = ['ssh.service'];
const DIND_UNITS = ['ssh.service', 'containerd.service', 'docker.service'];

/** The label recording an image's recipe (recipeDigest): an image built from another recipe is rebuilt. */
export const RECIPE_LABEL = 'sysbox-test.recipe';

function systemRecipe(): string {
  return recipeDigest(SYSTEM_PACKAGES, SYSTEM_UNITS, SYSTEM_CHANGES);
}

/** sysbox-test/debian-system: systemd + sshd, for the systemd tests (no Docker). */
export async function buildDebianSystem(recipe = systemRecipe()): Promise<void> {
  const tar = await debootstrapTarball('systemd-sshd', [...SYSTEM_PACKAGES], SYSTEM_UNITS);
  await importTar(tar, IMAGES.system, [...SYSTEM_CHANGES, `LABEL ${RECIPE_LABEL}=${recipe}`]);
}

async function imageId(image: string): Promise<string> {
  return (await dockerOk(['image', 'inspect', '--format', '{{.Id}}', image], { timeoutMs: 15_000 })).trim();
}

/** The dind image's recipe: its packages and units, and the busybox image it carries. */
async function dindRecipe(): Promise<string> {
  return recipeDigest(DIND_PACKAGES, DIND_UNITS, SYSTEM_CHANGES, await imageId(IMAGES.busybox));
}

/**
 * `docker save` of sysbox-test/busybox into `out`, with the tag `busybox:latest` beside its own (so an inner Docker
 * runs `busybox` after `docker load`, without a tag named busybox on the host).
 */
export async function saveBusyboxForInner(out: string): Promise<void> {
  const dir = mkdtempSync('/var/tmp/sysbox-e2e-bbsave-');
  try {
    const raw = join(dir, 'raw.tar');
    await dockerOk(['save', '-o', raw, IMAGES.busybox], { timeoutMs: 60_000 });
    const x = join(dir, 'x');
    mkdirSync(x);
    execFileSync('tar', ['-C', x, '-xf', raw]);
    const manifestPath = join(x, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Array<{ RepoTags?: string[] | null }>;
    for (const m of manifest) m.RepoTags = [...new Set([...(m.RepoTags ?? []), 'busybox:latest'])];
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const reposPath = join(x, 'repositories');
    if (existsSync(reposPath)) {
      const repos = JSON.parse(readFileSync(reposPath, 'utf8')) as Record<string, Record<string, string>>;
      const id = Object.values(repos)[0]?.latest;
      if (id) repos.busybox = { latest: id };
      writeFileSync(reposPath, JSON.stringify(repos));
    }
    execFileSync('tar', ['-C', x, '--numeric-owner', '--owner=0', '--group=0', '-cf', out, '.']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * sysbox-test/debian-dind: the system image's packages plus docker.io and iptables, docker.service enabled, CMD
 * /sbin/init, and sysbox-test/busybox (also tagged busybox) saved at DIND_BUSYBOX_TAR for an inner `docker load`.
 */
export async function buildDebianDind(recipe?: string): Promise<void> {
  await ensureImage(IMAGES.busybox, buildBusybox);
  const label = recipe ?? (await dindRecipe());
  const base = await debootstrapTarball('dind', [...DIND_PACKAGES], DIND_UNITS);
  const dir = mkdtempSync('/var/tmp/sysbox-e2e-dind-');
  try {
    const extra = join(dir, 'extra');
    const rel = `.${dirname(DIND_BUSYBOX_TAR)}`;
    mkdirSync(join(extra, rel), { recursive: true, mode: 0o755 });
    await saveBusyboxForInner(join(extra, `.${DIND_BUSYBOX_TAR}`));
    const tar = join(dir, 'rootfs.tar');
    copyFileSync(base, tar);
    execFileSync('tar', ['-C', extra, '--numeric-owner', '--owner=0', '--group=0', '-rf', tar, rel]);
    await importTar(tar, IMAGES.dind, [...SYSTEM_CHANGES, `LABEL ${RECIPE_LABEL}=${label}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The big file's size in sysbox-test/debian-big: 450 MiB of random bytes (incompressible, one layer). */
export const DEBIAN_BIG_FILE_BYTES = 450 * 1024 * 1024;

async function imageLayers(image: string): Promise<{ size: number; layers: string[] }> {
  const out = (await dockerOk(['image', 'inspect', '--format', '{{.Size}} {{json .RootFS.Layers}}', image], { timeoutMs: 15_000 })).trim();
  const sp = out.indexOf(' ');
  return { size: Number(out.slice(0, sp)), layers: JSON.parse(out.slice(sp + 1)) as string[] };
}

/** Why the local sysbox-test/debian-big is not sysbox-test/debian plus one layer of ≥ 450 MiB, or undefined if it is. */
async function debianBigProblem(): Promise<string | undefined> {
  if (!(await imageExists(IMAGES.debianBig))) return 'missing';
  const base = await imageLayers(IMAGES.debian);
  const big = await imageLayers(IMAGES.debianBig);
  if (big.layers.length !== base.layers.length + 1 || base.layers.some((l, i) => big.layers[i] !== l)) return `not ${IMAGES.debian} plus one layer`;
  if (big.size - base.size < DEBIAN_BIG_FILE_BYTES) return `its top layer is ${big.size - base.size} bytes, < ${DEBIAN_BIG_FILE_BYTES}`;
  return undefined;
}

/**
 * sysbox-test/debian-big: sysbox-test/debian plus one layer holding a 450 MiB file (/opt/big.bin) — with the
 * Debian base about 650 MB of image content. Bench only, built lazily (only by the cases that use it), locally:
 * `docker build` from the local sysbox-test/debian, never pulled, no network. An existing image is kept only if
 * it is exactly that (base layers match the current sysbox-test/debian, top layer ≥ 450 MiB); otherwise rebuilt.
 */
export async function ensureDebianBig(): Promise<void> {
  await ensureImage(IMAGES.debian, buildDebian);
  const problem = await debianBigProblem();
  if (!problem) return;
  const old = problem === 'missing' ? undefined : (await dockerOk(['image', 'inspect', '--format', '{{.Id}}', IMAGES.debianBig])).trim();
  const dir = mkdtempSync('/var/tmp/sysbox-e2e-big-');
  try {
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${IMAGES.debian}\nRUN head -c ${DEBIAN_BIG_FILE_BYTES} /dev/urandom > /opt/big.bin\n`);
    log(`building ${IMAGES.debianBig} (${problem}): ${IMAGES.debian} + a ${DEBIAN_BIG_FILE_BYTES >> 20} MiB file layer`);
    await dockerOk(['build', '-q', '--pull=false', '--network=none', '-t', IMAGES.debianBig, dir], { timeoutMs: 900_000, env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const still = await debianBigProblem();
  if (still) throw new Error(`${IMAGES.debianBig} as built is wrong: ${still}`);
  // the replaced image, now untagged (fails harmlessly if something still uses it)
  if (old) await docker(['image', 'rm', old], { timeoutMs: 60_000 });
}

/**
 * Builds the image when it is missing, or, given its recipe (recipeDigest), when the local one carries another
 * (label RECIPE_LABEL): e.g. an older sysbox-test/debian-system that still had Docker in it.
 */
export async function ensureImage(image: string, build: (recipe?: string) => Promise<void>, recipe?: string): Promise<void> {
  if (await imageExists(image)) {
    if (recipe === undefined) return;
    const have = await imageLabel(image, RECIPE_LABEL);
    if (have === recipe) return;
    log(`rebuilding ${image}: its recipe is ${have || 'unrecorded'}, now ${recipe}`);
  } else log(`building ${image}`);
  await build(recipe);
  if (!(await imageExists(image))) throw new Error(`${image} was not built`);
  if (recipe !== undefined && (await imageLabel(image, RECIPE_LABEL)) !== recipe) throw new Error(`${image} was built without its recipe label ${RECIPE_LABEL}=${recipe}`);
}

async function imageLabel(image: string, label: string): Promise<string> {
  const r = await docker(['image', 'inspect', '--format', `{{index .Config.Labels ${JSON.stringify(label)}}}`, image], { timeoutMs: 15_000 });
  const v = r.stdout.trim();
  return r.code === 0 && v !== '<no value>' ? v : '';
}

/** The systemd + sshd image, rebuilt when its recipe changed. */
export async function ensureSystemImage(): Promise<void> {
  await ensureImage(IMAGES.system, buildDebianSystem, systemRecipe());
}

/** The Docker-in-Docker image, rebuilt when its recipe (or the busybox image it carries) changed. */
export async function ensureDindImage(): Promise<void> {
  await ensureImage(IMAGES.busybox, buildBusybox);
  await ensureImage(IMAGES.dind, buildDebianDind, await dindRecipe());
}

/** Everything the suites need, in order. */
export async function prepareHost(opts: { images?: boolean } = {}): Promise<{ runc: boolean; mgr: boolean }> {
  if (process.getuid?.() !== 0) throw new Error('the e2e suites need root (they drive dockerd and mount things)');
  await ensurePackages();
  if (!existsSync(DOCKER)) throw new Error(`${DOCKER} missing after installing docker.io`);
  await ensureDockerd();
  const launchers = await ensureLaunchers();
  await registerRuntimes();
  if (opts.images !== false) {
    await ensureImage(IMAGES.busybox, buildBusybox);
    await ensureImage(IMAGES.debian, buildDebian);
    await ensureSystemImage();
    await ensureDindImage();
  }
  return launchers;
}
