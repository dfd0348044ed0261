import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { HostInfo, cgroup2MountPoint, ownAddresses } from './host.ts';

describe('cgroup2MountPoint', () => {
  it('finds the cgroup2 mount on unified and hybrid hosts, unescaping octal', () => {
    const hybrid = [
      '30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
      '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
      '32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd',
    ].join('\n');
    assert.equal(cgroup2MountPoint(hybrid), '/sys/fs/cgroup/unified');
    assert.equal(
      cgroup2MountPoint('29 23 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw'),
      '/sys/fs/cgroup',
    );
    assert.equal(cgroup2MountPoint('29 23 0:26 / /mnt/my\\040cg rw - cgroup2 none rw'), '/mnt/my cg');
    assert.equal(cgroup2MountPoint('garbage\n\n - \n'), undefined);
  });

  it("finds this machine's cgroup2 mount", () => {
    const mount = cgroup2MountPoint(readFileSync('/proc/self/mountinfo', 'utf8'));
    assert.ok(mount, 'no cgroup2 mount in /proc/self/mountinfo: the kernel tests need cgroup v2');
    assert.ok(statSync(join(mount, 'cgroup.controllers')).isFile());
  });
});

describe('HostInfo', () => {
  const root = mkdtempSync(join(tmpdir(), 'lh-cgroup-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'system.slice/docker-abc.scope'), { recursive: true });
  mkdirSync(join(root, 'user.slice/user-1000.slice'), { recursive: true });
  const ino = (rel: string): number => statSync(join(root, rel)).ino;

  it('maps cgroup ids (directory inodes) to paths, walking again on a miss at a bounded rate', () => {
    let now = 0;
    const h = new HostInfo({ cgroupRoot: root, now: () => now, minRewalkIntervalMs: 1000 });
    assert.equal(h.cgroupPath(ino('system.slice/docker-abc.scope')), '/system.slice/docker-abc.scope');
    assert.equal(h.cgroupPath(ino('.')), '/');
    assert.equal(h.cgroupPath(ino('user.slice/user-1000.slice')), '/user.slice/user-1000.slice');
    assert.equal(h.stats().cgroupWalks, 1);
    mkdirSync(join(root, 'machine.slice/machine-web.scope'), { recursive: true });
    const fresh = ino('machine.slice/machine-web.scope');
    now = 500;
    assert.equal(h.cgroupPath(fresh), undefined, 'too soon after the last walk');
    assert.equal(h.cgroupPath(123456789012), undefined);
    assert.equal(h.stats().cgroupWalks, 1);
    now = 1500;
    assert.equal(h.cgroupPath(fresh), '/machine.slice/machine-web.scope');
    assert.equal(h.stats().cgroupWalks, 2);
    assert.equal(h.cgroupPath(0), undefined);
  });

  it('versions its answers: a walk that finds the tree changed moves it; a miss too soon walks at the next refresh', () => {
    let now = 0;
    const h = new HostInfo({ cgroupRoot: root, now: () => now, minRewalkIntervalMs: 1000 });
    h.walkCgroups();
    const first = h.version;
    h.walkCgroups();
    assert.equal(h.version, first, 'the same tree again');
    h.refresh();
    assert.equal(h.stats().cgroupWalks, 2, 'no miss, no walk');
    mkdirSync(join(root, 'machine.slice/machine-db.scope'), { recursive: true });
    const fresh = ino('machine.slice/machine-db.scope');
    now = 500;
    assert.equal(h.cgroupPath(fresh), undefined, 'too soon after the last walk');
    h.refresh();
    assert.equal(h.stats().cgroupWalks, 2, 'still too soon');
    now = 1000;
    h.refresh();
    assert.equal(h.stats().cgroupWalks, 3, 'walked for the miss without being asked again');
    assert.ok(h.version > first);
    assert.equal(h.cgroupPath(fresh), '/machine.slice/machine-db.scope');
    now = 3000;
    h.refresh();
    assert.equal(h.stats().cgroupWalks, 3, 'nothing missed since');
  });

  it('bounds the cgroups it remembers and counts the rest', () => {
    const h = new HostInfo({ cgroupRoot: root, maxCgroups: 2 });
    h.walkCgroups();
    assert.equal(h.stats().cgroupsKnown, 2);
    assert.ok(h.stats().cgroupsTruncated >= 3);
  });

  it('reports an unreadable cgroup root instead of throwing', () => {
    const h = new HostInfo({ cgroupRoot: join(root, 'missing') });
    assert.equal(h.cgroupPath(5), undefined);
    assert.equal(h.stats().walkErrors, 1);
    assert.match(String(h.lastError?.message), /cannot walk the cgroup tree at .*missing/);
  });

  it('reads comm from /proc for a pid, cached for its TTL, undefined for a pid that does not exist', () => {
    let now = 0;
    const h = new HostInfo({ cgroupRoot: root, now: () => now, pidTtlMs: 100 });
    const comm = readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim();
    assert.equal(h.commOf(process.pid), comm);
    assert.equal(h.commOf(0), undefined);
    assert.equal(h.commOf(-1), undefined);
    assert.equal(h.commOf(2 ** 31), undefined);
    now = 50;
    assert.equal(h.commOf(process.pid), comm);
    assert.equal(h.stats().pidsKnown, 2);
  });

  it("walks this machine's real cgroup v2 tree and finds its own cgroup", () => {
    const h = new HostInfo();
    assert.ok(h.cgroupRoot, 'no cgroup v2 mount found');
    const own = readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'))
      ?.slice(3);
    assert.ok(own !== undefined, '/proc/self/cgroup has no cgroup v2 line');
    const id = statSync(join(h.cgroupRoot, own)).ino;
    assert.equal(h.cgroupPath(id), own);
    assert.ok(h.ownNetns() !== undefined && h.ownNetns() !== 0);
  });

  it("lists this namespace's non-loopback addresses", () => {
    for (const a of ownAddresses()) assert.ok(a !== '127.0.0.1' && a !== '::1', a);
  });
});
