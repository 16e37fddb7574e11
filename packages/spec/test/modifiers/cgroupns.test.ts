import { describe, expect, test } from 'vitest';
import { cgroupnsModifier } from '../../src/modifiers/cgroupns.js';
import type { Spec } from '../../src/types.js';
import { CTX, fixture } from '../helpers.js';

describe('cgroupnsModifier', () => {
  test.each([
    ['docker-plain (cgroup v1: absent)', fixture('docker-plain'), 1, true],
    ['already present', { ociVersion: '1.0.2', linux: { namespaces: [{ type: 'cgroup' }] } } satisfies Spec, 1, false],
    ['present with a path is kept', { ociVersion: '1.0.2', linux: { namespaces: [{ type: 'cgroup', path: '/proc/3/ns/cgroup' }] } } satisfies Spec, 1, false],
    ['no linux section', { ociVersion: '1.0.2' } satisfies Spec, 1, true],
  ])('%s', (_what, input, count, reported) => {
    const changes: string[] = [];
    const out = cgroupnsModifier(input, CTX, (c) => changes.push(c));
    expect(out.linux!.namespaces!.filter((n) => n.type === 'cgroup')).toHaveLength(count);
    expect(changes.length > 0).toBe(reported);
    if (!reported) expect(out).toBe(input);
  });
});
