// pnpm bench: times commands for several runtimes, interleaved in one run, and prints medians, p90 and the
// ratio to runc. A runtime that fails is reported as failed; the bench goes on.
//
//   node bench/run.ts [--runs 20] [--cases docker-run,docker-exec,raw-bundle[,docker-run-big,image-size]] [--runtimes runc,crun,sysbox-runc,sysbox-runc-crun] [--json out.json]
//   node bench/run.ts --case image-size --runs 10      (--case is --cases; one case or a comma list)
//
// image-size: `docker run --rm IMAGE true` with busybox (~2 MB) and sysbox-test/debian-big (debian + a 450 MiB
// file layer), interleaved, for runc and sysbox-runc (or --runtimes); prints per runtime the medians, the
// difference big − small and the ratios. Issue 4's target: sysbox-runc's difference ≤ 100 ms (no chown of the
// image on start: the rootfs is an overlay on ID-mapped layers).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { docker, run, uniqueName, removeContainers, type ExecResult } from '../src/docker.ts';
import { ensureDockerd, ensureV1ControllersForCrun, ensureImage, buildBusybox, ensureDebianBig, registerRuntimes, dockerRuntimes, log } from '../src/harness.ts';
import { ensureDaemons, daemonSpecs, stopDaemon, type DaemonSpec } from '../src/daemons.ts';
import { makeBundle, rawRuntime, runtimeBinary, type Bundle } from '../src/bundle.ts';
import { E2E_DIR, IMAGES, SYSBOX_RUNC } from '../src/paths.ts';
import { exec } from '../src/docker.ts';

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
const CASES = (optArg('cases', 'case') ?? 'docker-run,docker-exec,raw-bundle').split(',').filter(Boolean);
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
  // image-size alone with its default runtimes needs no crun (and so no cgroup v1 mounts)
  const used = CASES.every((c) => c === 'image-size') ? IMAGE_SIZE_RUNTIMES : RUNTIMES;
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
    } else throw new Error(`unknown case ${name} (docker-run, docker-exec, raw-bundle, docker-run-big, image-size)`);
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
