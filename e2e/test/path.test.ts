// The path of one `docker run`: the programs and the named sockets of ours that take part are exactly those the README
// lists (section "One `docker run`"), at most 6 programs and 4 sockets. Checked with `strace -f -e trace=execve,connect`
// attached to containerd (which starts the shims, which start the runtime) and to the sysbox daemons, during a
// `docker run --rm`, plus the sockets the create server holds connections to (it keeps one per daemon across creates).
// runc's column: no program or socket of ours at all.
import { describe, expect } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { run, sleep } from '../src/docker.ts';
import { caseFor } from '../src/cases.ts';
import { FS, MGR, RUNC_SERVER, readPid } from '../src/daemons.ts';
import { IMAGES, REPO_DIR, RUNTIMES } from '../src/paths.ts';

/** The README's table: kind (program | socket) → names. */
function readmeList(): { programs: string[]; sockets: string[] } {
  const text = readFileSync(join(REPO_DIR, 'README.md'), 'utf8');
  const rows = [...text.matchAll(/^\| (program|socket) \| `([^`]+)` \|/gm)];
  return {
    programs: rows.filter((r) => r[1] === 'program').map((r) => r[2]!).sort(),
    sockets: rows.filter((r) => r[1] === 'socket').map((r) => r[2]!).sort(),
  };
}

/** The pid of containerd (Docker's own, or the system's). */
function containerdPid(): number {
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'containerd') return Number(p);
    } catch {
      /* gone */
    }
  }
  throw new Error('containerd is not running');
}

/** What one of our executables is called in the README's list, or undefined if it is not ours. */
function ourProgram(path: string, argv: string[]): string | undefined {
  const name = basename(path);
  if (name === 'sysbox-runc' || name === 'sysbox-runc-hook' || name === 'sysbox-nsenter') return name;
  if (name === 'node' || name.startsWith('node')) {
    // the Node side of sysbox-runc (its CLI, or `serve`), sysbox-mgr or sysbox-fs restarted meanwhile
    const main = argv.find((a) => a.startsWith('/usr/local/lib/sysbox-ts/'));
    if (!main) return undefined;
    if (main.includes('/runc/')) return argv.includes('serve') ? 'sysbox-runc serve' : 'sysbox-runc';
    if (main.includes('/mgr/')) return 'sysbox-mgr';
    if (main.includes('/fs/')) return 'sysbox-fs';
    return main;
  }
  if (path.startsWith('/usr/local/lib/sysbox-ts/') || name.startsWith('sysbox-')) return name; // ours, and not in the list
  return undefined;
}

/**
 * Reads strace's output written with `-ff -o <out>`: one file `<out>.<pid>` per process, so no call is split into
 * `<unfinished ...>` and `<... resumed>` halves by another thread's line (with plain -f one file interleaves them, and a
 * split connect() was missed). Returns the lines in time order (`-ttt`), each prefixed with its pid.
 */
function readTrace(out: string): string {
  const dir = join(out, '..');
  const lines: { t: number; line: string }[] = [];
  for (const f of readdirSync(dir).filter((n) => n.startsWith(`${basename(out)}.`))) {
    const pid = f.slice(basename(out).length + 1);
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const m = /^(\d+\.\d+) (.*)$/.exec(l);
      if (m) lines.push({ t: Number(m[1]), line: `${pid} ${m[2]}` });
    }
  }
  return lines.sort((a, b) => a.t - b.t).map((l) => l.line).join('\n');
}

/** Parses strace's output (each line begins with the pid). */
function parseTrace(text: string, daemonTids: Set<number>): { programs: Set<string>; sockets: Set<string> } {
  const ours = new Set(daemonTids);
  const programs = new Set<string>();
  const sockets = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(execve|connect)\((.*)\) = (-?\d+)/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    if (m[2] === 'execve') {
      if (m[4] !== '0') continue;
      const path = /^"([^"]*)"/.exec(m[3]!)?.[1] ?? '';
      const argv = [...(/\[(.*?)\]/.exec(m[3]!)?.[1] ?? '').matchAll(/"([^"]*)"/g)].map((a) => a[1]!);
      const p = ourProgram(path, argv);
      if (p) {
        programs.add(p);
        ours.add(pid);
      } else {
        ours.delete(pid); // a child of ours that became the engine (or anything else)
      }
      continue;
    }
    const sun = /sun_path="([^"]+)"/.exec(m[3]!)?.[1];
    if (sun && ours.has(pid)) sockets.add(basename(sun));
  }
  return { programs, sockets };
}

/**
 * The named sockets of ours that process `pid` holds connections to (from `ss -xpn`: its end of each connection is
 * unnamed; the peer row, the daemon's end, names the socket). The create server keeps one connection per daemon
 * open across creates, so a run need not connect() at all.
 */
function keptSockets(pid: number): string[] {
  const rows = execFileSync('ss', ['-xpn'], { encoding: 'utf8' }).split('\n').map((l) => l.trim().split(/\s+/));
  // Netid State Recv-Q Send-Q Local-Address Local-Inode Peer-Address Peer-Inode [users:(...)]
  const peers = new Set(rows.filter((r) => r.slice(8).join(' ').includes(`pid=${pid},`)).map((r) => r[7]));
  return rows.filter((r) => peers.has(r[5]) && r[4]?.startsWith('/run/sysbox/')).map((r) => basename(r[4]!));
}

function tidsOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map(Number);
}

describe.each(RUNTIMES)('%s', (rt) => {
  const t = caseFor(rt);
  t("path: the programs and sockets of one docker run are the README's list (at most 6 programs, 4 sockets)", async () => {
    const listed = readmeList();
    expect(listed.programs.length).toBeGreaterThan(0);
    expect(listed.programs.length).toBeLessThanOrEqual(6);
    expect(listed.sockets.length).toBeLessThanOrEqual(4);
    const daemons = [MGR, FS, RUNC_SERVER].map((d) => readPid(d)).filter((p): p is number => p !== undefined);
    expect(daemons, 'sysbox-mgr, sysbox-fs and the create server run').toHaveLength(3);
    const dir = mkdtempSync('/var/tmp/sysbox-e2e-strace-');
    const out = join(dir, 'trace');
    try {
      const pids = [containerdPid(), ...daemons];
      const strace = spawn('strace', ['-f', '-ff', '-ttt', '-qq', '-s', '256', '-e', 'trace=execve,connect', '-o', out, ...pids.flatMap((p) => ['-p', String(p)])], { stdio: 'ignore' });
      const exited = new Promise((r) => strace.on('exit', r));
      // attached once strace has written the first line, or after a while (an idle containerd writes nothing)
      for (let i = 0; i < 20 && !readdirSync(dir).length; i++) await sleep(50);
      await sleep(500);
      const r = await run(rt, ['--rm', IMAGES.busybox, 'true'], { timeoutMs: 60_000 });
      await sleep(300); // the delete's teardown in sysbox-mgr
      strace.kill('SIGINT');
      await exited;
      expect(r.code, r.stderr).toBe(0);
      const seen = parseTrace(readTrace(out), new Set(daemons.flatMap(tidsOf)));
      if (rt === 'runc') {
        // (the daemons run meanwhile, but nothing of ours takes part in runc's docker run)
        expect([...seen.programs]).toEqual([]);
        expect([...seen.sockets]).toEqual([]);
        return;
      }
      // the daemons take part by being there (they are not started for the run): they count as programs
      const programs = [...new Set([...seen.programs, 'sysbox-runc serve', 'sysbox-mgr', 'sysbox-fs'])].sort();
      const sockets = [...new Set([...seen.sockets, ...keptSockets(readPid(RUNC_SERVER)!)])].filter((s) => s !== 'mgr-fds.sock').sort();
      console.log(`one docker run: programs ${programs.join(', ')}; sockets ${sockets.join(', ')}`);
      expect(programs).toEqual(listed.programs);
      expect(sockets).toEqual(listed.sockets);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
