#!/usr/bin/env node
// Generates TypeScript from proto/*.proto into src/gen/ with protoc (Debian's, from PATH or $PROTOC)
// and ts-proto (a devDependency). The output is committed too, so typecheck/tests work before a build;
// the build regenerates it and `git diff` shows any drift.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'proto');
const outDir = join(root, 'src', 'gen');
const plugin = join(root, 'node_modules', '.bin', 'protoc-gen-ts_proto');
const protoc = process.env.PROTOC ?? 'protoc';

if (!existsSync(plugin)) {
  console.error(`gen: ts-proto plugin missing at ${plugin} (run pnpm install)`);
  process.exit(1);
}
const protos = readdirSync(protoDir).filter((f) => f.endsWith('.proto')).sort();
mkdirSync(outDir, { recursive: true });
const opts = [
  'outputServices=generic-definitions',
  'esModuleInterop=true',
  'importSuffix=.js',
  'env=node',
  'forceLong=number',
  'outputJsonMethods=false',
  'useExactTypes=false',
].join(',');
try {
  execFileSync(
    protoc,
    [`--plugin=protoc-gen-ts_proto=${plugin}`, `--ts_proto_out=${outDir}`, `--ts_proto_opt=${opts}`, `-I${protoDir}`, ...protos],
    { stdio: 'inherit' },
  );
} catch (err) {
  if (err && err.code === 'ENOENT') {
    console.error(`gen: ${protoc} not found (apt-get install protobuf-compiler, or set PROTOC)`);
  } else {
    console.error(`gen: ${protoc} failed on ${protos.join(' ')}`);
  }
  process.exit(1);
}
