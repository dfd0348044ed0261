/**
 * What the local machine tells about its own sockets' owners: cgroup id ->
 * cgroup path (cgroup v2 ids are the inode numbers of the cgroup directories),
 * pid -> comm for sockets the kernel gave no command name, and the addresses
 * of this agent's own network namespace. All lookups are synchronous, cached
 * and bounded; the file system is read only on a miss, at a bounded rate.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { HostLookup } from './resolve.ts';

/**
 * Where cgroup v2 is mounted, from a mountinfo text (`/proc/self/mountinfo`):
 * `/sys/fs/cgroup` on unified hosts, `/sys/fs/cgroup/unified` on hybrid ones.
 */
export function cgroup2MountPoint(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype !== 'cgroup2') continue;
    const mount = line.slice(0, sep).split(' ')[4];
    if (mount !== undefined)
      return mount.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

export interface HostInfoOptions {
  /** Root of the cgroup v2 hierarchy; found in /proc/self/mountinfo when omitted. */
  cgroupRoot?: string;
  /** Cgroup directories remembered at most; a walk stops there and counts the rest. @default 65536 */
  maxCgroups?: number;
  /** Least time between two walks of the cgroup tree (a walk happens only on a miss). @default 5000 */
  minRewalkIntervalMs?: number;
  /** pid -> comm answers remembered at most. @default 4096 */
  maxPids?: number;
  /** How long a pid -> comm answer is trusted (pids are reused). @default 10000 */
  pidTtlMs?: number;
  /** Where /proc is. @default '/proc' */
  procRoot?: string;
  /** Clock. @default Date.now */
  now?: () => number;
}

/** Counters of the host lookups, for self-telemetry. */
export interface HostInfoStats {
  cgroupWalks: number;
  cgroupsKnown: number;
  /** Cgroup directories not remembered because `maxCgroups` was reached. */
  cgroupsTruncated: number;
  /** Walks that failed (unreadable root); the error is in `lastError`. */
  walkErrors: number;
  pidsKnown: number;
}

function sameEntries(a: ReadonlyMap<number, string>, b: ReadonlyMap<number, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** `HostLookup` over /sys/fs/cgroup and /proc. */
export class HostInfo implements HostLookup {
  readonly cgroupRoot: string | undefined;
  private readonly maxCgroups: number;
  private readonly minRewalkIntervalMs: number;
  private readonly maxPids: number;
  private readonly pidTtlMs: number;
  private readonly procRoot: string;
  private readonly now: () => number;
  private cgroups = new Map<number, string>();
  private lastWalkMs = -Infinity;
  /** A lookup missed since the last walk and was too soon for another. */
  private missedSinceWalk = false;
  private cgroupChanges = 0;
  private readonly pids = new Map<number, { comm: string | undefined; atMs: number }>();
  private readonly counters = { cgroupWalks: 0, cgroupsTruncated: 0, walkErrors: 0 };
  lastError: Error | undefined;

  constructor(options: HostInfoOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.maxCgroups = options.maxCgroups ?? 65_536;
    this.minRewalkIntervalMs = options.minRewalkIntervalMs ?? 5000;
    this.maxPids = options.maxPids ?? 4096;
    this.pidTtlMs = options.pidTtlMs ?? 10_000;
    this.now = options.now ?? Date.now;
    if (options.cgroupRoot !== undefined) {
      this.cgroupRoot = options.cgroupRoot;
    } else {
      let mountinfo = '';
      try {
        mountinfo = readFileSync(join(this.procRoot, 'self/mountinfo'), 'utf8');
      } catch (e) {
        this.lastError = new Error(`cannot read ${join(this.procRoot, 'self/mountinfo')}`, { cause: e });
      }
      this.cgroupRoot = cgroup2MountPoint(mountinfo);
    }
  }

  /** Moves whenever a walk finds the cgroup tree changed. */
  get version(): number {
    return this.cgroupChanges;
  }

  /**
   * Walks the tree again when a lookup missed too soon after the last walk and the interval has
   * passed since: the cgroup a socket waits for is found without asking for it again.
   */
  refresh(): void {
    if (this.missedSinceWalk && this.now() - this.lastWalkMs >= this.minRewalkIntervalMs) this.walkCgroups();
  }

  stats(): HostInfoStats {
    return { ...this.counters, cgroupsKnown: this.cgroups.size, pidsKnown: this.pids.size };
  }

  /** Walks the cgroup tree now (also done lazily on the first miss). */
  walkCgroups(): void {
    if (this.cgroupRoot === undefined) return;
    this.lastWalkMs = this.now();
    this.missedSinceWalk = false;
    this.counters.cgroupWalks++;
    const found = new Map<number, string>();
    const stack: string[] = ['/'];
    let truncated = 0;
    while (stack.length > 0) {
      const rel = stack.pop() as string;
      const abs = rel === '/' ? this.cgroupRoot : join(this.cgroupRoot, rel);
      try {
        const ino = statSync(abs).ino;
        if (found.size < this.maxCgroups) found.set(ino, rel);
        else truncated++;
        for (const d of readdirSync(abs, { withFileTypes: true })) {
          if (d.isDirectory()) stack.push(rel === '/' ? `/${d.name}` : `${rel}/${d.name}`);
        }
      } catch (e) {
        // A cgroup removed during the walk is normal; an unreadable root is not.
        if (rel === '/') {
          this.counters.walkErrors++;
          this.lastError = new Error(`cannot walk the cgroup tree at ${abs}`, { cause: e });
        }
      }
    }
    this.counters.cgroupsTruncated += truncated;
    if (!sameEntries(this.cgroups, found)) this.cgroupChanges++;
    this.cgroups = found;
  }

  cgroupPath(cgroupId: number): string | undefined {
    const known = this.cgroups.get(cgroupId);
    if (known !== undefined || cgroupId === 0) return known;
    if (this.now() - this.lastWalkMs < this.minRewalkIntervalMs) {
      this.missedSinceWalk = true;
      return undefined;
    }
    this.walkCgroups();
    return this.cgroups.get(cgroupId);
  }

  commOf(pid: number): string | undefined {
    if (!(Number.isInteger(pid) && pid > 0)) return undefined;
    const now = this.now();
    const cached = this.pids.get(pid);
    if (cached !== undefined && now - cached.atMs < this.pidTtlMs) return cached.comm;
    let comm: string | undefined;
    try {
      comm = readFileSync(join(this.procRoot, String(pid), 'comm'), 'utf8').replace(/\n$/, '');
    } catch {
      comm = undefined;
    }
    this.pids.delete(pid);
    this.pids.set(pid, { comm, atMs: now });
    if (this.pids.size > this.maxPids) {
      const oldest = this.pids.keys().next();
      if (oldest.done !== true) this.pids.delete(oldest.value);
    }
    return comm;
  }

  /** Inode of this process's network namespace, or undefined when /proc does not say. */
  ownNetns(): number | undefined {
    try {
      return statSync(join(this.procRoot, 'self/ns/net')).ino;
    } catch {
      return undefined;
    }
  }
}

/** The non-loopback addresses of this process's network namespace. */
export function ownAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal) out.push(a.address);
  }
  return out;
}
