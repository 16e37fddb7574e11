import { describe, expect, test } from 'vitest';
import { SysboxSpecError } from '../src/errors.js';
import { containerOptions, envValue } from '../src/options.js';
import type { Spec } from '../src/types.js';

const withEnv = (...env: string[]): Spec => ({ ociVersion: '1.0.2', process: { user: { uid: 0, gid: 0 }, cwd: '/', env: ['PATH=/bin', ...env] } });

describe('containerOptions: SYSBOX_HONOR_CAPS and SYSBOX_SYSCONT_MODE over the runtime defaults', () => {
  test.each([
    ['nothing set: a system container, the system-container capability rule', withEnv(), {}, { honorCaps: false, syscontMode: true }],
    ['SYSBOX_HONOR_CAPS=TRUE', withEnv('SYSBOX_HONOR_CAPS=TRUE'), {}, { honorCaps: true, syscontMode: true }],
    ['lower case is read too', withEnv('SYSBOX_HONOR_CAPS=true'), {}, { honorCaps: true, syscontMode: true }],
    ['config default honorCaps', withEnv(), { honorCaps: true }, { honorCaps: true, syscontMode: true }],
    ['the container overrides the config default', withEnv('SYSBOX_HONOR_CAPS=FALSE'), { honorCaps: true }, { honorCaps: false, syscontMode: true }],
    ['SYSBOX_SYSCONT_MODE=FALSE: regular container, caps honoured', withEnv('SYSBOX_SYSCONT_MODE=FALSE'), {}, { honorCaps: true, syscontMode: false }],
    ['config default syscontMode false', withEnv(), { syscontMode: false }, { honorCaps: true, syscontMode: false }],
    ['regular mode honours caps whatever SYSBOX_HONOR_CAPS says', withEnv('SYSBOX_SYSCONT_MODE=FALSE', 'SYSBOX_HONOR_CAPS=FALSE'), {}, { honorCaps: true, syscontMode: false }],
    ['the container asks for a system container over the config', withEnv('SYSBOX_SYSCONT_MODE=TRUE'), { syscontMode: false }, { honorCaps: false, syscontMode: true }],
    ['the last assignment wins, as in execve', withEnv('SYSBOX_HONOR_CAPS=TRUE', 'SYSBOX_HONOR_CAPS=FALSE'), {}, { honorCaps: false, syscontMode: true }],
  ])('%s', (_what, spec, defaults, want) => {
    expect(containerOptions(spec, defaults)).toEqual(want);
  });

  test('no process: the defaults', () => {
    expect(containerOptions({ ociVersion: '1.0.2' }, { honorCaps: true })).toEqual({ honorCaps: true, syscontMode: true });
  });

  test.each([['SYSBOX_HONOR_CAPS=yes'], ['SYSBOX_SYSCONT_MODE='], ['SYSBOX_SYSCONT_MODE=0']])('%s: refused, naming the variable', (e) => {
    const name = e.split('=')[0]!;
    expect(() => containerOptions(withEnv(e))).toThrow(SysboxSpecError);
    expect(() => containerOptions(withEnv(e))).toThrow(
      `error in the container spec: invalid or unsupported container spec: process.env: ${name} must be TRUE or FALSE, got ${JSON.stringify(e.slice(name.length + 1))}`,
    );
  });

  test('envValue reads only exact names', () => {
    expect(envValue(withEnv('SYSBOX_HONOR_CAPSX=TRUE'), 'SYSBOX_HONOR_CAPS')).toBeUndefined();
    expect(envValue(withEnv('SYSBOX_HONOR_CAPS=a=b'), 'SYSBOX_HONOR_CAPS')).toBe('a=b');
  });
});
