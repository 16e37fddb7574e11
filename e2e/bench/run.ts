// pnpm bench: times commands for several runtimes, interleaved in one run, and prints medians, p90 and the
// ratio to runc. A runtime that fails is reported as failed; the bench goes on.
//
//   node bench/run.ts [--runs 20] [--cases docker-run,docker-exec,raw-bundle,vetting-mounts,data-getpid,data-read[,docker-run-big,image-size,procfs-reads,systemd-boot,systemd-rss]] [--runtimes runc,crun,sysbox-runc,sysbox-runc-crun] [--json out.json]
//   node bench/run.ts --case image-size --runs 10      (--case is --cases; one case or a comma list)
//   node bench/run.ts --case procfs-reads --runs 3
//   node bench/run.ts --case daemon-rss [--burst 100]   (sysbox-mgr's RSS after bursts, sysbox-fs's with 20 idle
//                                                       containers: bench/daemon-rss.ts)
//   node bench/run.ts --case dind-ready --runs 5        (outer docker run -d of the DinD image until an inner
//                                                       docker run --rm busybox true succeeds: bench/dind.ts)
//
// image-size: `docker run --rm IMAGE true` with busybox (~2 MB) and sysbox-test/debian-big (debian + a 450 MiB
// file layer), interleaved, for runc and sysbox-runc (or --runtimes); prints per runtime the medians, the
// difference big − small and the ratios. Issue 4's target: sysbox-runc's difference ≤ 100 ms (no chown of the
// image on start: the rootfs is an overlay on ID-mapped layers).
//
// procfs-reads (issues 5 and 20; only when named): per run, 10,000 × open + read-to-EOF + close of EVERY file
// sysbox-fs emulates (found in a sysbox-runc container) by native/bin/procread (static C, bind-mounted read-only)
// in three busybox containers with the same limits (--cpuset-cpus 0 --memory 256m): sysbox-runc (sysbox-fs),
// runc (the kernel's file) and runc with lxcfs's file bind-mounted over the same path where lxcfs has one (its 7
// /proc files and cpu/online; lxcfs is apt-installed if missing and started for the bench only, with -l, on a
// temp mount point, then stopped by pid). Each run is one `docker exec` of procread per file and variant,
// interleaved; procread times every read itself. Prints per file reads/s, p50 and p99 (medians over the runs) of
// sysbox-fs and lxcfs, the kernel's reads/s and sysbox-fs vs lxcfs (files lxcfs lacks: vs lxcfs's fastest file).
// Then sysbox-fs's VmRSS with 20 idle sysbox-runc containers (the load sampler running), and a probe container's
// /proc/uptime p50/p99 (5,000 reads paced at 1,000/s) while those 20 read /proc/uptime 100×/s each vs while they are
// idle, beside a runc probe of the kernel's own file under the same load (the machine's share). Issue 20's targets:
// every file ≥ 3× lxcfs's reads/s; p99 under that load ≤ 2× idle; RSS < 100 MB (issue 5's: < 80 MB).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { docker, run, uniqueName, removeContainers, runId, sleep, E2E_RUN_LABEL, type ExecResult } from '../src/docker.ts';
import { ensureDockerd, ensureV1ControllersForCrun, ensureImage, buildBusybox, buildDebianSystem, ensureDebianBig, ensureDindImage, registerRuntimes, dockerRuntimes, log } from '../src/harness.ts';
import { ensureDaemons, daemonSpecs, stopDaemon, type DaemonSpec } from '../src/daemons.ts';
import { makeBundle, rawRuntime, runtimeBinary, type Bundle } from '../src/bundle.ts';
import { E2E_DIR, FS_PID_FILE, IMAGES, REPO_DIR, SYSBOX_RUNC } from '../src/paths.ts';
import { exec } from '../src/docker.ts';
import { daemonRss } from './daemon-rss.ts';
import { bootOnce, systemdRss, SYSTEMD_BOOT_TARGET_RATIO } from './systemd.ts';
import { dindReadyCase } from './dind.ts';

/** `--name value` or `--name=value`; the first of `names` given wins. */
function optArg(...names: string[]): string | undefined {
  const argv = process.argv;
  for (const name of names) {
    const i = argv.indexOf(`--${name}`);
    if (i >= 0 && argv[i + 1] && !argv[i + 1]!.startsWith('--')) return argv[i + 1]!;
    const eq = argv.find((a) => a.startsWith(`--${name}=`));
    if (eq) return eq.slice(name.length + 3);
  }
  return undefined;
}
const arg = (name: string, dflt: string): string => optArg(name) ?? dflt;

const RUNS = Number.parseInt(arg('runs', '20'), 10);
const CASES = (optArg('cases', 'case') ?? 'docker-run,docker-exec,raw-bundle,vetting-mounts,data-getpid,data-read').split(',').filter(Boolean);
const RUNTIMES_GIVEN = optArg('runtimes');
const RUNTIMES = (RUNTIMES_GIVEN ?? 'runc,crun,sysbox-runc,sysbox-runc-crun').split(',');
/** image-size: runc (the reference) and sysbox-runc unless --runtimes says otherwise */
const IMAGE_SIZE_RUNTIMES = RUNTIMES_GIVEN ? RUNTIMES : ['runc', 'sysbox-runc'];
/** issue 4: starting from a ~500 MB image is no slower than from busybox by more than this (sysbox-runc) */
const IMAGE_SIZE_TARGET_MS = 100;
/** a runtime that fails this many times in a row is marked failed and skipped for the rest of the case */
const MAX_CONSECUTIVE_FAILURES = 3;

interface Sample { ms: number[]; byRound: Map<number, number>; failures: number; consecutive: number; error?: string; gaveUp: boolean }

/**
 * One case: per runtime an optional setup, the timed step, an optional teardown. `runtimes` are the case's
 * columns (e.g. `runc busybox`), each timed in turn every round; `report` replaces the default table.
 */
interface Case {
  name: string;
  what: string;
  runtimes: string[];
  setup?(rt: string): Promise<void>;
  step(rt: string, i: number): Promise<ExecResult>;
  /** after each step, untimed (e.g. removing what the step started) */
  after?(rt: string, i: number): Promise<void>;
  teardown?(rt: string): Promise<void>;
  report?(samples: Map<string, Sample>): Record<string, unknown>[];
  /** after the rounds and every teardown: further measurements for report() (it must not throw) */
  extra?(): Promise<void>;
}

const firstLine = (r: ExecResult) => (r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`).split('\n').filter(Boolean).pop()!.slice(0, 200);

// ── cases ──
function dockerRunCase(image: string, name: string): Case {
  return {
    name,
    what: `docker run --rm --runtime=RT ${image} true`,
    runtimes: RUNTIMES,
    step: (rt) => run(rt, ['--rm', image, 'true'], { timeoutMs: 60_000 }),
  };
}

function systemdBootCase(): Case {
  const last = new Map<string, string>();
  return {
    name: 'systemd-boot',
    what: `docker run -d --runtime=RT ${IMAGES.system} until systemctl is-system-running says running (runc: the reference options; target ${SYSTEMD_BOOT_TARGET_RATIO}x)`,
    runtimes: ['runc', 'sysbox-runc'],
    async step(rt) {
      const { result, name } = await bootOnce(rt);
      last.set(rt, name);
      return result;
    },
    async after(rt) {
      const n = last.get(rt);
      if (n) await removeContainers([n]);
    },
  };
}

function dockerExecCase(): Case {
  const names = new Map<string, string>();
  return {
    name: 'docker-exec',
    what: 'docker exec <c> true',
    runtimes: RUNTIMES,
    async setup(rt) {
      const n = uniqueName(`bench-${rt}`);
      names.set(rt, n);
      const r = await run(rt, ['-d', '--name', n, IMAGES.busybox, 'sleep', '3600'], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(firstLine(r));
    },
    step: (rt) => docker(['exec', names.get(rt)!, 'true'], { timeoutMs: 30_000 }),
    async teardown(rt) {
      const n = names.get(rt);
      if (n) await removeContainers([n]);
    },
  };
}

function rawBundleCase(): Case {
  const bundles = new Map<string, Bundle>();
  // runc, crun and sysbox-runc driven directly; sysbox-runc-crun = sysbox-runc --engine crun
  const direct: Record<string, { bin: string; pre: string[] }> = {
    runc: { bin: runtimeBinary('runc'), pre: [] },
    crun: { bin: '/usr/bin/crun', pre: [] },
    'sysbox-runc': { bin: SYSBOX_RUNC, pre: [] },
    'sysbox-runc-crun': { bin: SYSBOX_RUNC, pre: ['--engine', 'crun'] },
  };
  return {
    name: 'raw-bundle',
    what: 'RT create + start + delete of a busybox bundle (no Docker)',
    runtimes: RUNTIMES.filter((r) => direct[r]),
    async setup(rt) {
      bundles.set(rt, makeBundle(['true'], (spec) => {
        // a cgroup of our own per bundle so runtimes never collide
        spec.linux.cgroupsPath = `/sysbox-bench/${rt}`;
      }));
    },
    async step(rt, i) {
      const b = bundles.get(rt)!;
      const { bin, pre } = direct[rt]!;
      const id = `bench-${rt}-${process.pid}-${i}`;
      const base = [...pre, '--root', b.stateRoot];
      const c = await rawRuntime(bin, [...base, 'create', '--bundle', b.bundle, id], { dir: b.dir, timeoutMs: 30_000 });
      if (c.code !== 0) return c;
      const s = await rawRuntime(bin, [...base, 'start', id], { dir: b.dir, timeoutMs: 30_000 });
      const d = await rawRuntime(bin, [...base, 'delete', '--force', id], { dir: b.dir, timeoutMs: 30_000 });
      return s.code !== 0 ? s : d;
    },
    async teardown(rt) {
      bundles.get(rt)?.cleanup();
    },
  };
}

/**
 * image-size (issue 4): `docker run --rm IMAGE true` from busybox and from debian-big, per runtime, all four
 * columns interleaved each round. The report pairs them per runtime: medians, big − small (difference of the
 * medians, and the median of the per-round differences), big/small, and each image's ratio to runc.
 */
const IMAGE_SIZE_IMAGES = [{ key: 'busybox', image: IMAGES.busybox }, { key: 'debian-big', image: IMAGES.debianBig }] as const;

function imageSizeCase(runtimes: string[], sizes: Record<string, number>): Case {
  const cols = runtimes.flatMap((rt) => IMAGE_SIZE_IMAGES.map(({ key, image }) => ({ col: `${rt} ${key}`, rt, image })));
  const byCol = new Map(cols.map((c) => [c.col, c]));
  const mb = (b: number | undefined) => (b === undefined ? '?' : `${(b / 1e6).toFixed(0)} MB`);
  return {
    name: 'image-size',
    what: `docker run --rm --runtime=RT IMAGE true, IMAGE = ${IMAGE_SIZE_IMAGES.map(({ image }) => `${image} (${mb(sizes[image])})`).join(' vs ')}`,
    runtimes: cols.map((c) => c.col),
    step: (col) => {
      const { rt, image } = byCol.get(col)!;
      return run(rt, ['--rm', image, 'true'], { timeoutMs: 60_000 });
    },
    report(samples) {
      const med = (s: Sample | undefined) => (s && s.ms.length ? quantile([...s.ms].sort((a, b) => a - b), 0.5) : Number.NaN);
      const p90 = (s: Sample | undefined) => (s && s.ms.length ? quantile([...s.ms].sort((a, b) => a - b), 0.9) : Number.NaN);
      const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '-');
      const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
      const sg = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(1)} ms` : '-');
      const rows: Record<string, unknown>[] = [];
      const [small, big] = IMAGE_SIZE_IMAGES;
      const refSmall = med(samples.get(`runc ${small.key}`));
      const refBig = med(samples.get(`runc ${big.key}`));
      console.log(`\n${this.name}: ${this.what}  (${RUNS} runs each, interleaved)`);
      console.log(`  ${'runtime'.padEnd(14)} ${small.key.padStart(10)} ${big.key.padStart(10)} ${'big−small'.padStart(11)} ${'paired Δ'.padStart(11)} ${'big/small'.padStart(9)} ${`${small.key} vs runc`.padStart(15)} ${`${big.key} vs runc`.padStart(18)}  p90 small/big       ok/fail`);
      for (const rt of runtimes) {
        const s = samples.get(`${rt} ${small.key}`)!;
        const b = samples.get(`${rt} ${big.key}`)!;
        const ms_ = med(s);
        const mb_ = med(b);
        const diff = mb_ - ms_;
        // per-round pairs (same round, adjacent in time): robust to drift over the run
        const pairs = [...b.byRound].filter(([i]) => s.byRound.has(i)).map(([i, v]) => v - s.byRound.get(i)!).sort((p, q) => p - q);
        const paired = quantile(pairs, 0.5);
        const verdict = rt.startsWith('sysbox-runc') && Number.isFinite(diff) ? (diff <= IMAGE_SIZE_TARGET_MS ? `  ≤ ${IMAGE_SIZE_TARGET_MS} ms: ok` : `  > ${IMAGE_SIZE_TARGET_MS} ms: MISSES issue 4's target`) : '';
        const errs = [s, b].filter((q) => q.failures).map((q) => q.error).join('; ');
        console.log(`  ${rt.padEnd(14)} ${ms(ms_).padStart(10)} ${ms(mb_).padStart(10)} ${sg(diff).padStart(11)} ${sg(paired).padStart(11)} ${x(mb_ / ms_).padStart(9)} ${x(ms_ / refSmall).padStart(15)} ${x(mb_ / refBig).padStart(18)}  ${`${ms(p90(s))}/${ms(p90(b))}`.padEnd(19)} ${s.ms.length}+${b.ms.length}/${s.failures + b.failures}${verdict}${errs ? `  last error: ${errs}` : ''}`);
        rows.push({
          case: this.name, runtime: rt, runs: Math.min(s.ms.length, b.ms.length), failures: s.failures + b.failures,
          smallImage: small.image, bigImage: big.image, smallImageBytes: sizes[small.image], bigImageBytes: sizes[big.image],
          smallMedianMs: ms_, bigMedianMs: mb_, diffMs: diff, pairedDiffMedianMs: paired, bigOverSmall: mb_ / ms_,
          smallVsRunc: ms_ / refSmall, bigVsRunc: mb_ / refBig, smallP90Ms: p90(s), bigP90Ms: p90(b),
          ...(rt.startsWith('sysbox-runc') ? { targetMs: IMAGE_SIZE_TARGET_MS, meetsTarget: diff <= IMAGE_SIZE_TARGET_MS } : {}),
          error: errs || undefined,
        });
      }
      return rows;
    },
  };
}

async function imageBytes(image: string): Promise<number | undefined> {
  const r = await docker(['image', 'inspect', '--format', '{{.Size}}', image], { timeoutMs: 15_000 });
  return r.code === 0 ? Number(r.stdout.trim()) : undefined;
}

// ── procfs-reads (issues 5 and 20) ──
// Every file sysbox-fs emulates in a busybox sysbox-runc container (found in the container: the FUSE files placed
// one by one, and the FUSE files of its covered /sys dirs), each read 10,000 × (open + read-to-EOF + close) by
// native/bin/procread in three containers with the same limits: sysbox-runc (sysbox-fs), runc (the kernel's own
// file) and runc with lxcfs's file of the same path bind-mounted over it (for the 8 files lxcfs serves). lxcfs
// (Debian's, apt-installed if missing) runs for the bench only, with -l (its load averages), on a temp mount point,
// and is stopped by pid at the end.
const PROCFS_READS = 10_000;
const PROCREAD_BIN = join(REPO_DIR, 'native', 'bin', 'procread');
/** the container of issue 20's "new user": one CPU, 256 MiB — every variant runs with these limits */
const PROCFS_LIMITS = ['--cpuset-cpus', '0', '--memory', '256m'];
/** the files lxcfs 5 serves (proc_fuse.c, sysfs_fuse.c) */
const LXCFS_FILES = ['/proc/cpuinfo', '/proc/diskstats', '/proc/loadavg', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime', '/sys/devices/system/cpu/online'];
const FUSE_MAGIC = '65735546';
/** issue 20: every emulated file read at ≥ 3× lxcfs's rate in the same run */
const PROCFS_RATIO_TARGET = 3;
/** issue 20: p99 of a /proc/uptime read with 20 containers reading in a loop within 2× of idle */
const PROCFS_LOADERS = 20;
/** reads/s of each loader: a paced loop (20 flat-out loops would measure the CPUs' scheduler, not sysbox-fs) */
const PROCFS_LOADER_RATE = 100;
const PROCFS_LOAD_P99_RATIO = 2;
/** the probe: PROCFS_PROBE_READS reads paced at PROCFS_PROBE_RATE/s (latency, not throughput), PROCFS_PROBES times */
const PROCFS_PROBES = 3;
const PROCFS_PROBE_READS = 5000;
const PROCFS_PROBE_RATE = 1000;
/** sysbox-fs's RSS with 20 idle containers, sampler running: issue 20 < 100 MB (issue 5 asked < 80 MB) */
const PROCFS_RSS_TARGET_MB = 100;
const PROCFS_RSS_ISSUE5_MB = 80;

interface ProcfsVariant { key: 'sysbox-fs' | 'runc' | 'lxcfs'; runtime: string }
const PROCFS_VARIANTS: ProcfsVariant[] = [
  { key: 'sysbox-fs', runtime: 'sysbox-runc' },
  { key: 'runc', runtime: 'runc' },
  { key: 'lxcfs', runtime: 'runc' },
];

/** one procread line: file=F reads=N bytes=B secs=S rps=R p50_us=… p90_us=… p99_us=… max_us=… */
interface ProcreadResult { round: number; reads: number; bytes: number; rps: number; p50: number; p90: number; p99: number; max: number }

function parseProcread(out: string, round: number): ProcreadResult | undefined {
  const kv = Object.fromEntries(out.trim().split(/\s+/).map((w) => w.split('=', 2) as [string, string]));
  const n = (k: string) => Number(kv[k]);
  const r = { round, reads: n('reads'), bytes: n('bytes'), rps: n('rps'), p50: n('p50_us'), p90: n('p90_us'), p99: n('p99_us'), max: n('max_us') };
  return Object.values(r).every(Number.isFinite) ? r : undefined;
}

/** native/bin/procread, built with the other native binaries (`make` there if missing). */
async function ensureProcread(): Promise<void> {
  if (existsSync(PROCREAD_BIN)) return;
  const r = await exec('make', ['-s', '-C', join(REPO_DIR, 'native', 'csrc'), '../bin/procread'], { timeoutMs: 120_000 });
  if (r.code !== 0 || !existsSync(PROCREAD_BIN)) throw new Error(`building ${PROCREAD_BIN}: ${firstLine(r)}`);
}

/** The bench's own lxcfs: apt-installed if missing, started with -l on a temp mount point, stopped by pid. */
interface Lxcfs { dir: string; pid: number; stop(): Promise<void> }

async function startLxcfs(): Promise<Lxcfs> {
  if (!existsSync('/usr/bin/lxcfs')) {
    log('installing lxcfs (apt-get)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = await exec('apt-get', ['install', '-y', '--no-install-recommends', 'lxcfs'], { env, timeoutMs: 600_000 });
    if (r.code !== 0) {
      await exec('apt-get', ['update'], { env, timeoutMs: 600_000 });
      r = await exec('apt-get', ['install', '-y', '--no-install-recommends', 'lxcfs'], { env, timeoutMs: 600_000 });
    }
    if (r.code !== 0) throw new Error(`apt-get install lxcfs: ${firstLine(r)}`);
  }
  const base = mkdtempSync('/run/sysbox-bench-lxcfs-');
  const dir = join(base, 'mnt');
  mkdirSync(dir);
  const logFile = join(base, 'lxcfs.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn('/usr/bin/lxcfs', ['-f', '-l', `--pidfile=${join(base, 'lxcfs.pid')}`, dir], { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  child.unref();
  const pid = child.pid!;
  const mounted = () => readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
  const stop = async () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    for (const end = Date.now() + 10_000; Date.now() < end; await sleep(100)) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
    }
    if (mounted()) await exec('umount', ['-l', dir]);
    rmSync(base, { recursive: true, force: true });
    log(`stopped lxcfs (pid ${pid})`);
  };
  let err: string | undefined = `lxcfs did not mount within 15 s (see ${logFile})`;
  for (const end = Date.now() + 15_000; Date.now() < end; await sleep(100)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      err = `lxcfs exited (${child.exitCode ?? child.signalCode}): ${readFileSync(logFile, 'utf8').trim().split('\n').pop() ?? ''}`;
      break;
    }
    if (mounted() && existsSync(`${dir}/proc/uptime`)) {
      err = undefined;
      break;
    }
  }
  if (err) {
    await stop();
    throw new Error(err);
  }
  log(`started lxcfs -l on ${dir} (pid ${pid}); stopped at the end`);
  return { dir, pid, stop };
}

/** VmRSS, RssAnon, RssFile of a process in MB (from /proc/PID/status). */
function rssMB(pid: number): { rss: number; anon: number; file: number } {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 };
}

const fsPid = () => Number.parseInt(readFileSync(FS_PID_FILE, 'utf8').trim(), 10);

/** running containers of other runs (e.g. a CI suite) with a sysbox-runc runtime: they share sysbox-fs */
async function otherSysboxContainers(mine: Set<string>): Promise<number> {
  const ids = (await docker(['ps', '-q'], { timeoutMs: 30_000 })).stdout.split('\n').filter(Boolean);
  if (!ids.length) return 0;
  const r = await docker(['inspect', '-f', '{{.Name}} {{.HostConfig.Runtime}}', ...ids], { timeoutMs: 30_000 });
  return r.stdout.split('\n').map((l) => l.trim().split(' ')).filter(([n, rt]) => n && rt?.startsWith('sysbox-runc') && !mine.has(n.replace(/^\//, ''))).length;
}

interface LoadFigures {
  pid?: number; before?: number; withContainers?: number; anon?: number; file?: number; underLoad?: number; afterRemoval?: number;
  started: number; others?: number; pidChanged?: boolean; error?: string;
  /** probe results by `${variant} ${idle|loaded}` (sysbox-fs: the emulated file; runc: the kernel's, for reference) */
  probes: Map<string, ProcreadResult[]>;
}

/**
 * The emulated files of a sysbox-runc container: its FUSE file mounts, and the FUSE files inside its FUSE dirs
 * (the covers: e.g. dmi/id/*), each checked to be on FUSE as the container sees it.
 */
async function emulatedFilesIn(name: string): Promise<string[]> {
  const script = [
    // mountinfo: field 5 is the mount point; after " - " the fs type
    `m=$(grep " - fuse" /proc/self/mountinfo | cut -d" " -f5)`,
    `for p in $m; do if [ -f "$p" ]; then echo "$p"; elif [ -d "$p" ]; then find "$p" -xdev -type f; fi; done | sort -u | while read -r f; do [ "$(stat -f -c %t "$f")" = ${FUSE_MAGIC} ] && echo "$f"; done`,
  ].join('; ');
  const r = await docker(['exec', name, 'sh', '-c', script], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`listing the emulated files: ${firstLine(r)}`);
  const files = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  // /proc first, then /sys; each group as sorted
  return files.sort((a, b) => (a.startsWith('/proc/') === b.startsWith('/proc/') ? a.localeCompare(b) : a.startsWith('/proc/') ? -1 : 1));
}

async function procfsReadsCase(): Promise<Case> {
  const containers = new Map<ProcfsVariant['key'], string>();
  const bind = ['-v', `${PROCREAD_BIN}:/procread:ro`];
  // a host dir (a block device behind it) for each container's bit of direct I/O (see start())
  const ioDir = mkdtempSync('/var/tmp/sysbox-bench-io-');
  let lxcfs: Lxcfs | undefined;
  const cleanup = async () => {
    const names = [...containers.values()];
    containers.clear();
    await removeContainers(names);
    await removeLabelledPrefix('sysbox-e2e-bench-procfs-');
    rmSync(ioDir, { recursive: true, force: true });
    const l = lxcfs;
    lxcfs = undefined;
    await l?.stop().catch((e) => log(`stopping lxcfs: ${(e as Error).message}`));
  };
  const start = async (v: ProcfsVariant, extra: string[]) => {
    const n = uniqueName(`bench-procfs-${v.key}`);
    containers.set(v.key, n);
    const r = await run(v.runtime, ['-d', '--name', n, ...PROCFS_LIMITS, ...bind, '-v', `${ioDir}:/io`, ...extra, IMAGES.busybox, 'sleep', '3600'], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`${v.key} container: ${firstLine(r)}`);
    // some block I/O of its own (direct, past the page cache, on the host's disk), so that the container's
    // /proc/diskstats lists a device (sysbox-fs and lxcfs list only devices the container did I/O on)
    const io = await docker(['exec', n, 'sh', '-c', `dd if=/dev/zero of=/io/${v.key} bs=4096 count=64 oflag=direct && dd if=/io/${v.key} of=/dev/null bs=4096 iflag=direct`], { timeoutMs: 60_000 });
    if (io.code !== 0) log(`${v.key} container: direct I/O for /proc/diskstats failed: ${firstLine(io)}`);
    return n;
  };
  let files: string[];
  let lxcfsFiles: string[];
  try {
    files = await emulatedFilesIn(await start(PROCFS_VARIANTS[0]!, []));
    if (files.length === 0) throw new Error('the sysbox-runc container has no emulated file (is sysbox-fs running?)');
    await start(PROCFS_VARIANTS[1]!, []);
    lxcfs = await startLxcfs();
    const l = lxcfs;
    lxcfsFiles = LXCFS_FILES.filter((f) => files.includes(f) && existsSync(`${l.dir}${f}`));
    await start(PROCFS_VARIANTS[2]!, lxcfsFiles.flatMap((f) => ['-v', `${l.dir}${f}:${f}:ro`]));
    // what backs each file, as each container sees it: FUSE (sysbox-fs, lxcfs) or the kernel's own
    for (const v of PROCFS_VARIANTS) {
      const want = v.key === 'runc' ? [] : v.key === 'lxcfs' ? lxcfsFiles : files;
      const r = await docker(['exec', containers.get(v.key)!, 'sh', '-c', want.map((f) => `stat -f -c %t ${f}`).join('; ') || 'true'], { timeoutMs: 30_000 });
      const bad = want.filter((_, i) => r.stdout.split('\n')[i]?.trim() !== FUSE_MAGIC);
      if (bad.length) throw new Error(`${v.key} container: not on FUSE: ${bad.join(' ')}`);
    }
  } catch (e) {
    await cleanup();
    throw e;
  }
  const cols = PROCFS_VARIANTS.flatMap((v) => (v.key === 'lxcfs' ? lxcfsFiles : files).map((file) => ({ col: `${v.key} ${file}`, v, file })));
  const byCol = new Map(cols.map((c) => [c.col, c]));
  const results = new Map<string, ProcreadResult[]>(cols.map((c) => [c.col, []]));
  const load: LoadFigures = { started: 0, probes: new Map() };

  /** procread in a container; undefined (with the error) if it failed */
  const procread = async (name: string, file: string, reads: number, round: number, rate = 0): Promise<ProcreadResult | string> => {
    const r = await docker(['exec', name, '/procread', file, String(reads), '100', String(rate)], { timeoutMs: 300_000 });
    if (r.code !== 0) return firstLine(r);
    return parseProcread(r.stdout, round) ?? `unparsable procread output: ${r.stdout.trim().slice(0, 150)}`;
  };

  const name = 'procfs-reads';
  const what = `${PROCFS_READS.toLocaleString('en')} × open+read-to-EOF+close (native/bin/procread) of each of ${files.length} emulated files in busybox (${PROCFS_LIMITS.join(' ')}): sysbox-runc (sysbox-fs) vs runc (the kernel's file) vs runc + lxcfs -l (its ${lxcfsFiles.length} files)`;
  return {
    name,
    what,
    runtimes: cols.map((c) => c.col),
    async step(col, i) {
      const { v, file } = byCol.get(col)!;
      const r = await procread(containers.get(v.key)!, file, PROCFS_READS, i);
      if (typeof r === 'string') return { code: 1, stdout: '', stderr: r, timedOut: false };
      if (i >= 0) results.get(col)!.push(r);
      return { code: 0, stdout: '', stderr: '', timedOut: false };
    },
    async teardown() {
      await cleanup();
    },
    async extra() {
      // sysbox-fs's RSS with 20 idle sysbox-runc containers (the load sampler running: it ticks every 5 s), then a
      // probe's /proc/uptime p99 while those 20 read /proc/uptime in paced loops vs while they are idle
      const names: string[] = [];
      try {
        const pid = fsPid();
        load.pid = pid;
        load.before = rssMB(pid).rss;
        for (let k = 0; k <= PROCFS_LOADERS; k++) {
          const n = uniqueName(k < PROCFS_LOADERS ? 'bench-procfs-idle' : 'bench-procfs-probe');
          names.push(n);
          const r = await run('sysbox-runc', ['-d', '--name', n, ...bind, IMAGES.busybox, 'sleep', '3600'], { timeoutMs: 60_000 });
          if (r.code !== 0) throw new Error(`starting container ${k + 1}: ${firstLine(r)}`);
          if (k < PROCFS_LOADERS) load.started++;
          process.stderr.write(`\r  procfs-reads: ${load.started}/${PROCFS_LOADERS} idle sysbox-runc containers   `);
        }
        process.stderr.write('\n');
        await sleep(6000); // past a tick of the load sampler with all of them
        load.others = await otherSysboxContainers(new Set(names));
        load.pidChanged = fsPid() !== pid;
        const m = rssMB(fsPid());
        Object.assign(load, { withContainers: m.rss, anon: m.anon, file: m.file });
        // probes: a sysbox-runc container (the emulated /proc/uptime) and a runc one (the kernel's, the machine's own
        // latency under the same load, for reference)
        const probes: Array<[string, string]> = [['sysbox-fs', names[PROCFS_LOADERS]!]];
        const rp = uniqueName('bench-procfs-probe-runc');
        names.push(rp);
        if ((await run('runc', ['-d', '--name', rp, ...bind, IMAGES.busybox, 'sleep', '3600'], { timeoutMs: 60_000 })).code === 0) probes.push(['runc', rp]);
        const probeAll = async (phase: 'idle' | 'loaded') => {
          for (let k = 0; k < PROCFS_PROBES; k++) {
            for (const [variant, n] of probes) {
              const r = await procread(n, '/proc/uptime', PROCFS_PROBE_READS, k, PROCFS_PROBE_RATE);
              if (typeof r === 'string') throw new Error(`${variant} probe (${phase}): ${r}`);
              const key = `${variant} ${phase}`;
              load.probes.set(key, [...(load.probes.get(key) ?? []), r]);
            }
          }
        };
        await probeAll('idle');
        // the loaders: each reads /proc/uptime PROCFS_LOADER_RATE times a second, long enough for the probes
        const secs = 10 + PROCFS_PROBES * probes.length * Math.ceil(PROCFS_PROBE_READS / PROCFS_PROBE_RATE + 1);
        await Promise.all(names.slice(0, PROCFS_LOADERS).map((n) => docker(['exec', '-d', n, '/procread', '/proc/uptime', String(secs * PROCFS_LOADER_RATE), '0', String(PROCFS_LOADER_RATE)], { timeoutMs: 30_000 })));
        await sleep(2000);
        await probeAll('loaded');
        load.underLoad = rssMB(fsPid()).rss;
      } catch (e) {
        load.error = (e as Error).message;
      } finally {
        await removeContainers(names);
        await removeLabelledPrefix('sysbox-e2e-bench-procfs-');
      }
      try {
        await sleep(2000);
        load.afterRemoval = rssMB(fsPid()).rss;
      } catch {
        /* reported as '-' */
      }
    },
    report(samples) {
      const rows: Record<string, unknown>[] = [];
      const med = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);
      const k = (v: number) => (Number.isFinite(v) ? (v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : `${(v / 1000).toFixed(2)}k`) : '-');
      const us = (v: number) => (!Number.isFinite(v) ? '-' : v >= 1000 ? `${(v / 1000).toFixed(2)}ms` : `${v.toFixed(0)}µs`);
      const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
      const mbs = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? `${v.toFixed(1)} MB` : '-');
      const stat = (col: string) => {
        const rs = results.get(col) ?? [];
        return { rps: med(rs.map((r) => r.rps)), min: Math.min(...rs.map((r) => r.rps)), p50: med(rs.map((r) => r.p50)), p99: med(rs.map((r) => r.p99)), bytes: rs[0]?.bytes, n: rs.length };
      };
      const failed = (col: string) => samples.get(col)?.failures ?? 0;
      // lxcfs's best file in this run: the bar for files lxcfs doesn't serve
      const lxBest = Math.max(...lxcfsFiles.map((f) => stat(`lxcfs ${f}`).rps).filter(Number.isFinite));
      console.log(`\n${name}: ${what}  (${RUNS} runs each, interleaved; medians over the runs)`);
      console.log(`  ${'file'.padEnd(52)} ${'sysbox-fs'.padStart(9)} ${'p50'.padStart(6)} ${'p99'.padStart(6)}  ${'lxcfs'.padStart(7)} ${'p50'.padStart(6)} ${'p99'.padStart(6)}  ${'kernel'.padStart(7)}  ${'vs lxcfs'.padStart(9)}`);
      const misses: string[] = [];
      for (const file of files) {
        const sb = stat(`sysbox-fs ${file}`);
        const rc = stat(`runc ${file}`);
        const has = lxcfsFiles.includes(file);
        const lx = has ? stat(`lxcfs ${file}`) : undefined;
        const ratio = sb.rps / (lx ? lx.rps : lxBest);
        const ok = Number.isFinite(ratio) && ratio >= PROCFS_RATIO_TARGET;
        if (!ok) misses.push(file);
        // the kernel's file may not exist (e.g. dmi/id on a host without DMI): '-' there, not a failure
        const fails = failed(`sysbox-fs ${file}`) + (has ? failed(`lxcfs ${file}`) : 0);
        const err = samples.get(`sysbox-fs ${file}`)?.error ?? samples.get(`lxcfs ${file}`)?.error ?? '';
        console.log(`  ${file.padEnd(52)} ${k(sb.rps).padStart(9)} ${us(sb.p50).padStart(6)} ${us(sb.p99).padStart(6)}  ${(lx ? k(lx.rps) : '-').padStart(7)} ${(lx ? us(lx.p50) : '').padStart(6)} ${(lx ? us(lx.p99) : '').padStart(6)}  ${k(rc.rps).padStart(7)}  ${`${x(ratio)}${lx ? '' : '*'}`.padStart(9)}${ok ? '' : '  < 3x'}${fails ? `  (${fails} failed runs: ${err})` : ''}`);
        rows.push({
          case: name, file, readsPerRun: PROCFS_READS, limits: PROCFS_LIMITS.join(' '),
          sysboxFs: { ...sb, perRun: results.get(`sysbox-fs ${file}`) }, kernel: { ...rc, perRun: results.get(`runc ${file}`) },
          lxcfs: lx ? { ...lx, perRun: results.get(`lxcfs ${file}`) } : undefined,
          vsLxcfs: ratio, vsLxcfsOf: lx ? 'same file' : 'lxcfs best file', meetsTarget: ok,
        });
      }
      console.log(`  * no lxcfs counterpart: against lxcfs's fastest file in this run (${k(lxBest)}/s)`);
      console.log(`  every emulated file ≥ ${PROCFS_RATIO_TARGET}× lxcfs's reads/s: ${misses.length === 0 ? 'ok' : `MISSED for ${misses.join(' ')}`}`);
      const probe = (key: string) => {
        const rs = load.probes.get(key) ?? [];
        return { p50: med(rs.map((r) => r.p50)), p99: med(rs.map((r) => r.p99)), n: rs.length };
      };
      const p99Ratio = probe('sysbox-fs loaded').p99 / probe('sysbox-fs idle').p99;
      console.log(`  /proc/uptime p50/p99 of a probe (${PROCFS_PROBES} × ${PROCFS_PROBE_READS.toLocaleString('en')} reads at ${PROCFS_PROBE_RATE}/s, medians), idle vs while ${PROCFS_LOADERS} sysbox-runc containers each read it ${PROCFS_LOADER_RATE}×/s:`);
      for (const variant of ['sysbox-fs', 'runc']) {
        const i = probe(`${variant} idle`);
        const l = probe(`${variant} loaded`);
        if (!i.n) continue;
        const r = l.p99 / i.p99;
        const verdict = variant === 'sysbox-fs' ? ` — target ≤ ${PROCFS_LOAD_P99_RATIO}×: ${Number.isFinite(r) ? (r <= PROCFS_LOAD_P99_RATIO ? 'ok' : 'MISSED') : '-'}` : ' (the kernel\'s own file: the machine under that load)';
        console.log(`    ${variant.padEnd(9)} idle p50 ${us(i.p50)} p99 ${us(i.p99)}; loaded p50 ${us(l.p50)} p99 ${us(l.p99)}: p99 ${x(r)} of idle${verdict}`);
      }
      const rssOk = load.withContainers !== undefined && load.withContainers < PROCFS_RSS_TARGET_MB;
      console.log(`  sysbox-fs RSS (pid ${load.pid ?? '?'}, VmRSS): ${mbs(load.withContainers)} with ${load.started + (load.started ? 1 : 0)} idle sysbox-runc containers and the load sampler` +
        `${load.others ? ` (+${load.others} of other runs)` : ''} (RssAnon ${mbs(load.anon)}, RssFile ${mbs(load.file)}); before ${mbs(load.before)}, under the readers' load ${mbs(load.underLoad)}, after removing them ${mbs(load.afterRemoval)}` +
        ` — target < ${PROCFS_RSS_TARGET_MB} MB: ${load.withContainers === undefined ? '-' : rssOk ? 'ok' : 'MISSED'} (issue 5's < ${PROCFS_RSS_ISSUE5_MB} MB: ${load.withContainers === undefined ? '-' : load.withContainers < PROCFS_RSS_ISSUE5_MB ? 'ok' : 'missed'})${load.pidChanged ? '  (sysbox-fs restarted meanwhile!)' : ''}${load.error ? `  error: ${load.error}` : ''}`);
      rows.push({ case: name, measure: 'uptime-p99-under-load', loaders: PROCFS_LOADERS, loaderRate: PROCFS_LOADER_RATE, probeReads: PROCFS_PROBE_READS, probeRate: PROCFS_PROBE_RATE, probes: Object.fromEntries(load.probes), p99Ratio, meetsTarget: p99Ratio <= PROCFS_LOAD_P99_RATIO });
      rows.push({ case: name, measure: 'sysbox-fs-rss', pid: load.pid, idleContainers: load.started, otherSysboxContainers: load.others, rssMBBefore: load.before, rssMB: load.withContainers, rssAnonMB: load.anon, rssFileMB: load.file, rssMBUnderLoad: load.underLoad, rssMBAfterRemoval: load.afterRemoval, targetMB: PROCFS_RSS_TARGET_MB, meetsTarget: rssOk, pidChanged: load.pidChanged, error: load.error });
      return rows;
    },
  };
}

// ── issue 16: syscall vetting ──
// A static C loop in a container (native/csrc/test/vetting-probe.c), runc with CAP_SYS_ADMIN (unvetted) beside
// sysbox-runc (vetted by sysbox-fs): tmpfs mount+umount pairs, and the data path (getpid, read of /dev/zero), which
// no seccomp rule of ours traps. The probe times itself; the table shows its ns per pair/call and the ratio to runc.
const VETTING_PROBE_SRC = join(E2E_DIR, '..', 'native', 'csrc', 'test', 'vetting-probe.c');
const VETTING_PROBE_BIN = join(E2E_DIR, '.cache', 'vetting-probe');
const VETTING_MEASURES = {
  'vetting-mounts': { args: ['loop', '10000', '/t'], what: '10,000 mount("tmpfs") + umount pairs', target: 3, unit: 'pair' },
  'data-getpid': { args: ['getpid', '1000000'], what: '1M getpid()', target: 1.02, unit: 'call' },
  'data-read': { args: ['readzero', '1000000'], what: '1M read(/dev/zero, 1 byte)', target: 1.02, unit: 'call' },
} as const;

async function buildVettingProbe(): Promise<void> {
  mkdirSync(join(E2E_DIR, '.cache'), { recursive: true });
  const r = await exec('gcc', ['-O2', '-static', '-Wall', '-o', VETTING_PROBE_BIN, VETTING_PROBE_SRC], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`gcc vetting-probe: ${firstLine(r)}`);
}

function vettingCase(name: keyof typeof VETTING_MEASURES): Case {
  const m = VETTING_MEASURES[name];
  const names = new Map<string, string>();
  const ns = new Map<string, number[]>();
  const runtimes = RUNTIMES.filter((r) => r === 'runc' || r === 'sysbox-runc');
  return {
    name,
    what: `${m.what} in a container (the probe's own ns per ${m.unit}; runc with CAP_SYS_ADMIN is unvetted)`,
    runtimes,
    async setup(rt) {
      const n = uniqueName(`bench-${name}-${rt}`);
      names.set(rt, n);
      ns.set(rt, []);
      const r = await run(rt, ['-d', '--name', n, '--cap-add', 'SYS_ADMIN', '-v', `${VETTING_PROBE_BIN}:/probe:ro`, IMAGES.busybox, 'sh', '-c', 'mkdir -p /t && sleep 3600'], { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(firstLine(r));
    },
    async step(rt, i) {
      const r = await docker(['exec', names.get(rt)!, '/probe', ...m.args], { timeoutMs: 300_000 });
      const v = /ns_per_(?:pair|call)=(\d+)/.exec(r.stdout)?.[1];
      if (r.code === 0 && /failures=[1-9]/.test(r.stdout)) return { ...r, code: 1, stderr: `probe: ${r.stdout.trim()}` };
      if (r.code === 0 && v !== undefined && i >= 0) ns.get(rt)!.push(Number(v));
      return r;
    },
    async teardown(rt) {
      const n = names.get(rt);
      if (n) await removeContainers([n]);
    },
    report() {
      const med = (rt: string) => quantile([...(ns.get(rt) ?? [])].sort((a, b) => a - b), 0.5);
      const ref = med('runc');
      console.log(`\n${name}: ${this.what}  (${RUNS} runs each, interleaved) — target <= ${m.target}x runc`);
      const rows: Record<string, unknown>[] = [];
      for (const rt of runtimes) {
        const v = med(rt);
        const ratio = v / ref;
        const ok = rt === 'runc' || ratio <= m.target;
        console.log(`  ${rt.padEnd(18)} ${Number.isFinite(v) ? `${(v / 1000).toFixed(3)} us/${m.unit}`.padStart(16) : 'FAILED'.padStart(16)} ${(Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-').padStart(8)}${rt === 'runc' ? '' : ok ? '  ok' : '  MISSED'}`);
        rows.push({ case: name, runtime: rt, runs: ns.get(rt)?.length ?? 0, medianNs: v, ratioVsRunc: ratio, target: m.target, meetsTarget: ok });
      }
      return rows;
    },
  };
}

/** removes this run's labelled containers whose name starts with prefix (a start that failed half-way) */
async function removeLabelledPrefix(prefix: string): Promise<void> {
  const r = await docker(['ps', '-a', '--filter', `label=${E2E_RUN_LABEL}=${runId()}`, '--format', '{{.Names}}'], { timeoutMs: 30_000 });
  await removeContainers(r.stdout.split('\n').map((l) => l.trim()).filter((n) => n.startsWith(prefix)));
}

// ── stats ──
function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

async function runCase(c: Case): Promise<Map<string, Sample>> {
  const samples = new Map<string, Sample>();
  const active: string[] = [];
  for (const rt of c.runtimes) {
    const s: Sample = { ms: [], byRound: new Map(), failures: 0, consecutive: 0, gaveUp: false };
    samples.set(rt, s);
    try {
      await c.setup?.(rt);
      active.push(rt);
    } catch (e) {
      s.error = `setup: ${(e as Error).message}`;
      s.gaveUp = true;
    }
  }
  try {
    // one warm-up round, not counted
    for (const rt of active) {
      await c.step(rt, -1).catch(() => undefined);
      await c.after?.(rt, -1).catch(() => undefined);
    }
    for (let i = 0; i < RUNS; i++) {
      // interleaved, rotating the order each round so no runtime always goes first
      const order = active.map((_, k) => active[(k + i) % active.length]!);
      for (const rt of order) {
        const s = samples.get(rt)!;
        if (s.gaveUp) continue;
        const t0 = performance.now();
        const r = await c.step(rt, i);
        const ms = performance.now() - t0;
        await c.after?.(rt, i).catch(() => undefined);
        if (r.code === 0) {
          s.ms.push(ms);
          s.byRound.set(i, ms);
          s.consecutive = 0;
        } else {
          s.failures++;
          s.consecutive++;
          s.error = firstLine(r);
          if (s.consecutive >= MAX_CONSECUTIVE_FAILURES && s.ms.length === 0) s.gaveUp = true;
        }
      }
      process.stderr.write(`\r  ${c.name}: round ${i + 1}/${RUNS}   `);
    }
    process.stderr.write('\n');
  } finally {
    // every runtime, also those whose setup failed half-way (e.g. a container created but not started)
    for (const rt of c.runtimes) await c.teardown?.(rt).catch(() => undefined);
  }
  await c.extra?.();
  return samples;
}

function report(c: Case, samples: Map<string, Sample>) {
  if (c.report) return c.report(samples);
  const ref = samples.get('runc');
  const refMed = ref && ref.ms.length ? quantile([...ref.ms].sort((a, b) => a - b), 0.5) : Number.NaN;
  const rows: Record<string, unknown>[] = [];
  console.log(`\n${c.name}: ${c.what}  (${RUNS} runs each, interleaved)`);
  console.log(`  ${'runtime'.padEnd(18)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'vs runc'.padStart(8)}  ok/fail`);
  for (const [rt, s] of samples) {
    const sorted = [...s.ms].sort((a, b) => a - b);
    const med = quantile(sorted, 0.5);
    const p90 = quantile(sorted, 0.9);
    const ratio = med / refMed;
    if (sorted.length === 0) {
      console.log(`  ${rt.padEnd(18)} ${'FAILED'.padStart(9)} ${''.padStart(9)} ${''.padStart(8)}  0/${s.failures}  ${s.error ?? ''}`);
    } else {
      console.log(`  ${rt.padEnd(18)} ${`${med.toFixed(1)} ms`.padStart(9)} ${`${p90.toFixed(1)} ms`.padStart(9)} ${(Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '-').padStart(8)}  ${sorted.length}/${s.failures}${s.failures ? `  last error: ${s.error}` : ''}`);
    }
    rows.push({ case: c.name, runtime: rt, runs: sorted.length, failures: s.failures, medianMs: med, p90Ms: p90, ratioVsRunc: ratio, error: s.error });
  }
  return rows;
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('the bench needs root');
  const env = process.env;
  delete env.NODE_EXTRA_CA_CERTS;
  await ensureDockerd();
  // image-size and procfs-reads alone need no crun (and so no cgroup v1 mounts)
  const used = [...new Set(CASES.flatMap((c) => (c === 'image-size' ? IMAGE_SIZE_RUNTIMES : c === 'procfs-reads' || c === 'systemd-boot' || c === 'systemd-rss' || c === 'dind-ready' || c in VETTING_MEASURES ? ['runc', 'sysbox-runc'] : RUNTIMES)))];
  if (used.some((r) => r.includes('crun'))) {
    const m = await ensureV1ControllersForCrun();
    if (m.length) log(`mounted cgroup v1 hierarchies for crun: ${m.join(' ')}`);
  }
  // the bench also registers sysbox-runc with crun as its engine
  await registerRuntimes({ 'sysbox-runc-crun': { path: SYSBOX_RUNC, runtimeArgs: ['--engine', 'crun'] } });
  log(`runtimes: ${Object.keys(await dockerRuntimes()).join(', ')}`);
  await ensureImage(IMAGES.busybox, buildBusybox);
  const started: DaemonSpec[] = [];
  const st = await ensureDaemons();
  for (const spec of daemonSpecs()) {
    const r = st[spec.name];
    if (r?.started) started.push(spec);
    log(`${spec.name}: ${r?.available ? 'running' : `not running (${r?.reason})`}`);
  }
  const cases: Case[] = [];
  for (const name of CASES) {
    if (name === 'docker-run') cases.push(dockerRunCase(IMAGES.busybox, 'docker-run'));
    else if (name === 'docker-exec') cases.push(dockerExecCase());
    else if (name === 'raw-bundle') cases.push(rawBundleCase());
    else if (name === 'docker-run-big') {
      await ensureDebianBig();
      cases.push(dockerRunCase(IMAGES.debianBig, 'docker-run-big'));
    } else if (name === 'image-size') {
      // debian-big (~650 MB) is built only when a case that uses it runs
      await ensureDebianBig();
      const sizes: Record<string, number> = {};
      for (const { image } of IMAGE_SIZE_IMAGES) {
        const b = await imageBytes(image);
        if (b !== undefined) sizes[image] = b;
      }
      cases.push(imageSizeCase(IMAGE_SIZE_RUNTIMES, sizes));
    } else if (name === 'daemon-rss') {
      // no timed rounds: the measurements, then the report
      let rows: Record<string, unknown>[] = [];
      cases.push({ name, what: 'daemon RSS', runtimes: [], step: async () => ({ code: 0, stdout: '', stderr: '', timedOut: false }), extra: async () => void (rows = await daemonRss(Number(arg('burst', '100')))), report: () => rows });
    } else if (name === 'procfs-reads') {
      await ensureProcread();
      cases.push(await procfsReadsCase());
    } else if (name === 'dind-ready') {
      await ensureDindImage();
      cases.push(dindReadyCase(['runc', 'sysbox-runc']));
    } else if (name in VETTING_MEASURES) {
      await buildVettingProbe();
      cases.push(vettingCase(name as keyof typeof VETTING_MEASURES));
    } else if (name === 'systemd-boot') {
      await ensureImage(IMAGES.system, buildDebianSystem);
      cases.push(systemdBootCase());
    } else if (name === 'systemd-rss') {
      await ensureImage(IMAGES.system, buildDebianSystem);
      let rows: Record<string, unknown>[] = [];
      cases.push({ name, what: 'daemon RSS with systemd containers', runtimes: [], step: async () => ({ code: 0, stdout: '', stderr: '', timedOut: false }), extra: async () => void (rows = await systemdRss()), report: () => rows });
    } else throw new Error(`unknown case ${name} (docker-run, docker-exec, raw-bundle, docker-run-big, image-size, procfs-reads, daemon-rss, dind-ready, systemd-boot, systemd-rss, vetting-mounts, data-getpid, data-read)`);
  }
  const rows: Record<string, unknown>[] = [];
  try {
    for (const c of cases) rows.push(...report(c, await runCase(c)));
  } finally {
    for (const spec of started) await stopDaemon(spec);
    await exec('sh', ['-c', 'for c in /sys/fs/cgroup/*/sysbox-bench; do find "$c" -depth -type d -exec rmdir {} \\; 2>/dev/null; done; true']);
  }
  const out = arg('json', join(E2E_DIR, '.cache', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`));
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, JSON.stringify({ runs: RUNS, at: new Date().toISOString(), rows }, null, 2));
  console.log(`\n(raw figures in ${out})`);
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
