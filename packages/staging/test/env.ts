// The StagingEnv the tests use: a kernel (FakeKernel, or the real one as root) and node:fs, with special dirs copied by cp -a.
import { execFileSync } from 'node:child_process';
import type { Kernel } from '@sysbox/native';
import { nodeFs, type StagingEnv, type StagingFs } from '../src/index.js';

export const fs: StagingFs = {
  ...nodeFs,
  copyTree: (src, dst) => void execFileSync('cp', ['-a', '--', `${src}/.`, `${dst}/`], { stdio: ['ignore', 'ignore', 'pipe'] }),
};

export const env = (kernel: Kernel): StagingEnv => ({ kernel, fs });
