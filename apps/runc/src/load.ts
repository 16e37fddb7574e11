// dist/load.cjs, what the launcher starts: runs the one-file CLI bundle (dist/main.cjs) from a V8 code cache
// taken *after* a create has run.
//
// Node's own compile cache (NODE_COMPILE_CACHE) stores the code V8 has when a file is compiled: the top level
// and little else. Every function a create runs (the gRPC client, protobuf, the spec conversion) is compiled
// again on its first call in every create: ~10 ms of CPU, measured with `--cpu-prof` (the client was busy, not
// waiting, through its connect and first call). A cache taken when a create exits holds all of them.
//
// The cache lives beside Node's (the launcher's NODE_COMPILE_CACHE dir), named after the Node version and the
// bundle's size and mtime; without that dir nothing is cached. V8 checks the cache against the source and
// rejects a stale one: the bundle then compiles as usual, and the next successful create writes a new cache
// (temp file and rename: concurrent creates never see half a file). Only a create writes it, so that a
// `state` or `delete` run first does not leave a cache without the create path.
// The bundle must not contain a real `import()` (vm.Script has no ESM loader without an experimental option):
// esbuild turns those of bundled and external packages into require(); test/bundle.test.ts checks the rest.
import { readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Script } from 'node:vm';

/** What main.cjs calls once a create has succeeded (see main.ts). */
export interface CodeCacheHook {
  save(): void;
}

const file = join(__dirname, 'main.cjs');
const source = readFileSync(file, 'utf8');
const dir = process.env['NODE_COMPILE_CACHE'];
let cachePath: string | undefined;
let cached: Buffer | undefined;
if (dir) {
  const st = statSync(file);
  cachePath = join(dir, `sysbox-runc-${process.version}-${st.size}-${Math.trunc(st.mtimeMs)}.cache`);
  try {
    cached = readFileSync(cachePath);
  } catch {
    cached = undefined;
  }
}

const script = new Script(Module.wrap(source), {
  filename: file,
  ...(cached ? { cachedData: cached } : {}),
});

const hook: CodeCacheHook = {
  save() {
    if (!cachePath || (cached && !script.cachedDataRejected)) return;
    const path = cachePath;
    cachePath = undefined;
    try {
      const tmp = `${path}.${process.pid}`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, path);
      const keep = basename(path);
      for (const f of readdirSync(dirname(path))) {
        if (f.startsWith('sysbox-runc-') && f.endsWith('.cache') && f !== keep) unlinkSync(join(dirname(path), f));
      }
    } catch {
      // a read-only or full disk: the next create tries again
    }
  },
};
(globalThis as { sysboxCodeCache?: CodeCacheHook }).sysboxCodeCache = hook;

const mod = new Module(file, module);
mod.filename = file;
const requireFromBundle = Module.createRequire(file);
(script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void).call(
  mod.exports,
  mod.exports,
  requireFromBundle,
  mod,
  file,
  __dirname,
);
