/**
 * Test hosts as network namespaces joined by veth pairs (iproute2), for kernel and end-to-end tests.
 *
 * Each host is a namespace with `lo` up and one interface `eth0` holding an IPv4 and an IPv6 address
 * (IPv6 added with `nodad`, usable at once). Two layouts:
 * - a **pair**: two hosts joined by one veth pair (the default for two hosts);
 * - a **bridge**: N hosts plugged into a bridge that lives in its own hidden "switch" namespace
 *   (pods on one node; the default for any other number of hosts).
 * With `rootLink: true` the root namespace gets a veth into the bridge and the subnet's first address,
 * so a process in the root namespace (Prometheus, the agent...) can reach the hosts. Before returning,
 * `ip route get` must show every host address going through that veth; otherwise the topology is torn
 * down and the call fails (the subnet is in use elsewhere). Hosts get no default route: nothing they
 * send can leave the topology.
 *
 * Names: every namespace is `<prefix>-<6 hex>-<host>`; the root veth is `<prefix><6 hex>r` (fits
 * IFNAMSIZ). Prefixes of this team: `lhr` receiver, `lhk` k8s, `lhx` exporters, `lhp` page, `lht` test
 * infrastructure. Cleanup: `destroy()` is idempotent and kills the processes started with `host.spawn`;
 * a process `exit` hook (and SIGINT/SIGTERM) removes whatever is left; each topology is recorded under
 * `/run/loggerhead-netns/` with its owner pid, and `createTopology` first sweeps topologies of the same
 * prefix whose owner is dead (`sweepStale` does it on demand). Needs root; fails with the reason if not.
 *
 * @example
 * ```ts
 * import { after, test } from 'node:test';
 * import { createTopology } from '../support/netns.ts';
 *
 * test('client reaches server', async () => {
 *   const topo = await createTopology({ prefix: 'lhr', hosts: ['client', 'server'] });
 *   after(() => topo.destroy());
 *   const server = topo.host('server');
 *   const out = await topo.host('client').exec('ip', ['route', 'get', server.addr4]);
 *   // out.stdout: "10.x.y.3 dev eth0 src 10.x.y.2 ..."; server.inode is the netns inode the agent reports
 * });
 * ```
 */
import { execFile, execFileSync, spawn as spawnChild } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

/** Where each live topology is recorded (owner pid, namespaces), so a later run can sweep leftovers. */
export const RECORD_DIR = '/run/loggerhead-netns';
const NETNS_DIR = '/run/netns';
const PREFIX_RE = /^[a-z][a-z0-9]{0,5}$/;
const HOST_RE = /^[a-z][a-z0-9]{0,15}$/;
const HOST_IFNAME = 'eth0';
const COMMAND_TIMEOUT_MS = 30_000;

export interface TopologyOptions {
  /** Caller's prefix, `[a-z][a-z0-9]{0,5}` (`lhr`, `lhk`, `lhx`, `lhp`, `lht`); a random suffix is added. */
  prefix: string;
  /** Host names, `[a-z][a-z0-9]{0,15}`, unique; addresses are given in this order. */
  hosts: readonly string[];
  /**
   * IPv4 subnet, prefix length 8..29, e.g. `10.201.0.0/24`. The root link (if any) gets host offset 1,
   * hosts get offsets 2, 3, ... @default a random 10.200-249.x.0/24
   */
  subnet4?: string;
  /** IPv6 subnet, prefix length 64..124, e.g. `fd00:201::/64`. @default a random fd6c:xxxx:xxxx::/64 */
  subnet6?: string;
  /** Join the hosts by a bridge rather than one veth pair. @default true unless exactly 2 hosts and no rootLink */
  bridge?: boolean;
  /** Give the root namespace a veth into the bridge, with the subnets' first address. @default false */
  rootLink?: boolean;
}

export interface ExecOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
  /** @default 30000 */
  timeoutMs?: number;
  /** Resolve with the result instead of rejecting when the command exits non-zero. @default false */
  allowFailure?: boolean;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code (non-zero only with `allowFailure`). */
  code: number;
}

/**
 * Token-bucket shaping (`tc qdisc replace ... tbf`; netem is not available on this kernel).
 *
 * Where the drops happen matters to TCP's counters. `egress` shapes the host's own `eth0`: the sender's
 * qdisc drops locally, TCP sends the segment again as if new, and `bytes_sent − bytes_retrans` then
 * over-counts (measured: 6,389,232 for 4,000,032 bytes written). `ingress` shapes the bridge port that
 * delivers to the host: packets are lost in the "network", the sender retransmits, and
 * `bytes_sent − bytes_retrans` stays exact. Use `ingress` (bridge layout) to provoke retransmissions.
 */
export interface ShapeOptions {
  /** `egress`: the host's eth0; `ingress`: the bridge port toward the host (bridge layout only). @default 'egress' */
  direction?: 'egress' | 'ingress';
  /** Rate in kbit/s (1 kbit = 1000 bit). */
  rateKbit: number;
  /** Bucket size in bytes; at least the MTU plus headers. @default 16384 */
  burstBytes?: number;
  /** Bytes queued before drops (a small value provokes drops and so retransmissions). @default 65536 */
  limitBytes?: number;
}

export interface NetnsHost {
  /** Logical name given in `hosts`. */
  readonly name: string;
  /** Namespace name under /run/netns, for `ip netns exec`. */
  readonly netns: string;
  /** Inode of the namespace (the `net:[N]` number of /proc/PID/ns/net), as the agent reports it. */
  readonly inode: number;
  /** Interface inside the namespace: always `eth0`. */
  readonly ifname: string;
  readonly addr4: string;
  readonly addr6: string;
  /** Runs `cmd args` inside the namespace; rejects with the command, exit code and stderr on failure. */
  exec(cmd: string, args: readonly string[], options?: ExecOptions): Promise<ExecResult>;
  /**
   * Starts `cmd args` inside the namespace through `ip netns exec`, which execs the command in place:
   * the child's pid becomes the command's once it runs (right after 'spawn' it may still be `ip`, in
   * the root namespace). The process is killed by `destroy()` if still running.
   */
  spawn(cmd: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  /** Shapes traffic from (`egress`) or to (`ingress`) this host with tbf. */
  shape(options: ShapeOptions): Promise<void>;
  /** Removes the shaping of one direction (back to the default qdisc). @default 'egress' */
  unshape(direction?: 'egress' | 'ingress'): Promise<void>;
}

export interface RootLink {
  /** The veth in the root namespace. */
  readonly ifname: string;
  readonly addr4: string;
  readonly addr6: string;
}

export interface Topology {
  /** `<prefix>-<6 hex>`: every namespace of this topology starts with it. */
  readonly id: string;
  readonly layout: 'pair' | 'bridge';
  readonly hosts: readonly NetnsHost[];
  /** Present when created with `rootLink: true`. */
  readonly root: RootLink | undefined;
  readonly subnet4: string;
  readonly subnet6: string;
  /** The host named `name`; throws if there is none. */
  host(name: string): NetnsHost;
  /** Kills the processes started by `spawn`, deletes the namespaces and the root veth. Idempotent. */
  destroy(): Promise<void>;
}

interface TopologyRecord {
  pid: number;
  /** Start time of the owner process (field 22 of /proc/PID/stat), to tell a reused pid apart. */
  pidStart: string;
  namespaces: string[];
  rootIf: string | null;
}

/** Fails with the reason when this process cannot create namespaces (not root, or no iproute2). */
export function assertNetnsCapable(): void {
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new Error(
      `netns: creating network namespaces needs root, but this process runs as uid ${String(uid)}; ` +
        'run the kernel and end-to-end tests as root',
    );
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'pipe' });
  } catch (cause) {
    throw new Error(
      'netns: the `ip` command (iproute2) is missing; run `bash scripts/setup.d/10-net-tools.sh --test`',
      {
        cause,
      },
    );
  }
}

/**
 * Creates the namespaces, links and addresses of a topology.
 *
 * @example
 * ```ts
 * const topo = await createTopology({ prefix: 'lhk', hosts: ['a', 'b', 'c'], rootLink: true });
 * // three pods on one bridge; the root namespace reaches topo.host('a').addr4 through topo.root.ifname
 * await topo.destroy();
 * ```
 */
export async function createTopology(options: TopologyOptions): Promise<Topology> {
  assertNetnsCapable();
  const { prefix, hosts: names } = options;
  if (!PREFIX_RE.test(prefix)) {
    throw new Error(`netns: prefix ${JSON.stringify(prefix)} must match ${PREFIX_RE.source}`);
  }
  if (names.length === 0) throw new Error('netns: hosts must name at least one host');
  for (const name of names) {
    if (!HOST_RE.test(name)) {
      throw new Error(`netns: host name ${JSON.stringify(name)} must match ${HOST_RE.source}`);
    }
  }
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) throw new Error(`netns: host name ${JSON.stringify(duplicate)} appears twice`);
  const rootLink = options.rootLink ?? false;
  const bridge = options.bridge ?? (names.length !== 2 || rootLink);
  if (!bridge && names.length !== 2) {
    throw new Error(
      `netns: bridge: false joins exactly 2 hosts with one veth pair, got ${names.length} hosts`,
    );
  }
  if (!bridge && rootLink)
    throw new Error('netns: rootLink needs bridge: true (the root veth plugs into it)');

  // With a root link the subnets must be free in the root namespace; random ones are re-drawn if not.
  const subnet4 = await chooseSubnet(options.subnet4, 4, rootLink);
  const subnet6 = await chooseSubnet(options.subnet6, 6, rootLink);
  const needed = names.length + 2; // network address excluded, offset 1 for the root link
  for (const s of [subnet4, subnet6]) {
    if (s.size < BigInt(needed + 1)) {
      throw new Error(`netns: subnet ${s.text} is too small for ${names.length} hosts and the root link`);
    }
  }

  await sweepStale(prefix);
  const suffix = randomBytes(3).toString('hex');
  const id = `${prefix}-${suffix}`;
  const switchNs = bridge ? `${id}-sw` : null;
  const hostNs = names.map((n) => `${id}-${n}`);
  const rootIf = rootLink ? `${prefix}${suffix}r` : null;
  const record: TopologyRecord = {
    pid: process.pid,
    pidStart: processStart(process.pid) ?? '',
    namespaces: switchNs === null ? [...hostNs] : [switchNs, ...hostNs],
    rootIf,
  };
  // Written before anything exists, so that no namespace of ours is ever without its owner record.
  mkdirSync(RECORD_DIR, { recursive: true });
  writeFileSync(join(RECORD_DIR, `${id}.json`), JSON.stringify(record));
  const children = new Set<ChildProcess>();
  live.set(id, { record, children });
  installExitHooks();

  let destroyed: Promise<void> | null = null;
  const destroy = (): Promise<void> => {
    destroyed ??= (async () => {
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      await Promise.all(
        [...children].map((c) =>
          c.exitCode !== null || c.signalCode !== null
            ? undefined
            : new Promise<void>((resolve) => c.once('close', () => resolve())),
        ),
      );
      teardownSync(id, record);
      live.delete(id);
    })();
    return destroyed;
  };

  try {
    const root =
      rootIf === null
        ? undefined
        : { ifname: rootIf, addr4: hostAddress(subnet4, 1), addr6: hostAddress(subnet6, 1) };
    for (const ns of record.namespaces) {
      await ip(['netns', 'add', ns]);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    if (switchNs === null) {
      const [a, b] = hostNs as [string, string];
      await vethPair(HOST_IFNAME, a, HOST_IFNAME, b);
    } else {
      await ip([
        '-n',
        switchNs,
        'link',
        'add',
        'br0',
        'type',
        'bridge',
        'stp_state',
        '0',
        'mcast_snooping',
        '0',
      ]);
      await ip(['-n', switchNs, 'link', 'set', 'br0', 'up']);
      for (const [i, ns] of hostNs.entries()) {
        const port = `p${i}`;
        await vethPair(port, switchNs, HOST_IFNAME, ns);
        await ip(['-n', switchNs, 'link', 'set', port, 'master', 'br0', 'up']);
      }
      if (rootIf !== null) {
        await ip(['link', 'add', rootIf, 'type', 'veth', 'peer', 'name', 'pr', 'netns', switchNs]);
        await ip(['-n', switchNs, 'link', 'set', 'pr', 'master', 'br0', 'up']);
      }
    }
    const hosts: NetnsHost[] = [];
    for (const [i, name] of names.entries()) {
      const ns = hostNs[i] as string;
      const addr4 = hostAddress(subnet4, i + 2);
      const addr6 = hostAddress(subnet6, i + 2);
      await ip(['-n', ns, 'addr', 'add', `${addr4}/${subnet4.bits}`, 'dev', HOST_IFNAME]);
      await ip(['-n', ns, 'addr', 'add', `${addr6}/${subnet6.bits}`, 'dev', HOST_IFNAME, 'nodad']);
      await ip(['-n', ns, 'link', 'set', HOST_IFNAME, 'up']);
      const ingress = switchNs === null ? null : { netns: switchNs, dev: `p${i}` };
      hosts.push(makeHost(name, ns, addr4, addr6, children, ingress));
    }
    if (rootIf !== null && root !== undefined) {
      await ip(['addr', 'add', `${root.addr4}/${subnet4.bits}`, 'dev', rootIf]);
      await ip(['addr', 'add', `${root.addr6}/${subnet6.bits}`, 'dev', rootIf, 'nodad']);
      await ip(['link', 'set', rootIf, 'up']);
      for (const h of hosts) {
        for (const addr of [h.addr4, h.addr6]) await assertRouteVia(addr, rootIf);
      }
    }
    return {
      id,
      layout: bridge ? 'bridge' : 'pair',
      hosts,
      root,
      subnet4: subnet4.text,
      subnet6: subnet6.text,
      host(name: string): NetnsHost {
        const found = hosts.find((h) => h.name === name);
        if (found === undefined) {
          throw new Error(
            `netns: topology ${id} has no host ${JSON.stringify(name)} (hosts: ${names.join(', ')})`,
          );
        }
        return found;
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/**
 * Deletes the topologies of `prefix` whose owner process is gone (and namespaces of `prefix` that have
 * no record at all). Returns the namespaces deleted. Live topologies of other processes are left alone.
 *
 * @example
 * ```ts
 * const removed = await sweepStale('lhr'); // e.g. ['lhr-0a1b2c-client', 'lhr-0a1b2c-server']
 * ```
 */
export async function sweepStale(prefix: string): Promise<string[]> {
  if (!PREFIX_RE.test(prefix)) {
    throw new Error(`netns: prefix ${JSON.stringify(prefix)} must match ${PREFIX_RE.source}`);
  }
  const removed: string[] = [];
  const recorded = new Set<string>();
  const idRe = new RegExp(`^${prefix}-[0-9a-f]{6}\\.json$`);
  for (const file of existsSync(RECORD_DIR) ? readdirSync(RECORD_DIR) : []) {
    if (!idRe.test(file)) continue;
    const id = file.slice(0, -'.json'.length);
    let record: TopologyRecord;
    try {
      record = JSON.parse(readFileSync(join(RECORD_DIR, file), 'utf8')) as TopologyRecord;
    } catch {
      continue; // being written right now by its owner
    }
    for (const ns of record.namespaces) recorded.add(ns);
    if (ownerAlive(record)) continue;
    removed.push(...record.namespaces.filter((ns) => existsSync(join(NETNS_DIR, ns))));
    teardownSync(id, record);
  }
  const nsRe = new RegExp(`^${prefix}-[0-9a-f]{6}-`);
  for (const ns of existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR) : []) {
    if (!nsRe.test(ns) || recorded.has(ns)) continue;
    const id = ns.slice(0, prefix.length + 7);
    if (existsSync(join(RECORD_DIR, `${id}.json`))) continue; // recorded after our listing
    deleteNetnsSync(ns);
    removed.push(ns);
  }
  return removed;
}

/** The inode of a namespace under /run/netns (what `readlink /proc/PID/ns/net` shows as `net:[N]`). */
export function netnsInode(netns: string): number {
  return statSync(join(NETNS_DIR, netns)).ino;
}

// ---------------------------------------------------------------------------------------------------

interface Subnet {
  family: 4 | 6;
  text: string;
  base: bigint;
  bits: number;
  size: bigint;
}

function parseSubnet(text: string, family: 4 | 6): Subnet {
  const [addr, bitsText, extra] = text.split('/');
  const bits = Number(bitsText);
  const [min, max] = family === 4 ? [8, 29] : [64, 124];
  if (addr === undefined || extra !== undefined || isIP(addr) !== family || !Number.isInteger(bits)) {
    throw new Error(
      `netns: subnet${family} ${JSON.stringify(text)} is not an IPv${family} CIDR like ${family === 4 ? '10.201.0.0/24' : 'fd00:201::/64'}`,
    );
  }
  if (bits < min || bits > max) {
    throw new Error(
      `netns: subnet${family} ${JSON.stringify(text)} must have a prefix length in ${min}..${max}`,
    );
  }
  const total = family === 4 ? 32 : 128;
  const value = family === 4 ? v4ToBig(addr) : v6ToBig(addr);
  const size = 1n << BigInt(total - bits);
  if (value % size !== 0n) {
    throw new Error(`netns: subnet${family} ${JSON.stringify(text)} has host bits set`);
  }
  return { family, text, base: value, bits, size };
}

function hostAddress(subnet: Subnet, offset: number): string {
  const value = subnet.base + BigInt(offset);
  return subnet.family === 4 ? bigToV4(value) : bigToV6(value);
}

function v4ToBig(addr: string): bigint {
  return addr.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function bigToV4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

function v6ToBig(addr: string): bigint {
  const [head = '', tail] = addr.split('::');
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [
    ...headParts,
    ...Array<string>(8 - headParts.length - tailParts.length).fill('0'),
    ...tailParts,
  ];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function bigToV6(value: bigint): string {
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  // Canonical form: the longest run of two or more zero groups becomes '::'.
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j += 1;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  if (best.length < 2) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
}

function randomSubnet4(): string {
  return `10.${200 + randomInt(50)}.${randomInt(256)}.0/24`;
}

function randomSubnet6(): string {
  return `fd6c:${randomInt(0x10000).toString(16)}:${randomInt(0x10000).toString(16)}::/64`;
}

const SUBNET_DRAWS = 8;

/** The given subnet, checked free if `checkRoot`; or a random one, re-drawn while it is in use. */
async function chooseSubnet(given: string | undefined, family: 4 | 6, checkRoot: boolean): Promise<Subnet> {
  if (given !== undefined) {
    const subnet = parseSubnet(given, family);
    if (checkRoot) {
      const used = await subnetRoute(subnet);
      if (used !== null) {
        throw new Error(
          `netns: subnet ${subnet.text} is already routed in the root namespace (ip route get ` +
            `${hostAddress(subnet, 2)}: dev ${used}); pick another subnet or let createTopology choose one`,
        );
      }
    }
    return subnet;
  }
  for (let draw = 0; draw < SUBNET_DRAWS; draw++) {
    const subnet = parseSubnet(family === 4 ? randomSubnet4() : randomSubnet6(), family);
    if (!checkRoot || (await subnetRoute(subnet)) === null) return subnet;
  }
  throw new Error(`netns: ${SUBNET_DRAWS} random IPv${family} subnets were all routed in the root namespace`);
}

/**
 * The device through which the root namespace reaches the subnet directly (a connected route, or
 * `lo` for a local address), or null when it would go through a gateway or has no route at all.
 */
async function subnetRoute(subnet: Subnet): Promise<string | null> {
  const route = await routeGet(hostAddress(subnet, 2));
  return route !== null && route.gateway === undefined ? route.dev : null;
}

async function assertRouteVia(addr: string, dev: string): Promise<void> {
  const route = await routeGet(addr);
  if (route === null || route.dev !== dev || route.gateway !== undefined) {
    const says =
      route === null
        ? 'finds no route'
        : `says dev ${route.dev}${route.gateway === undefined ? '' : ` via ${route.gateway}`}`;
    throw new Error(
      `netns: refusing to use ${addr}: ip route get ${addr} ${says}, not our veth ${dev} ` +
        '(another interface routes this subnet; pick another subnet)',
    );
  }
}

/** `ip route get` in the root namespace; null when the address is unreachable. */
async function routeGet(addr: string): Promise<{ dev: string; gateway: string | undefined } | null> {
  const { stdout, code } = await run('ip', ['-j', 'route', 'get', addr], { allowFailure: true });
  if (code !== 0) return null;
  const [first] = JSON.parse(stdout) as Array<{ dev?: string; gateway?: string }>;
  if (first?.dev === undefined) throw new Error(`netns: ip route get ${addr} returned no device: ${stdout}`);
  return { dev: first.dev, gateway: first.gateway };
}

function makeHost(
  name: string,
  netns: string,
  addr4: string,
  addr6: string,
  children: Set<ChildProcess>,
  ingress: { netns: string; dev: string } | null,
): NetnsHost {
  const inode = netnsInode(netns);
  const shapedLink = (direction: 'egress' | 'ingress'): { netns: string; dev: string } => {
    if (direction === 'egress') return { netns, dev: HOST_IFNAME };
    if (ingress === null) {
      throw new Error(
        `netns: shaping ${name} on ingress needs the bridge layout (createTopology bridge: true)`,
      );
    }
    return ingress;
  };
  return {
    name,
    netns,
    inode,
    ifname: HOST_IFNAME,
    addr4,
    addr6,
    exec: (cmd, args, options) => run('ip', ['netns', 'exec', netns, cmd, ...args], options),
    spawn(cmd, args, options = {}) {
      const child = spawnChild('ip', ['netns', 'exec', netns, cmd, ...args], options);
      children.add(child);
      child.once('close', () => children.delete(child));
      return child;
    },
    async shape({ direction = 'egress', rateKbit, burstBytes = 16384, limitBytes = 65536 }) {
      for (const [field, value] of [
        ['rateKbit', rateKbit],
        ['burstBytes', burstBytes],
        ['limitBytes', limitBytes],
      ] as const) {
        if (!Number.isInteger(value) || value <= 0) {
          throw new Error(`netns: shape ${field} must be a positive integer, got ${String(value)}`);
        }
      }
      const link = shapedLink(direction);
      await run('tc', [
        '-n',
        link.netns,
        'qdisc',
        'replace',
        'dev',
        link.dev,
        'root',
        'tbf',
        'rate',
        `${rateKbit}kbit`,
        'burst',
        String(burstBytes),
        'limit',
        String(limitBytes),
      ]);
    },
    async unshape(direction = 'egress') {
      const link = shapedLink(direction);
      await run('tc', ['-n', link.netns, 'qdisc', 'del', 'dev', link.dev, 'root'], { allowFailure: true });
    },
  };
}

function ip(args: readonly string[]): Promise<ExecResult> {
  return run('ip', args);
}

/** A veth pair: `nameA` in namespace `nsA`, its peer `nameB` in `nsB`. */
function vethPair(nameA: string, nsA: string, nameB: string, nsB: string): Promise<ExecResult> {
  return ip(['link', 'add', nameA, 'netns', nsA, 'type', 'veth', 'peer', 'name', nameB, 'netns', nsB]);
}

function run(cmd: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: options.timeoutMs ?? COMMAND_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr, code: 0 });
        } else if (options.allowFailure === true && typeof error.code === 'number') {
          resolve({ stdout, stderr, code: error.code });
        } else {
          const why = error.killed
            ? `was killed after ${options.timeoutMs ?? COMMAND_TIMEOUT_MS} ms`
            : `failed (${String(error.code ?? error.signal)})`;
          reject(
            new Error(`netns: \`${[cmd, ...args].join(' ')}\` ${why}: ${stderr.trim()}`, { cause: error }),
          );
        }
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

// ---------------------------------------------------------------------------------------------------
// Cleanup, synchronous so that it also runs from the process `exit` hook.

const live = new Map<string, { record: TopologyRecord; children: Set<ChildProcess> }>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', teardownAllSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      teardownAllSync();
      // Nobody else listens: keep the default behaviour of dying by this signal.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function teardownAllSync(): void {
  for (const [id, { record, children }] of live) {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    teardownSync(id, record);
  }
  live.clear();
}

function teardownSync(id: string, record: TopologyRecord): void {
  // Deleting a namespace deletes the veths in it, and with them their peers (the root veth included).
  for (const ns of record.namespaces) deleteNetnsSync(ns);
  if (record.rootIf !== null && existsSync(`/sys/class/net/${record.rootIf}`)) {
    try {
      execFileSync('ip', ['link', 'del', record.rootIf], { stdio: 'pipe' });
    } catch {
      // already gone with its peer
    }
  }
  rmSync(join(RECORD_DIR, `${id}.json`), { force: true });
}

function deleteNetnsSync(ns: string): void {
  if (!existsSync(join(NETNS_DIR, ns))) return;
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
  } catch (error) {
    if (existsSync(join(NETNS_DIR, ns))) throw error;
  }
}

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at index 2 (state).
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function ownerAlive(record: TopologyRecord): boolean {
  const start = processStart(record.pid);
  return start !== undefined && start === record.pidStart;
}
