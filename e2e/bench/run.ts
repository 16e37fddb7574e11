// pnpm bench: times commands for several runtimes, interleaved in one run, and prints medians, p90 and the
// ratio to runc. A runtime that fails is reported as failed; the bench goes on.
//
//   node bench/run.ts [--runs 20] [--cases docker-run,docker-exec,raw-bundle,vetting-mounts,data-getpid,data-read[,docker-run-big,image-size,procfs-reads]] [--runtimes runc,crun,sysbox-runc,sysbox-runc-crun] [--json out.json]
//   node bench/run.ts --case image-size --runs 10      (--case is --cases; one case or a comma list)
//   node bench/run.ts --case procfs-reads --runs 3
//   node bench/run.ts --case daemon-rss [--burst 100]   (sysbox-mgr's RSS after bursts, sysbox-fs's with 20 idle
//                                                       containers: bench/daemon-rss.ts)
//
// image-size: `docker run --rm IMAGE true` with busybox (~2 MB) and sysbox-test/debian-big (debian + a 450 MiB
// file layer), interleaved, for runc and sysbox-runc (or --runtimes); prints per runtime the medians, the
// difference big − small and the ratios. Issue 4's target: sysbox-runc's difference ≤ 100 ms (no chown of the
// image on start: the rootfs is an overlay on ID-mapped layers).
//
// procfs-reads (issue 5; only when named): per run, 10,000 × open + read-to-EOF + close of /proc/uptime and of
// /proc/meminfo by a small static C program (bench/procread.c, built with `gcc -O2 -static` into .cache/ and
// bind-mounted read-only) in three busybox containers: sysbox-runc (sysbox-fs's FUSE emulation), runc (the
// kernel's procfs) and runc with lxcfs's FUSE view bind-mounted over the two files (lxcfs is apt-installed and
// started on /var/lib/lxcfs when missing, and stopped again only if the bench started it). Each run is one
// `docker exec` of procread per file and variant, interleaved; procread times every read itself. Prints per file
// and variant reads/s, p50 and p99 (medians over the runs) and sysbox-fs vs lxcfs; then sysbox-fs's VmRSS with 20
// idle sysbox-runc containers. Issue 5's target: ≥ lxcfs's reads/s and p99 < 1 ms (goal 2× lxcfs); RSS < 80 MB.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { docker, run, uniqueName, removeContainers, runId, sleep, E2E_RUN_LABEL, type ExecResult } from '../src/docker.ts';
import { ensureDockerd, ensureV1ControllersForCrun, ensureImage, buildBusybox, ensureDebianBig, registerRuntimes, dockerRuntimes, log } from '../src/harness.ts';
import { ensureDaemons, daemonSpecs, stopDaemon, type DaemonSpec } from '../src/daemons.ts';
import { makeBundle, rawRuntime, runtimeBinary, type Bundle } from '../src/bundle.ts';
import { E2E_DIR, FS_PID_FILE, IMAGES, SYSBOX_RUNC } from '../src/paths.ts';
import { exec } from '../src/docker.ts';
import { daemonRss } from './daemon-rss.ts';

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

// ── procfs-reads (issue 5) ──
const PROCFS_FILES = ['/proc/uptime', '/proc/meminfo'] as const;
const PROCFS_READS = 10_000;
const PROCREAD_SRC = join(E2E_DIR, 'bench', 'procread.c');
const PROCREAD_BIN = join(E2E_DIR, '.cache', 'procread');
const LXCFS_DIR = '/var/lib/lxcfs';
const LXCFS_PID_FILE = '/run/lxcfs.pid';
/** issue 5's targets: sysbox-fs reads/s ≥ lxcfs's (goal 2×), p99 under 1 ms, RSS under 80 MB with 20 containers */
const PROCFS_P99_TARGET_US = 1000;
const PROCFS_GOAL_RATIO = 2;
const PROCFS_IDLE_CONTAINERS = 20;
const PROCFS_RSS_TARGET_MB = 80;

interface ProcfsVariant { key: string; runtime: string; binds: string[]; fsType: (t: string) => boolean; fsWant: string }
const PROCFS_VARIANTS: ProcfsVariant[] = [
  { key: 'sysbox-fs', runtime: 'sysbox-runc', binds: [], fsType: (t) => t.startsWith('fuse'), fsWant: 'fuse*' },
  { key: 'runc', runtime: 'runc', binds: [], fsType: (t) => t === 'proc', fsWant: 'proc' },
  {
    key: 'lxcfs', runtime: 'runc', fsType: (t) => t === 'fuse.lxcfs', fsWant: 'fuse.lxcfs',
    binds: PROCFS_FILES.flatMap((f) => ['-v', `${LXCFS_DIR}${f}:${f}:ro`]),
  },
];

/** one procread line: file=F reads=N bytes=B secs=S rps=R p50_us=… p90_us=… p99_us=… max_us=… */
interface ProcreadResult { round: number; reads: number; bytes: number; rps: number; p50: number; p90: number; p99: number; max: number }

function parseProcread(out: string, round: number): ProcreadResult | undefined {
  const kv = Object.fromEntries(out.trim().split(/\s+/).map((w) => w.split('=', 2) as [string, string]));
  const n = (k: string) => Number(kv[k]);
  const r = { round, reads: n('reads'), bytes: n('bytes'), rps: n('rps'), p50: n('p50_us'), p90: n('p90_us'), p99: n('p99_us'), max: n('max_us') };
  return Object.values(r).every(Number.isFinite) ? r : undefined;
}

/** `gcc -O2 -static` bench/procread.c into .cache/procread (always: it takes a fraction of a second). */
async function buildProcread(): Promise<void> {
  mkdirSync(join(PROCREAD_BIN, '..'), { recursive: true });
  const r = await exec('gcc', ['-O2', '-static', '-Wall', '-o', PROCREAD_BIN, PROCREAD_SRC], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`gcc -O2 -static ${PROCREAD_SRC}: ${firstLine(r)}`);
}

const lxcfsMounted = () => readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === LXCFS_DIR);
/** the pid of the lxcfs this bench started (it stops only that one) */
let lxcfsPid: number | undefined;

/** lxcfs installed (apt) and serving /var/lib/lxcfs; returns true when this call started it. */
async function ensureLxcfs(): Promise<boolean> {
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
  if (lxcfsMounted()) {
    try {
      statSync(`${LXCFS_DIR}/proc/uptime`);
      return false;
    } catch (e) {
      // a dead lxcfs left its mount behind (Transport endpoint is not connected): lazily unmount, start afresh
      if ((e as NodeJS.ErrnoException).code !== 'ENOTCONN') throw e;
      log(`${LXCFS_DIR}: stale lxcfs mount (ENOTCONN), unmounting`);
      await exec('fusermount', ['-u', '-z', LXCFS_DIR]);
    }
  }
  mkdirSync(LXCFS_DIR, { recursive: true });
  // lxcfs 5 runs in the foreground: started detached, its output to a log
  const logFd = openSync('/var/log/lxcfs-bench.log', 'a');
  const child = spawn('/usr/bin/lxcfs', [`--pidfile=${LXCFS_PID_FILE}`, LXCFS_DIR], { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  child.unref();
  lxcfsPid = child.pid;
  // serving once /var/lib/lxcfs/proc/uptime can be stat'ed; lxcfs exiting or 15 s without it is a failure
  let err: string | undefined = 'lxcfs did not mount within 15 s (see /var/log/lxcfs-bench.log)';
  for (const end = Date.now() + 15_000; Date.now() < end; await sleep(200)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      err = `lxcfs exited (${child.exitCode ?? child.signalCode}; see /var/log/lxcfs-bench.log)`;
      break;
    }
    if (lxcfsMounted() && existsSync(`${LXCFS_DIR}/proc/uptime`)) {
      err = undefined;
      break;
    }
  }
  if (err) {
    await stopLxcfs();
    throw new Error(err);
  }
  log(`started lxcfs on ${LXCFS_DIR} (pid ${lxcfsPid}); stopped again at the end`);
  return true;
}

async function stopLxcfs(): Promise<void> {
  const pid = lxcfsPid;
  lxcfsPid = undefined;
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    try {
      process.kill(pid, 0);
    } catch {
      break;
    }
    await sleep(200);
  }
  if (lxcfsMounted()) await exec('fusermount', ['-u', '-z', LXCFS_DIR]);
  log(`stopped lxcfs (pid ${pid})`);
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

interface RssFigures { pid?: number; before?: number; withContainers?: number; anon?: number; file?: number; afterRemoval?: number; started: number; others?: number; pidChanged?: boolean; error?: string }

function procfsReadsCase(): Case {
  const cols = PROCFS_VARIANTS.flatMap((v) => PROCFS_FILES.map((file) => ({ col: `${v.key} ${basename(file)}`, v, file })));
  const byCol = new Map(cols.map((c) => [c.col, c]));
  const containers = new Map<string, Promise<string>>();
  const fsTypes = new Map<string, string>();
  const results = new Map<string, ProcreadResult[]>(cols.map((c) => [c.col, []]));
  const rss: RssFigures = { started: 0 };
  let lxcfsStarted = false;

  /** the variant's container (one per variant, shared by its files), started once; checks what backs each file */
  const container = (v: ProcfsVariant) => {
    let p = containers.get(v.key);
    if (!p) {
      p = (async () => {
        if (v.key === 'lxcfs') lxcfsStarted = (await ensureLxcfs()) || lxcfsStarted;
        const n = uniqueName(`bench-procfs-${v.key}`);
        const r = await run(v.runtime, ['-d', '--name', n, '-v', `${PROCREAD_BIN}:/procread:ro`, ...v.binds, IMAGES.busybox, 'sleep', '3600'], { timeoutMs: 60_000 });
        if (r.code !== 0) throw new Error(firstLine(r));
        const m = await docker(['exec', n, 'cat', '/proc/self/mounts'], { timeoutMs: 30_000 });
        for (const file of PROCFS_FILES) {
          // the last mount on the path is the one a reader sees
          const t = m.stdout.split('\n').map((l) => l.split(' ')).filter((f) => f[1] === file).pop()?.[2] ?? 'proc';
          fsTypes.set(`${v.key} ${basename(file)}`, t);
          if (!v.fsType(t)) throw new Error(`${file} in the ${v.key} container is ${t}, not ${v.fsWant}`);
        }
        return n;
      })();
      containers.set(v.key, p);
    }
    return p;
  };

  return {
    name: 'procfs-reads',
    what: `${PROCFS_READS.toLocaleString('en')} × open+read-to-EOF+close by static C (bench/procread.c) in busybox: sysbox-runc (sysbox-fs) vs runc (procfs) vs runc + lxcfs`,
    runtimes: cols.map((c) => c.col),
    async setup(col) {
      await container(byCol.get(col)!.v);
    },
    async step(col, i) {
      const { v, file } = byCol.get(col)!;
      const n = await container(v);
      const r = await docker(['exec', n, '/procread', file, String(PROCFS_READS)], { timeoutMs: 120_000 });
      if (r.code !== 0 || i < 0) return r;
      const p = parseProcread(r.stdout, i);
      if (!p) return { ...r, code: 1, stderr: `unparsable procread output: ${r.stdout.trim().slice(0, 150)}` };
      results.get(col)!.push(p);
      return r;
    },
    async teardown(col) {
      const { v } = byCol.get(col)!;
      const p = containers.get(v.key);
      containers.delete(v.key);
      const n = await p?.catch(() => undefined);
      // a container whose start failed half-way has no name to hand back: remove it by this run's label and prefix
      if (n) await removeContainers([n]);
      else if (p) await removeLabelledPrefix(`sysbox-e2e-bench-procfs-${v.key}-`);
      if (containers.size === 0 && lxcfsStarted) {
        lxcfsStarted = false;
        await stopLxcfs().catch((e) => log(`stopping lxcfs: ${(e as Error).message}`));
      }
    },
    async extra() {
      // sysbox-fs's RSS with 20 idle sysbox-runc containers (besides any of other runs, counted)
      const names: string[] = [];
      try {
        const pid = fsPid();
        rss.pid = pid;
        rss.before = rssMB(pid).rss;
        for (let k = 0; k < PROCFS_IDLE_CONTAINERS; k++) {
          const n = uniqueName('bench-procfs-idle');
          names.push(n);
          const r = await run('sysbox-runc', ['-d', '--name', n, IMAGES.busybox, 'sleep', '3600'], { timeoutMs: 60_000 });
          if (r.code !== 0) throw new Error(`starting idle container ${k + 1}: ${firstLine(r)}`);
          rss.started++;
          process.stderr.write(`\r  procfs-reads: ${rss.started}/${PROCFS_IDLE_CONTAINERS} idle sysbox-runc containers   `);
        }
        process.stderr.write('\n');
        await sleep(3000);
        rss.others = await otherSysboxContainers(new Set(names));
        rss.pidChanged = fsPid() !== pid;
        const m = rssMB(fsPid());
        Object.assign(rss, { withContainers: m.rss, anon: m.anon, file: m.file });
      } catch (e) {
        rss.error = (e as Error).message;
      } finally {
        await removeContainers(names);
        await removeLabelledPrefix('sysbox-e2e-bench-procfs-idle-');
      }
      try {
        await sleep(2000);
        rss.afterRemoval = rssMB(fsPid()).rss;
      } catch {
        /* reported as '-' */
      }
    },
    report(samples) {
      const rows: Record<string, unknown>[] = [];
      const med = (xs: number[]) => quantile([...xs].sort((a, b) => a - b), 0.5);
      const k = (v: number) => (Number.isFinite(v) ? (v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : `${(v / 1000).toFixed(2)}k`) : '-');
      const us = (v: number) => (!Number.isFinite(v) ? '-' : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(0)} µs`);
      const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
      const mbs = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? `${v.toFixed(1)} MB` : '-');
      console.log(`\n${this.name}: ${this.what}  (${RUNS} runs each, interleaved; medians over the runs, min–max in brackets)`);
      console.log(`  ${'file'.padEnd(13)} ${'variant'.padEnd(10)} ${'reads/s'.padStart(8)} ${'(min–max)'.padStart(14)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'p99 max'.padStart(8)} ${'max'.padStart(9)} ${'vs lxcfs'.padStart(9)}  ${'fs'.padEnd(14)} ok/fail`);
      const stat = (col: string) => {
        const rs = results.get(col)!;
        return { rps: med(rs.map((r) => r.rps)), min: Math.min(...rs.map((r) => r.rps)), max: Math.max(...rs.map((r) => r.rps)), p50: med(rs.map((r) => r.p50)), p99: med(rs.map((r) => r.p99)), p99max: Math.max(...rs.map((r) => r.p99)), worst: Math.max(...rs.map((r) => r.max)), bytes: rs[0]?.bytes, n: rs.length };
      };
      const verdicts: string[] = [];
      for (const file of PROCFS_FILES) {
        const f = basename(file);
        const lx = stat(`lxcfs ${f}`);
        for (const v of PROCFS_VARIANTS) {
          const col = `${v.key} ${f}`;
          const s = samples.get(col)!;
          const st = stat(col);
          const ratio = st.rps / lx.rps;
          if (st.n === 0) {
            console.log(`  ${file.padEnd(13)} ${v.key.padEnd(10)} ${'FAILED'.padStart(8)}  0/${s.failures}  ${s.error ?? ''}`);
          } else {
            console.log(`  ${file.padEnd(13)} ${v.key.padEnd(10)} ${k(st.rps).padStart(8)} ${`(${k(st.min)}–${k(st.max)})`.padStart(14)} ${us(st.p50).padStart(8)} ${us(st.p99).padStart(8)} ${us(st.p99max).padStart(8)} ${us(st.worst).padStart(9)} ${(v.key === 'lxcfs' ? '' : x(ratio)).padStart(9)}  ${(fsTypes.get(col) ?? '?').padEnd(14)} ${st.n}/${s.failures}${s.failures ? `  last error: ${s.error}` : ''}`);
          }
          rows.push({
            case: this.name, file, variant: v.key, runtime: v.runtime, fsType: fsTypes.get(col), readsPerRun: PROCFS_READS, runs: st.n, failures: s.failures,
            bytes: st.bytes, readsPerSecMedian: st.rps, readsPerSecMin: st.min, readsPerSecMax: st.max, p50UsMedian: st.p50, p99UsMedian: st.p99, p99UsMax: st.p99max, maxUs: st.worst,
            vsLxcfs: v.key === 'lxcfs' ? undefined : ratio, perRun: results.get(col), error: s.error,
          });
        }
        const sb = stat(`sysbox-fs ${f}`);
        if (sb.n && lx.n) {
          const ratio = sb.rps / lx.rps;
          const ok = ratio >= 1 && sb.p99max < PROCFS_P99_TARGET_US;
          verdicts.push(`  sysbox-fs vs lxcfs, ${file}: ${x(ratio)} reads/s (${k(sb.rps)} vs ${k(lx.rps)}), p99 ${us(sb.p99)} vs ${us(lx.p99)} — target (≥ lxcfs, p99 < 1 ms in every run): ${ok ? 'ok' : 'MISSED'}; goal ${PROCFS_GOAL_RATIO}× lxcfs: ${ratio >= PROCFS_GOAL_RATIO ? 'ok' : 'not yet'}`);
          rows.push({ case: this.name, file, comparison: 'sysbox-fs/lxcfs', readsPerSecRatio: ratio, sysboxP99UsMax: sb.p99max, meetsTarget: ok, meetsGoal: ratio >= PROCFS_GOAL_RATIO });
        }
      }
      for (const l of verdicts) console.log(l);
      const rssOk = rss.withContainers !== undefined && rss.withContainers < PROCFS_RSS_TARGET_MB;
      console.log(`  sysbox-fs RSS (pid ${rss.pid ?? '?'}, VmRSS): ${mbs(rss.withContainers)} with ${rss.started} idle sysbox-runc containers` +
        `${rss.others ? ` (+${rss.others} of other runs)` : ''} (RssAnon ${mbs(rss.anon)}, RssFile ${mbs(rss.file)}); before ${mbs(rss.before)}, after removing them ${mbs(rss.afterRemoval)}` +
        ` — target < ${PROCFS_RSS_TARGET_MB} MB: ${rss.withContainers === undefined ? '-' : rssOk ? 'ok' : 'MISSED'}${rss.pidChanged ? '  (sysbox-fs restarted meanwhile!)' : ''}${rss.error ? `  error: ${rss.error}` : ''}`);
      rows.push({ case: this.name, measure: 'sysbox-fs-rss', pid: rss.pid, idleContainers: rss.started, otherSysboxContainers: rss.others, rssMBBefore: rss.before, rssMB: rss.withContainers, rssAnonMB: rss.anon, rssFileMB: rss.file, rssMBAfterRemoval: rss.afterRemoval, targetMB: PROCFS_RSS_TARGET_MB, meetsTarget: rssOk, pidChanged: rss.pidChanged, error: rss.error });
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
    for (const rt of active) await c.step(rt, -1).catch(() => undefined);
    for (let i = 0; i < RUNS; i++) {
      // interleaved, rotating the order each round so no runtime always goes first
      const order = active.map((_, k) => active[(k + i) % active.length]!);
      for (const rt of order) {
        const s = samples.get(rt)!;
        if (s.gaveUp) continue;
        const t0 = performance.now();
        const r = await c.step(rt, i);
        const ms = performance.now() - t0;
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
  const used = [...new Set(CASES.flatMap((c) => (c === 'image-size' ? IMAGE_SIZE_RUNTIMES : c === 'procfs-reads' || c in VETTING_MEASURES ? ['runc', 'sysbox-runc'] : RUNTIMES)))];
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
      await buildProcread();
      cases.push(procfsReadsCase());
    } else if (name in VETTING_MEASURES) {
      await buildVettingProbe();
      cases.push(vettingCase(name as keyof typeof VETTING_MEASURES));
    } else throw new Error(`unknown case ${name} (docker-run, docker-exec, raw-bundle, docker-run-big, image-size, procfs-reads, daemon-rss, vetting-mounts, data-getpid, data-read)`);
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
