// Structural validation of an OCI runtime spec (config.json 1.0.x–1.2, Linux).
// Collects every problem with its JSON path instead of stopping at the first one. Unknown fields are
// accepted (the spec allows extensions); known fields must have the right shape. It is deliberately
// as permissive as runc 1.1 where Docker 20.10 / containerd 1.6 rely on it (e.g. hooks.prestart,
// blockIO.weight 0, "1.0.2-dev" versions).

import { SpecError } from './errors.js';
import type { Spec, SpecProblem } from './types.js';

export type ValidateResult = { ok: true; spec: Spec } | { ok: false; problems: SpecProblem[] };

type Obj = Record<string, unknown>;

const NAMESPACES = new Set(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']);
const HOOK_KINDS = new Set(['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']);
const CAP_SETS = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const;
const SECCOMP_ACTIONS = new Set([
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
]);
const SECCOMP_OPS = new Set([
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
]);
const PROPAGATIONS = new Set(['private', 'shared', 'slave', 'unbindable', 'rprivate', 'rshared', 'rslave', 'runbindable']);
const SCHED_POLICIES = new Set(['SCHED_OTHER', 'SCHED_FIFO', 'SCHED_RR', 'SCHED_BATCH', 'SCHED_ISO', 'SCHED_IDLE', 'SCHED_DEADLINE']);
const IOPRIO_CLASSES = new Set(['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE']);
const UINT32_MAX = 0xffff_ffff;

/** Short, safe description of a value for messages (never throws, never prints whole objects). */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string': return v.length > 40 ? `"${v.slice(0, 40)}…"` : JSON.stringify(v);
    case 'number': case 'boolean': return String(v);
    case 'object': return 'an object';
    default: return typeof v;
  }
}

/** `a.b` for identifier-like keys, `a["x.y"]` otherwise (sysctl names, rdma devices). */
function keyPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}

class Checker {
  readonly problems: SpecProblem[] = [];

  add(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  isObj(v: unknown): v is Obj {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  }

  /** Returns the object, or undefined after recording a problem (absent optional → undefined silently). */
  obj(parent: Obj, key: string, path: string, required = false): Obj | undefined {
    const v = parent[key];
    if (v === undefined) {
      if (required) this.add(path, 'required field missing');
      return undefined;
    }
    if (!this.isObj(v)) {
      this.add(path, `expected an object, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  arr(parent: Obj, key: string, path: string, required = false): unknown[] | undefined {
    const v = parent[key];
    if (v === undefined || (v === null && !required)) {
      // Go's encoding/json writes nil slices as null: runc and Docker read them as absent.
      if (required) this.add(path, 'required field missing');
      return undefined;
    }
    if (!Array.isArray(v)) {
      this.add(path, `expected an array, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  str(parent: Obj, key: string, path: string, opts: { required?: boolean; absolute?: boolean; nonEmpty?: boolean } = {}): string | undefined {
    const v = parent[key];
    if (v === undefined) {
      if (opts.required) this.add(path, 'required field missing');
      return undefined;
    }
    return this.strValue(v, path, opts);
  }

  strValue(v: unknown, path: string, opts: { absolute?: boolean; nonEmpty?: boolean } = {}): string | undefined {
    if (typeof v !== 'string') {
      this.add(path, `expected a string, got ${describe(v)}`);
      return undefined;
    }
    if (opts.nonEmpty && v === '') this.add(path, 'must not be empty');
    else if (opts.absolute && !v.startsWith('/')) this.add(path, `must be an absolute path, got ${quote(v)}`);
    return v;
  }

  bool(parent: Obj, key: string, path: string, required = false): void {
    const v = parent[key];
    if (v === undefined) {
      if (required) this.add(path, 'required field missing');
      return;
    }
    if (typeof v !== 'boolean') this.add(path, `expected a boolean, got ${describe(v)}`);
  }

  /** Integer field within [min, max]; null accepted where Go writes nil pointers (nullable). */
  int(parent: Obj, key: string, path: string, opts: { required?: boolean; min?: number; max?: number; nullable?: boolean } = {}): number | undefined {
    const v = parent[key];
    if (v === undefined || (v === null && opts.nullable)) {
      if (opts.required) this.add(path, 'required field missing');
      return undefined;
    }
    return this.intValue(v, path, opts);
  }

  intValue(v: unknown, path: string, opts: { min?: number; max?: number } = {}): number | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.add(path, `expected an integer, got ${describe(v)}`);
      return undefined;
    }
    if (opts.min !== undefined && v < opts.min) this.add(path, `must be >= ${opts.min}, got ${v}`);
    else if (opts.max !== undefined && v > opts.max) this.add(path, `must be <= ${opts.max}, got ${v}`);
    return v;
  }

  uint32(parent: Obj, key: string, path: string, required = false): number | undefined {
    return this.int(parent, key, path, { required, min: 0, max: UINT32_MAX });
  }

  strArray(parent: Obj, key: string, path: string, opts: { absolute?: boolean; pattern?: RegExp; what?: string } = {}): string[] | undefined {
    const a = this.arr(parent, key, path);
    if (!a) return undefined;
    const out: string[] = [];
    a.forEach((item, i) => {
      const p = `${path}[${i}]`;
      const s = this.strValue(item, p, { absolute: opts.absolute });
      if (s === undefined) return;
      if (opts.pattern && !opts.pattern.test(s)) this.add(p, `invalid ${opts.what ?? 'value'} ${quote(s)}`);
      out.push(s);
    });
    return out;
  }

  enumOf(parent: Obj, key: string, path: string, allowed: Set<string>, what: string, required = false): string | undefined {
    const v = parent[key];
    if (v === undefined) {
      if (required) this.add(path, 'required field missing');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.add(path, `expected a string, got ${describe(v)}`);
      return undefined;
    }
    if (!allowed.has(v)) {
      this.add(path, `unknown ${what} ${quote(v)}`);
      return undefined;
    }
    return v;
  }

  stringMap(parent: Obj, key: string, path: string): void {
    const o = this.obj(parent, key, path);
    if (!o) return;
    for (const [k, v] of Object.entries(o)) {
      if (typeof v !== 'string') this.add(keyPath(path, k), `expected a string, got ${describe(v)}`);
    }
  }

  /** Each element of an array of objects, with its path. */
  eachObj(parent: Obj, key: string, path: string, fn: (o: Obj, p: string, i: number) => void, required = false): void {
    const a = this.arr(parent, key, path, required);
    if (!a) return;
    a.forEach((item, i) => {
      const p = `${path}[${i}]`;
      if (!this.isObj(item)) this.add(p, `expected an object, got ${describe(item)}`);
      else fn(item, p, i);
    });
  }
}

function checkIdMappings(c: Checker, parent: Obj, key: string, path: string): number {
  let n = 0;
  c.eachObj(parent, key, path, (m, p) => {
    n++;
    c.uint32(m, 'containerID', `${p}.containerID`, true);
    c.uint32(m, 'hostID', `${p}.hostID`, true);
    const size = c.uint32(m, 'size', `${p}.size`, true);
    if (size === 0) c.add(`${p}.size`, 'must be > 0');
  });
  return n;
}

function checkProcess(c: Checker, spec: Obj): void {
  const p = c.obj(spec, 'process', 'process');
  if (!p) return;
  c.bool(p, 'terminal', 'process.terminal');
  const box = c.obj(p, 'consoleSize', 'process.consoleSize');
  if (box) {
    c.uint32(box, 'height', 'process.consoleSize.height', true);
    c.uint32(box, 'width', 'process.consoleSize.width', true);
  }
  const user = c.obj(p, 'user', 'process.user', true);
  if (user) {
    c.uint32(user, 'uid', 'process.user.uid', true);
    c.uint32(user, 'gid', 'process.user.gid', true);
    c.uint32(user, 'umask', 'process.user.umask');
    const gids = c.arr(user, 'additionalGids', 'process.user.additionalGids');
    gids?.forEach((g, i) => c.intValue(g, `process.user.additionalGids[${i}]`, { min: 0, max: UINT32_MAX }));
    c.str(user, 'username', 'process.user.username');
  }
  c.strArray(p, 'args', 'process.args');
  c.str(p, 'commandLine', 'process.commandLine');
  c.strArray(p, 'env', 'process.env');
  c.str(p, 'cwd', 'process.cwd', { required: true, absolute: true });
  const caps = c.obj(p, 'capabilities', 'process.capabilities');
  if (caps) {
    for (const set of CAP_SETS) {
      c.strArray(caps, set, `process.capabilities.${set}`, { pattern: /^CAP_[A-Z0-9_]+$/, what: 'capability' });
    }
  }
  c.eachObj(p, 'rlimits', 'process.rlimits', (r, rp) => {
    const t = c.str(r, 'type', `${rp}.type`, { required: true });
    if (t !== undefined && !/^RLIMIT_[A-Z]+$/.test(t)) c.add(`${rp}.type`, `unknown rlimit ${quote(t)}`);
    c.int(r, 'hard', `${rp}.hard`, { required: true, min: 0 });
    c.int(r, 'soft', `${rp}.soft`, { required: true, min: 0 });
  });
  c.bool(p, 'noNewPrivileges', 'process.noNewPrivileges');
  c.str(p, 'apparmorProfile', 'process.apparmorProfile');
  c.int(p, 'oomScoreAdj', 'process.oomScoreAdj', { min: -1000, max: 1000 });
  c.str(p, 'selinuxLabel', 'process.selinuxLabel');
  const sched = c.obj(p, 'scheduler', 'process.scheduler');
  if (sched) {
    c.enumOf(sched, 'policy', 'process.scheduler.policy', SCHED_POLICIES, 'scheduler policy', true);
    c.int(sched, 'nice', 'process.scheduler.nice', { min: -20, max: 19 });
    c.int(sched, 'priority', 'process.scheduler.priority');
    c.strArray(sched, 'flags', 'process.scheduler.flags');
    for (const k of ['runtime', 'deadline', 'period']) c.int(sched, k, `process.scheduler.${k}`, { min: 0 });
  }
  const io = c.obj(p, 'ioPriority', 'process.ioPriority');
  if (io) {
    c.enumOf(io, 'class', 'process.ioPriority.class', IOPRIO_CLASSES, 'I/O priority class', true);
    c.int(io, 'priority', 'process.ioPriority.priority', { required: true, min: 0, max: 7 });
  }
}

function checkMounts(c: Checker, spec: Obj): void {
  c.eachObj(spec, 'mounts', 'mounts', (m, p) => {
    c.str(m, 'destination', `${p}.destination`, { required: true, absolute: true });
    c.str(m, 'type', `${p}.type`);
    c.str(m, 'source', `${p}.source`);
    c.strArray(m, 'options', `${p}.options`);
    const u = checkIdMappings(c, m, 'uidMappings', `${p}.uidMappings`);
    const g = checkIdMappings(c, m, 'gidMappings', `${p}.gidMappings`);
    if ((u === 0) !== (g === 0)) c.add(p, 'an ID-mapped mount needs both uidMappings and gidMappings');
  });
}

function checkHooks(c: Checker, spec: Obj): void {
  const hooks = c.obj(spec, 'hooks', 'hooks');
  if (!hooks) return;
  for (const kind of Object.keys(hooks)) {
    const kp = keyPath('hooks', kind);
    if (!HOOK_KINDS.has(kind)) {
      c.add(kp, `unknown hook kind ${quote(kind)}`);
      continue;
    }
    c.eachObj(hooks, kind, kp, (h, p) => {
      c.str(h, 'path', `${p}.path`, { required: true, absolute: true });
      c.strArray(h, 'args', `${p}.args`);
      c.strArray(h, 'env', `${p}.env`);
      c.int(h, 'timeout', `${p}.timeout`, { min: 1 });
    });
  }
}

function checkResources(c: Checker, linux: Obj): void {
  const r = c.obj(linux, 'resources', 'linux.resources');
  if (!r) return;
  const rp = 'linux.resources';
  c.eachObj(r, 'devices', `${rp}.devices`, (d, p) => {
    c.bool(d, 'allow', `${p}.allow`, true);
    c.enumOf(d, 'type', `${p}.type`, new Set(['a', 'c', 'b']), 'device type');
    c.int(d, 'major', `${p}.major`, { nullable: true, min: -1 });
    c.int(d, 'minor', `${p}.minor`, { nullable: true, min: -1 });
    const access = c.str(d, 'access', `${p}.access`);
    if (access !== undefined && !/^[rwm]*$/.test(access)) c.add(`${p}.access`, `invalid access ${quote(access)} (letters r, w, m)`);
  });
  const mem = c.obj(r, 'memory', `${rp}.memory`);
  if (mem) {
    for (const k of ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP']) c.int(mem, k, `${rp}.memory.${k}`, { nullable: true, min: -1 });
    c.int(mem, 'swappiness', `${rp}.memory.swappiness`, { nullable: true, min: 0 });
    for (const k of ['disableOOMKiller', 'useHierarchy', 'checkBeforeUpdate']) c.bool(mem, k, `${rp}.memory.${k}`);
  }
  const cpu = c.obj(r, 'cpu', `${rp}.cpu`);
  if (cpu) {
    for (const k of ['shares', 'period', 'realtimePeriod', 'burst']) c.int(cpu, k, `${rp}.cpu.${k}`, { nullable: true, min: 0 });
    for (const k of ['quota', 'realtimeRuntime', 'idle']) c.int(cpu, k, `${rp}.cpu.${k}`, { nullable: true });
    c.str(cpu, 'cpus', `${rp}.cpu.cpus`);
    c.str(cpu, 'mems', `${rp}.cpu.mems`);
  }
  const pids = c.obj(r, 'pids', `${rp}.pids`);
  if (pids) c.int(pids, 'limit', `${rp}.pids.limit`, { required: true });
  const bio = c.obj(r, 'blockIO', `${rp}.blockIO`);
  if (bio) {
    c.int(bio, 'weight', `${rp}.blockIO.weight`, { nullable: true, min: 0, max: 1000 });
    c.int(bio, 'leafWeight', `${rp}.blockIO.leafWeight`, { nullable: true, min: 0, max: 1000 });
    c.eachObj(bio, 'weightDevice', `${rp}.blockIO.weightDevice`, (d, p) => {
      c.int(d, 'major', `${p}.major`, { required: true });
      c.int(d, 'minor', `${p}.minor`, { required: true });
      c.int(d, 'weight', `${p}.weight`, { nullable: true, min: 0, max: 1000 });
      c.int(d, 'leafWeight', `${p}.leafWeight`, { nullable: true, min: 0, max: 1000 });
    });
    for (const k of ['throttleReadBpsDevice', 'throttleWriteBpsDevice', 'throttleReadIOPSDevice', 'throttleWriteIOPSDevice']) {
      c.eachObj(bio, k, `${rp}.blockIO.${k}`, (d, p) => {
        c.int(d, 'major', `${p}.major`, { required: true });
        c.int(d, 'minor', `${p}.minor`, { required: true });
        c.int(d, 'rate', `${p}.rate`, { required: true, min: 0 });
      });
    }
  }
  c.eachObj(r, 'hugepageLimits', `${rp}.hugepageLimits`, (h, p) => {
    c.str(h, 'pageSize', `${p}.pageSize`, { required: true, nonEmpty: true });
    c.int(h, 'limit', `${p}.limit`, { required: true, min: 0 });
  });
  const net = c.obj(r, 'network', `${rp}.network`);
  if (net) {
    c.uint32(net, 'classID', `${rp}.network.classID`);
    c.eachObj(net, 'priorities', `${rp}.network.priorities`, (x, p) => {
      c.str(x, 'name', `${p}.name`, { required: true });
      c.uint32(x, 'priority', `${p}.priority`, true);
    });
  }
  const rdma = c.obj(r, 'rdma', `${rp}.rdma`);
  if (rdma) {
    for (const dev of Object.keys(rdma)) {
      const dp = keyPath(`${rp}.rdma`, dev);
      const o = c.obj(rdma, dev, dp, true);
      if (o) {
        c.uint32(o, 'hcaHandles', `${dp}.hcaHandles`);
        c.uint32(o, 'hcaObjects', `${dp}.hcaObjects`);
      }
    }
  }
  c.stringMap(r, 'unified', `${rp}.unified`);
}

function checkSeccomp(c: Checker, linux: Obj): void {
  const s = c.obj(linux, 'seccomp', 'linux.seccomp');
  if (!s) return;
  const sp = 'linux.seccomp';
  c.enumOf(s, 'defaultAction', `${sp}.defaultAction`, SECCOMP_ACTIONS, 'seccomp action', true);
  c.uint32(s, 'defaultErrnoRet', `${sp}.defaultErrnoRet`);
  c.strArray(s, 'architectures', `${sp}.architectures`, { pattern: /^SCMP_ARCH_[A-Z0-9_]+$/, what: 'architecture' });
  c.strArray(s, 'flags', `${sp}.flags`, { pattern: /^SECCOMP_FILTER_FLAG_[A-Z_]+$/, what: 'seccomp flag' });
  const listener = c.str(s, 'listenerPath', `${sp}.listenerPath`, { absolute: true });
  c.str(s, 'listenerMetadata', `${sp}.listenerMetadata`);
  let notify = false;
  c.eachObj(s, 'syscalls', `${sp}.syscalls`, (sc, p) => {
    const names = c.strArray(sc, 'names', `${p}.names`);
    if (sc.names === undefined || sc.names === null) c.add(`${p}.names`, 'required field missing');
    else if (names && names.length === 0) c.add(`${p}.names`, 'must list at least one syscall');
    names?.forEach((n, i) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(n)) c.add(`${p}.names[${i}]`, `invalid syscall name ${quote(n)}`);
    });
    const action = c.enumOf(sc, 'action', `${p}.action`, SECCOMP_ACTIONS, 'seccomp action', true);
    if (action === 'SCMP_ACT_NOTIFY') notify = true;
    c.int(sc, 'errnoRet', `${p}.errnoRet`, { nullable: true, min: 0, max: UINT32_MAX });
    c.eachObj(sc, 'args', `${p}.args`, (a, ap) => {
      c.int(a, 'index', `${ap}.index`, { required: true, min: 0, max: 5 });
      c.int(a, 'value', `${ap}.value`, { required: true, min: 0 });
      c.int(a, 'valueTwo', `${ap}.valueTwo`, { min: 0 });
      c.enumOf(a, 'op', `${ap}.op`, SECCOMP_OPS, 'seccomp operator', true);
    });
  });
  if (s.defaultAction === 'SCMP_ACT_NOTIFY') c.add(`${sp}.defaultAction`, 'SCMP_ACT_NOTIFY cannot be the default action');
  if (notify && listener === undefined) c.add(`${sp}.listenerPath`, 'required when a rule uses SCMP_ACT_NOTIFY');
}

function checkLinux(c: Checker, spec: Obj): void {
  const linux = c.obj(spec, 'linux', 'linux');
  if (!linux) return;
  const uids = checkIdMappings(c, linux, 'uidMappings', 'linux.uidMappings');
  const gids = checkIdMappings(c, linux, 'gidMappings', 'linux.gidMappings');
  c.stringMap(linux, 'sysctl', 'linux.sysctl');
  checkResources(c, linux);
  c.str(linux, 'cgroupsPath', 'linux.cgroupsPath');
  const seen = new Map<string, number>();
  c.eachObj(linux, 'namespaces', 'linux.namespaces', (ns, p, i) => {
    const t = c.enumOf(ns, 'type', `${p}.type`, NAMESPACES, 'namespace', true);
    c.str(ns, 'path', `${p}.path`, { absolute: true });
    if (t === undefined) return;
    const prev = seen.get(t);
    if (prev !== undefined) c.add(`${p}.type`, `duplicate namespace "${t}" (also at linux.namespaces[${prev}])`);
    else seen.set(t, i);
  });
  const hasUserns = seen.has('user');
  if ((uids > 0 || gids > 0) && !hasUserns) {
    c.add(uids > 0 ? 'linux.uidMappings' : 'linux.gidMappings', 'ID mappings require a user namespace in linux.namespaces');
  }
  c.eachObj(linux, 'devices', 'linux.devices', (d, p) => {
    c.str(d, 'path', `${p}.path`, { required: true, absolute: true });
    const t = c.enumOf(d, 'type', `${p}.type`, new Set(['c', 'b', 'u', 'p']), 'device type', true);
    const needNumbers = t !== undefined && t !== 'p';
    c.int(d, 'major', `${p}.major`, { required: needNumbers, min: 0 });
    c.int(d, 'minor', `${p}.minor`, { required: needNumbers, min: 0 });
    c.uint32(d, 'fileMode', `${p}.fileMode`);
    c.uint32(d, 'uid', `${p}.uid`);
    c.uint32(d, 'gid', `${p}.gid`);
  });
  checkSeccomp(c, linux);
  c.enumOf(linux, 'rootfsPropagation', 'linux.rootfsPropagation', PROPAGATIONS, 'propagation');
  c.strArray(linux, 'maskedPaths', 'linux.maskedPaths', { absolute: true });
  c.strArray(linux, 'readonlyPaths', 'linux.readonlyPaths', { absolute: true });
  c.str(linux, 'mountLabel', 'linux.mountLabel');
  const rdt = c.obj(linux, 'intelRdt', 'linux.intelRdt');
  if (rdt) {
    for (const k of ['closID', 'l3CacheSchema', 'memBwSchema']) c.str(rdt, k, `linux.intelRdt.${k}`);
    for (const k of ['enableCMT', 'enableMBM']) c.bool(rdt, k, `linux.intelRdt.${k}`);
  }
  const pers = c.obj(linux, 'personality', 'linux.personality');
  if (pers) {
    c.enumOf(pers, 'domain', 'linux.personality.domain', new Set(['LINUX', 'LINUX32']), 'personality domain', true);
    c.strArray(pers, 'flags', 'linux.personality.flags');
  }
  const offs = c.obj(linux, 'timeOffsets', 'linux.timeOffsets');
  if (offs) {
    for (const clock of Object.keys(offs)) {
      const cp = keyPath('linux.timeOffsets', clock);
      const o = c.obj(offs, clock, cp, true);
      if (o) {
        c.int(o, 'secs', `${cp}.secs`);
        c.int(o, 'nanosecs', `${cp}.nanosecs`, { min: 0, max: 999_999_999 });
      }
    }
  }
}

function check(c: Checker, value: unknown): void {
  if (!c.isObj(value)) {
    c.add('', `expected a JSON object, got ${describe(value)}`);
    return;
  }
  const v = c.str(value, 'ociVersion', 'ociVersion', { required: true });
  if (v !== undefined && !/^1\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/.test(v)) {
    c.add('ociVersion', `unsupported version ${quote(v)} (expected 1.x.y)`);
  }
  checkProcess(c, value);
  const root = c.obj(value, 'root', 'root');
  if (root) {
    c.str(root, 'path', 'root.path', { required: true, nonEmpty: true });
    c.bool(root, 'readonly', 'root.readonly');
  }
  c.str(value, 'hostname', 'hostname');
  c.str(value, 'domainname', 'domainname');
  checkMounts(c, value);
  checkHooks(c, value);
  c.stringMap(value, 'annotations', 'annotations');
  checkLinux(c, value);
}

/** Checks `value` against the OCI runtime spec and returns every problem found. Never throws. */
export function validateSpec(value: unknown): ValidateResult {
  const c = new Checker();
  try {
    check(c, value);
  } catch (e) {
    // Only reachable for exotic in-memory inputs (throwing getters, revoked proxies), never for JSON.
    c.add('', `cannot be read: ${e instanceof Error ? e.message : describe(e)}`);
  }
  if (c.problems.length > 0) return { ok: false, problems: c.problems };
  return { ok: true, spec: value as Spec };
}

/** Parses and validates config.json text. Throws only SpecError. */
export function parseSpec(text: string): Spec {
  if (typeof text !== 'string') throw new SpecError([{ path: '', message: `expected JSON text, got ${describe(text)}` }]);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new SpecError([{ path: '', message: `invalid JSON: ${why}` }]);
  }
  const r = validateSpec(value);
  if (!r.ok) throw new SpecError(r.problems);
  return r.spec;
}
