import { describe, it, expect } from 'vitest';
import { parseMountinfo, overlayLayers, splitLowerdir, parseSuperOptions, mountsUnder, StagingError } from '../src/index.js';

const docker =
  '98 42 0:48 / /var/lib/docker/overlay2/7cd1/merged rw,relatime shared:3 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/XKRR:/var/lib/docker/overlay2/l/CTI4,upperdir=/var/lib/docker/overlay2/7cd1/diff,workdir=/var/lib/docker/overlay2/7cd1/work\n';

describe('staging: mountinfo parsing', () => {
  it('parses a Docker overlay line', () => {
    const [e] = parseMountinfo(docker);
    expect(e).toMatchObject({ id: 98, parentId: 42, mountPoint: '/var/lib/docker/overlay2/7cd1/merged', fstype: 'overlay', source: 'overlay' });
    expect(overlayLayers(e!)).toEqual({
      lowerdirs: ['/var/lib/docker/overlay2/l/XKRR', '/var/lib/docker/overlay2/l/CTI4'],
      upperdir: '/var/lib/docker/overlay2/7cd1/diff',
      workdir: '/var/lib/docker/overlay2/7cd1/work',
    });
  });

  it('resolves relative l/ lowerdirs against the overlay2 root (the grandparent of upperdir)', () => {
    const [e] = parseMountinfo(docker.replace(/\/var\/lib\/docker\/overlay2\/l\//g, 'l/'));
    expect(overlayLayers(e!).lowerdirs).toEqual(['/var/lib/docker/overlay2/l/XKRR', '/var/lib/docker/overlay2/l/CTI4']);
  });

  it('unescapes octal escapes in mount points and options, and overlay\'s backslash escapes in lowerdir', () => {
    const line = '5 1 0:1 / /a\\040b rw - overlay overlay rw,lowerdir=/x\\134:y:/z\\054w,upperdir=/u/diff,workdir=/u/work\n';
    const [e] = parseMountinfo(line);
    expect(e!.mountPoint).toBe('/a b');
    expect(parseSuperOptions(e!.superOptions).get('lowerdir')).toBe('/x\\:y:/z,w');
    expect(overlayLayers(e!).lowerdirs).toEqual(['/x:y', '/z,w']);
    expect(splitLowerdir('a\\\\b:c')).toEqual(['a\\b', 'c']);
  });

  it('refuses what it cannot stage faithfully', () => {
    const [noLower] = parseMountinfo('5 1 0:1 / /m rw - overlay overlay rw,upperdir=/u/d,workdir=/u/w\n');
    expect(() => overlayLayers(noLower!)).toThrow(StagingError);
    const [dataOnly] = parseMountinfo('5 1 0:1 / /m rw - overlay overlay rw,lowerdir=/a::/b\n');
    expect(() => overlayLayers(dataOnly!)).toThrow(/data-only/);
    const [rel] = parseMountinfo('5 1 0:1 / /m ro - overlay overlay ro,lowerdir=l/A\n');
    expect(() => overlayLayers(rel!)).toThrow(/relative/);
  });

  it('lists mounts under a dir deepest first, without prefix look-alikes', () => {
    const text = ['1 0 0:1 / / rw - ext4 /dev/vda rw', '2 1 0:2 / /s/rootfs/c1/lower0 ro - ext4 /dev/vda rw', '3 1 0:3 / /s/rootfs/c1/merged rw - overlay overlay rw,lowerdir=/x', '4 1 0:4 / /s/rootfs/c10/merged rw - tmpfs t rw'].join('\n');
    expect(mountsUnder(parseMountinfo(text), '/s/rootfs/c1')).toEqual(['/s/rootfs/c1/lower0', '/s/rootfs/c1/merged']);
  });
});
