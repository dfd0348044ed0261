/**
 * Identity resolution: the two ends of a connection -> who they are. Pure:
 * every lookup (cluster metadata, cgroup paths, reverse DNS cache, learned
 * local processes) is injected, and nothing here does I/O or reads a clock.
 *
 * Kubernetes mode: a local end is named by its cgroup (the pod UID in the
 * cgroup path, which also finds hostNetwork pods), else by its IP; a remote
 * end by its IP at the connection's open time (pod -> workload, Service
 * ClusterIP -> Service + backing workload, node IP -> Node), else external.
 * Host mode: a local end is named by container (cgroup) or process (comm); a
 * remote end on this machine by the process that owns the port, anything else
 * external. Externals are named by the user's CIDR table, else reverse DNS,
 * else their IP.
 */
import type { ParsedIp } from '../../core/ip.ts';
import { isLoopback, isUnspecified, parseIp } from '../../core/ip.ts';
import type { Identity } from '../../core/signals.ts';
import type { EndsReads, FlowEnds, ResolvedEnds } from './aggregate.ts';
import type { CidrTable } from './cidr.ts';
import type { ClusterMetadata, PodRecord, WorkloadRef } from './metadata.ts';

export type Mode = 'kubernetes' | 'host';

/** Reverse DNS as resolution sees it (implemented in dns.ts). */
export interface DnsLookup {
  /** What is known about `ip` now; never waits. */
  lookup(ip: string): DnsAnswer;
  /** Moves whenever an answer may have changed (an answer came in). */
  readonly version: number;
}

/** What a reverse DNS cache knows about an address right now. */
export interface DnsAnswer {
  /** The PTR name, when one is known. */
  name: string | undefined;
  /** True while a lookup is queued or in flight: a name may come later. */
  pending: boolean;
}

/** The process that owns one local socket. */
export interface LocalProcess {
  cgroupId: number;
  pid: number;
  comm: string;
}

/** Host lookups resolution needs (implemented in host.ts, over /sys and /proc). */
export interface HostLookup {
  /** cgroup v2 path of a cgroup id (`/system.slice/docker-<id>.scope`), when known. */
  cgroupPath(cgroupId: number): string | undefined;
  /** Command name of a pid, for sockets whose comm the kernel did not capture. */
  commOf(pid: number): string | undefined;
  /**
   * Moves whenever an answer of `cgroupPath` may have changed. `commOf` is not versioned: it is asked
   * only for a socket the kernel gave a pid and no comm, and a pid whose comm cannot be read has
   * exited (a later answer would name whatever process reuses the pid).
   */
  readonly version: number;
}

export interface ResolveContext {
  mode: Mode;
  /** Required in Kubernetes mode. */
  cluster: ClusterMetadata | undefined;
  host: HostLookup;
  peers: LocalPeers;
  cidr: CidrTable;
  /** Reverse DNS cache; `undefined` when DNS is disabled. */
  dns: DnsLookup | undefined;
  /** Name of this machine (host mode) or this node (Kubernetes mode), for local ends nothing else names. */
  hostName: string;
  /** Time of the batch being resolved, ms since the epoch. */
  nowMs: number;
  /**
   * Kubernetes mode: for this long after a connection opened, an address the
   * cluster does not know yet is named provisionally (by IP) and asked again,
   * since watch events can arrive after a new pod's first connections.
   */
  informerGraceMs: number;
}

/** The kinds of input a resolution reads besides the ends and the clock (`ResolvedEnds.inputs` bits). */
export const INPUT = {
  cluster: 1,
  cgroups: 2,
  dns: 4,
  localAddresses: 8,
  /** Any process serving a local port: read when the entries below are more than `MAX_ENTRY_READS`. */
  localServers: 16,
  /** Any process owning a client port or flow: likewise. */
  localClients: 32,
} as const;

const ALL_INPUTS = 63;
/** `ResolvedEnds.inputs` below this are `INPUT` kinds; above, the entries of learned peers read. */
const KIND_RANGE = 64;
/**
 * Entries of the learned peers a resolution reads one by one (a server port, a client port, a flow),
 * each as its bucket of `ENTRY_BUCKETS`: what a new client port elsewhere on the machine teaches
 * leaves the answer alone. Three of them fit with the kinds in one exact integer (2^6 × 2^45).
 */
const MAX_ENTRY_READS = 3;
/** Entry buckets, plus one for "none": 2^15 per read (`inputsVersion` relies on it). */
const ENTRY_BUCKETS = 32_767;
const ENTRY_RANGE = ENTRY_BUCKETS + 1;

/**
 * The version of the inputs in `inputs` (a `ResolvedEnds.inputs`: kinds, and the learned entries
 * read; every kind when omitted): it moves whenever one of them may have changed (the cluster
 * metadata, the cgroup paths, a DNS answer, what the local peers taught). Each counter only grows,
 * so their sum moves when any of them does. Called for every changed provisional socket of a batch:
 * the entries are read with 32-bit operations (kinds in bits 0-5, entries in bits 6-20, 21-35, 36-50).
 */
export function inputsVersion(ctx: ResolveContext, inputs: number = ALL_INPUTS): number {
  const low = inputs >>> 0;
  const kinds = low & (KIND_RANGE - 1);
  let v = 0;
  if (kinds !== 0) {
    if ((kinds & INPUT.cluster) !== 0) v += ctx.cluster?.version ?? 0;
    if ((kinds & INPUT.cgroups) !== 0) v += ctx.host.version;
    if ((kinds & INPUT.dns) !== 0) v += ctx.dns?.version ?? 0;
    if ((kinds & INPUT.localAddresses) !== 0) v += ctx.peers.addressesVersion;
    if ((kinds & INPUT.localServers) !== 0) v += ctx.peers.serversVersion;
    if ((kinds & INPUT.localClients) !== 0) v += ctx.peers.clientsVersion;
  }
  if (inputs < KIND_RANGE) return v;
  const high = (inputs - low) / 2 ** 32;
  const first = (low >>> 6) & (ENTRY_RANGE - 1);
  const second = (low >>> 21) | ((high & 15) << 11);
  const third = high >>> 4;
  if (first !== 0) v += ctx.peers.entryVersion(first - 1);
  if (second !== 0) v += ctx.peers.entryVersion(second - 1);
  if (third !== 0) v += ctx.peers.entryVersion(third - 1);
  return v;
}

/** The kinds of `ResolvedEnds.inputs`, without the entries read. */
export function inputKinds(inputs: number): number {
  return inputs % KIND_RANGE;
}

const MAX_NAME = 253;

function cap(text: string): string {
  return text.length <= MAX_NAME ? text : text.slice(0, MAX_NAME);
}

export function workloadIdentity(w: WorkloadRef): Identity {
  return { name: w.name, kind: w.kind, namespace: w.namespace };
}

const POD_UID = /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?![0-9a-f])/gi;

/**
 * The pod UID in a cgroup path (`kubepods-burstable-pod<uid>.slice` with the
 * systemd driver, `/kubepods/burstable/pod<uid>/` with cgroupfs), if any.
 *
 * @example
 * podUidFromCgroup('/kubepods.slice/kubepods-pod1b2c3d4e_0000_4000_8000_00000000000a.slice/cri-containerd-ab.scope');
 * // '1b2c3d4e-0000-4000-8000-00000000000a'
 */
export function podUidFromCgroup(path: string): string | undefined {
  let last: string | undefined;
  for (const m of path.matchAll(POD_UID)) last = m[1];
  return last?.replaceAll('_', '-').toLowerCase();
}

const RUNTIME_SCOPE = /^(docker|cri-containerd|crio|libpod|containerd)-([0-9a-f]{12,64})\.scope$/;
const HEX_ID = /^[0-9a-f]{64}$/;
const NSPAWN_SERVICE = /^systemd-nspawn@(.+)\.service$/;
const MACHINE_SCOPE = /^machine-(.+)\.scope$/;

/** Undoes systemd unit-name escaping (`\x2d` -> `-`). */
function unescapeUnit(text: string): string {
  return text.replace(/\\x([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/**
 * The container a cgroup path belongs to: docker, containerd, CRI-O and podman
 * scopes give the first 12 hex digits of the container id; systemd-nspawn and
 * LXC give the machine name.
 *
 * @example
 * containerFromCgroup('/system.slice/docker-3f2a9c1b0d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8.scope');
 * // '3f2a9c1b0d4e'
 */
export function containerFromCgroup(path: string): string | undefined {
  if (containerMemo.has(path)) return containerMemo.get(path);
  const found = parseContainer(path);
  containerMemo.set(path, found);
  if (containerMemo.size > MAX_MEMO) {
    const oldest = containerMemo.keys().next();
    if (oldest.done !== true) containerMemo.delete(oldest.value);
  }
  return found;
}

const MAX_MEMO = 16_384;
const containerMemo = new Map<string, string | undefined>();
const addressMemo = new Map<string, ParsedIp | undefined>();

/**
 * `parseIp`, remembered for the last `MAX_MEMO` texts: the sockets of a batch repeat a few addresses
 * (the receiver shares their strings), and parsing allocates.
 */
export function parseAddress(text: string): ParsedIp | undefined {
  const known = addressMemo.get(text);
  if (known !== undefined || addressMemo.has(text)) return known;
  const ip = parseIp(text);
  addressMemo.set(text, ip);
  if (addressMemo.size > MAX_MEMO) {
    const oldest = addressMemo.keys().next();
    if (oldest.done !== true) addressMemo.delete(oldest.value);
  }
  return ip;
}

function parseContainer(path: string): string | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] as string;
    const scope = RUNTIME_SCOPE.exec(part);
    if (scope) return (scope[2] as string).slice(0, 12);
    if (
      HEX_ID.test(part) &&
      i > 0 &&
      ['docker', 'containerd', 'libpod', 'crio'].includes(parts[i - 1] as string)
    ) {
      return part.slice(0, 12);
    }
    const nspawn = NSPAWN_SERVICE.exec(part) ?? MACHINE_SCOPE.exec(part);
    if (nspawn && (i === 0 || parts[i - 1] === 'machine.slice'))
      return cap(unescapeUnit(nspawn[1] as string));
    if (part.startsWith('lxc.payload.') && part.length > 'lxc.payload.'.length) {
      return cap(part.slice('lxc.payload.'.length));
    }
    if (i > 0 && parts[i - 1] === 'lxc' && !part.startsWith('lxc.')) return cap(part);
  }
  return undefined;
}

interface BoundedMap<K, V> {
  map: Map<K, V>;
  max: number;
  /** Keys learned so far. */
  added: number;
  /** Entries replaced or forgotten so far. */
  changed: number;
  /** The entry bucket of a key, whose version moves with each change of the key's entry; none: not read by entry. */
  bucketOf: ((key: K) => number) | undefined;
  /** Versions of the entry buckets, shared by the maps of one `LocalPeers`. */
  buckets: Uint32Array;
}

function remember<K, V>(b: BoundedMap<K, V>, key: K, value: V): void {
  if (b.map.delete(key)) b.changed++;
  else b.added++;
  b.map.set(key, value);
  if (b.bucketOf !== undefined) (b.buckets[b.bucketOf(key)] as number)++;
  if (b.map.size > b.max) {
    const oldest = b.map.keys().next();
    if (oldest.done !== true) {
      b.map.delete(oldest.value);
      if (b.bucketOf !== undefined) (b.buckets[b.bucketOf(oldest.value)] as number)++;
    }
    b.changed++;
  }
}

function boundedMap<K, V>(
  max: number,
  buckets: Uint32Array,
  bucketOf: ((key: K) => number) | undefined,
): BoundedMap<K, V> {
  return { map: new Map(), max, added: 0, changed: 0, bucketOf, buckets };
}

/** A port of a network namespace as one number (namespace ids are inode numbers, below 2^32: exact). */
function portKey(netns: number, port: number): number {
  return netns * 65_536 + port;
}

/** The bucket of a `portKey`, mixed with `salt` (one per map). */
function portBucket(key: number, salt: number): number {
  const port = key % 65_536;
  const netns = (key - port) / 65_536;
  const h = Math.imul(port ^ Math.imul(netns | 0, 0x9e3779b1) ^ salt, 0x85ebca6b);
  return ((h ^ (h >>> 15)) >>> 0) % ENTRY_BUCKETS;
}

const SERVERS_SALT = 0x5bd1e995;
const CLIENT_PORTS_SALT = 0x27d4eb2f;
const FLOWS_SALT = 0x165667b1;
const serverBucket = (key: number): number => portBucket(key, SERVERS_SALT);
const clientPortBucket = (key: number): number => portBucket(key, CLIENT_PORTS_SALT);
/** The flows of one server port of a network namespace share a bucket: no text is hashed per lookup. */
const flowBucket = (netns: number, serverPort: number): number =>
  portBucket(portKey(netns, serverPort), FLOWS_SALT);

/** The bucket of a `flowKey`: its network namespace comes first and its server port last. */
function flowKeyBucket(key: string): number {
  return flowBucket(Number(key.slice(0, key.indexOf(' '))), Number(key.slice(key.lastIndexOf(' ') + 1)));
}

/** Addresses are kernel-formatted IP text (never a space), so a space-joined key is unambiguous. */
function flowKey(netns: number, clientAddr: string, serverAddr: string, serverPort: number): string {
  return `${netns} ${clientAddr} ${serverAddr} ${serverPort}`;
}

/**
 * Whether two processes name a socket the same way: the pid is read only when there is no comm, so
 * the workers of a pre-forking server (one comm and cgroup, many pids) are one to resolution, and
 * learning one after another changes nothing.
 */
function sameProcess(a: LocalProcess | undefined, b: LocalProcess): boolean {
  return (
    a !== undefined && a.comm === b.comm && a.cgroupId === b.cgroupId && (a.pid === b.pid || a.comm !== '')
  );
}

/**
 * What this machine's sockets tell about each other, learned from every
 * batch: which addresses are local to which network namespace, which process
 * serves each local port, and which process owns each client port and flow.
 * Lets a connection to 127.0.0.1:5432 be named by the process listening on
 * 5432 rather than by the address. Bounded (least recently learned first out).
 */
export class LocalPeers {
  private readonly addrNetns: BoundedMap<string, number>;
  private readonly servers: BoundedMap<number, LocalProcess>;
  private readonly clientPorts: BoundedMap<number, LocalProcess>;
  private readonly flows: BoundedMap<string, LocalProcess>;
  /** Versions of the entry buckets of `servers`, `clientPorts` and `flows`. */
  private readonly buckets = new Uint32Array(ENTRY_BUCKETS);
  /** The process of the last socket learned: the sockets of one process share its record. */
  private lastProcess: LocalProcess = { cgroupId: 0, pid: 0, comm: '' };
  /**
   * The flow `learnClient` learned last and its process, which `flows` holds (only `learnClient`
   * changes `flows`, and it moves this along).
   */
  private lastFlow: {
    netns: number;
    clientAddr: string;
    serverAddr: string;
    serverPort: number;
    proc: LocalProcess | undefined;
  } = { netns: 0, clientAddr: '', serverAddr: '', serverPort: 0, proc: undefined };

  constructor(maxEntries = 65_536) {
    this.addrNetns = boundedMap(maxEntries, this.buckets, undefined);
    this.servers = boundedMap(maxEntries, this.buckets, serverBucket);
    this.clientPorts = boundedMap(maxEntries, this.buckets, clientPortBucket);
    this.flows = boundedMap(maxEntries, this.buckets, flowKeyBucket);
  }

  get size(): number {
    return this.addrNetns.map.size + this.servers.map.size + this.clientPorts.map.size + this.flows.map.size;
  }

  /** Moves whenever an answer of `netnsOf` may have changed (an entry learned, replaced or forgotten). */
  get addressesVersion(): number {
    return this.addrNetns.added + this.addrNetns.changed;
  }

  /** Moves whenever an answer of `server` may have changed. */
  get serversVersion(): number {
    return this.servers.added + this.servers.changed;
  }

  /** Moves whenever an answer of `client`, `clientByPort` or `clientByFlow` may have changed. */
  get clientsVersion(): number {
    return this.clientPorts.added + this.clientPorts.changed + this.flows.added + this.flows.changed;
  }

  /**
   * The version of one entry bucket: it moves whenever an entry of the bucket is learned, replaced or
   * forgotten (see `serverBucket`, `clientPortBucket`, `flowBucket`).
   */
  entryVersion(bucket: number): number {
    return this.buckets[bucket] as number;
  }

  /** The entry bucket of `server(netns, port)`. */
  serverBucket(netns: number, port: number): number {
    return serverBucket(portKey(netns, port));
  }

  /** The entry bucket of `clientByPort(netns, port)`. */
  clientPortBucket(netns: number, port: number): number {
    return clientPortBucket(portKey(netns, port));
  }

  /** The entry bucket of `clientByFlow(netns, ..., serverPort)`: shared by the flows to that server port. */
  flowBucket(netns: number, serverPort: number): number {
    return flowBucket(netns, serverPort);
  }

  /** All of them in one. */
  get version(): number {
    return this.addressesVersion + this.serversVersion + this.clientsVersion;
  }

  /** `proc`, or the equal record of the last socket learned. */
  private shared(cgroupId: number, pid: number, comm: string): LocalProcess {
    const last = this.lastProcess;
    if (last.cgroupId === cgroupId && last.pid === pid && last.comm === comm) return last;
    this.lastProcess = { cgroupId, pid, comm };
    return this.lastProcess;
  }

  /** Records that `addr` is a local address of `netns`. */
  learnAddress(netns: number, addr: string): void {
    if (this.addrNetns.map.get(addr) === netns) return;
    const ip = parseAddress(addr);
    if (ip === undefined || isLoopback(ip) || isUnspecified(ip)) return;
    if (this.addrNetns.map.get(ip.text) !== netns) remember(this.addrNetns, ip.text, netns);
  }

  /**
   * Records the process serving `port` in `netns`. An accepted socket the server never touched
   * before it was reported carries only the listener's cgroup: it never replaces a known process.
   */
  learnServer(netns: number, port: number, proc: LocalProcess): void {
    if (proc.comm === '' && proc.cgroupId === 0 && proc.pid === 0) return;
    const key = portKey(netns, port);
    const known = this.servers.map.get(key);
    if (known !== undefined && proc.comm === '' && proc.pid === 0 && known.comm !== '') return;
    if (!sameProcess(known, proc)) remember(this.servers, key, proc);
  }

  /** Records the process owning the client socket on local `port`, for a flow to `serverAddr:serverPort`. */
  learnClient(
    netns: number,
    port: number,
    clientAddr: string,
    serverAddr: string,
    serverPort: number,
    proc: LocalProcess,
  ): void {
    if (proc.comm === '' && proc.cgroupId === 0 && proc.pid === 0) return;
    if (port !== 0) {
      const key = portKey(netns, port);
      if (!sameProcess(this.clientPorts.map.get(key), proc)) remember(this.clientPorts, key, proc);
    }
    // The sockets of a connection pool come one after the other: their flow is known without its text.
    const last = this.lastFlow;
    if (
      last.proc === proc &&
      last.netns === netns &&
      last.serverPort === serverPort &&
      last.clientAddr === clientAddr &&
      last.serverAddr === serverAddr
    ) {
      return;
    }
    const flow = flowKey(netns, clientAddr, serverAddr, serverPort);
    if (!sameProcess(this.flows.map.get(flow), proc)) remember(this.flows, flow, proc);
    this.lastFlow = { netns, clientAddr, serverAddr, serverPort, proc };
  }

  /** Learns from one socket or closed-totals key: its local address, and who serves or owns its port. */
  learn(ends: FlowEnds): void {
    const proc = this.shared(ends.cgroupId, ends.pid, ends.comm);
    if (ends.observer === 'server') {
      this.learnAddress(ends.netns, ends.serverAddr);
      this.learnServer(ends.netns, ends.serverPort, proc);
    } else {
      this.learnAddress(ends.netns, ends.clientAddr);
      this.learnClient(ends.netns, ends.clientPort, ends.clientAddr, ends.serverAddr, ends.serverPort, proc);
    }
  }

  /** The network namespace `ip` is local to, as seen last. */
  netnsOf(ip: ParsedIp): number | undefined {
    return this.addrNetns.map.get(ip.text);
  }

  server(netns: number, port: number): LocalProcess | undefined {
    return this.servers.map.get(portKey(netns, port));
  }

  client(netns: number, port: number, clientAddr: string, serverAddr: string, serverPort: number) {
    return this.clientByPort(netns, port) ?? this.clientByFlow(netns, clientAddr, serverAddr, serverPort);
  }

  /** The process owning the client socket on local `port` of `netns`, as seen last. */
  clientByPort(netns: number, port: number): LocalProcess | undefined {
    return port !== 0 ? this.clientPorts.map.get(portKey(netns, port)) : undefined;
  }

  /** The process owning the client socket of a flow (any client port), as seen last. */
  clientByFlow(netns: number, clientAddr: string, serverAddr: string, serverPort: number) {
    return this.flows.map.get(flowKey(netns, clientAddr, serverAddr, serverPort));
  }
}

/** What one resolution read of the ends beyond their kernel key, and when its provisional answer lapses. */
interface Reading {
  reads: EndsReads;
  /** From then on, the informer grace that made the answer provisional is over (Infinity: none). */
  recheckAtMs: number;
  /** `INPUT` kinds read. */
  inputs: number;
  /** Learned entries read, as `ResolvedEnds.inputs` holds them above the kinds (see `readEntry`). */
  entries: number;
  entryReads: number;
}

/**
 * Records that the answer read one entry of the learned peers (a bucket of `LocalPeers.entryVersion`),
 * or its whole `kind` once `MAX_ENTRY_READS` entries were read.
 */
function readEntry(r: Reading, bucket: number, kind: number): void {
  if (r.entryReads === MAX_ENTRY_READS) {
    r.inputs |= kind;
    return;
  }
  r.entries += (bucket + 1) * ENTRY_RANGE ** r.entryReads;
  r.entryReads++;
}

interface Named {
  identity: Identity;
  provisional: boolean;
  /** Named by the host name or an IP because the local process behind it may not have been seen yet. */
  awaitingPeer?: boolean;
}

function external(text: string, ip: ParsedIp | undefined, ctx: ResolveContext, r: Reading): Named {
  if (ip === undefined)
    return { identity: { name: cap(text), kind: 'external', namespace: '' }, provisional: false };
  const fromTable = ctx.cidr.lookup(ip);
  if (fromTable !== undefined)
    return { identity: { name: fromTable, kind: 'external', namespace: '' }, provisional: false };
  if (ctx.dns !== undefined && !isLoopback(ip) && !isUnspecified(ip)) {
    r.inputs |= INPUT.dns;
    const answer = ctx.dns.lookup(ip.text);
    if (answer.name !== undefined) {
      return { identity: { name: cap(answer.name), kind: 'external', namespace: '' }, provisional: false };
    }
    return { identity: { name: ip.text, kind: 'external', namespace: '' }, provisional: answer.pending };
  }
  return { identity: { name: ip.text, kind: 'external', namespace: '' }, provisional: false };
}

/** The last identity `hostIdentity` made: one object for all the ends it names (identities are never mutated). */
let lastHostIdentity: Identity = { name: '', kind: 'host', namespace: '' };

function hostIdentity(ctx: ResolveContext): Identity {
  const kind = ctx.mode === 'kubernetes' ? 'Node' : 'host';
  const last = lastHostIdentity;
  if (last.name === ctx.hostName && last.kind === kind) return last;
  lastHostIdentity = { name: ctx.hostName, kind, namespace: '' };
  return lastHostIdentity;
}

function podOfProcess(proc: LocalProcess, ctx: ResolveContext, r: Reading): PodRecord | undefined {
  if (ctx.cluster === undefined || proc.cgroupId === 0) return undefined;
  r.inputs |= INPUT.cgroups | INPUT.cluster;
  const path = ctx.host.cgroupPath(proc.cgroupId);
  const uid = path === undefined ? undefined : podUidFromCgroup(path);
  return uid === undefined ? undefined : ctx.cluster.podByUid(uid);
}

/** Names a process of this machine: its pod (Kubernetes), container or command. */
function processIdentity(proc: LocalProcess, ctx: ResolveContext, r: Reading): Named {
  const pod = podOfProcess(proc, ctx, r);
  if (pod !== undefined) return { identity: workloadIdentity(pod.workload), provisional: false };
  if (proc.cgroupId !== 0) r.inputs |= INPUT.cgroups;
  const path = proc.cgroupId === 0 ? undefined : ctx.host.cgroupPath(proc.cgroupId);
  if (ctx.mode === 'host') {
    const container = path === undefined ? undefined : containerFromCgroup(path);
    if (container !== undefined)
      return { identity: { name: container, kind: 'container', namespace: '' }, provisional: false };
    const comm = proc.comm !== '' ? proc.comm : proc.pid !== 0 ? ctx.host.commOf(proc.pid) : undefined;
    if (comm !== undefined && comm !== '') {
      return { identity: { name: comm, kind: 'process', namespace: '' }, provisional: false };
    }
  }
  // Nothing names the process (yet): the socket is resolved again once its comm or cgroup is known,
  // or (host mode) once a socket of the same port shows the process.
  const host = ctx.mode === 'host';
  return {
    identity: hostIdentity(ctx),
    provisional: (proc.comm === '' && proc.cgroupId === 0) || host,
    awaitingPeer: host,
  };
}

/**
 * The process owning a local socket. Host mode: an accepted socket reported before its server
 * process touched it has no comm nor pid (only the listener's cgroup); the process serving its port
 * in its network namespace, learned from the other sockets of the port, owns it.
 */
function ownerOf(ends: FlowEnds, ctx: ResolveContext, r: Reading): LocalProcess {
  const proc: LocalProcess = { cgroupId: ends.cgroupId, pid: ends.pid, comm: ends.comm };
  if (ctx.mode !== 'host' || ends.observer !== 'server' || proc.comm !== '' || proc.pid !== 0) return proc;
  readEntry(r, ctx.peers.serverBucket(ends.netns, ends.serverPort), INPUT.localServers);
  const server = ctx.peers.server(ends.netns, ends.serverPort);
  if (server === undefined || server.comm === '') return proc;
  return proc.cgroupId === 0 || server.cgroupId === proc.cgroupId ? server : proc;
}

function clusterOwner(ip: ParsedIp, atMs: number, ctx: ResolveContext, r: Reading): Identity | undefined {
  if (ctx.cluster === undefined) return undefined;
  r.reads.atMs = true;
  r.inputs |= INPUT.cluster;
  const owner = ctx.cluster.lookupIp(ip.text, atMs);
  if (owner === undefined) return undefined;
  switch (owner.kind) {
    case 'pod':
      return workloadIdentity(owner.pod.workload);
    case 'service': {
      const s = owner.service;
      const id: Identity = { name: s.name, kind: 'Service', namespace: s.namespace };
      if (s.backing !== undefined) id.backing = workloadIdentity(s.backing);
      return id;
    }
    case 'node':
      return { name: owner.node.name, kind: 'Node', namespace: '' };
  }
}

/**
 * Whether the cluster may still learn who `atMs`'s owner of an address was:
 * before the first full list, or while the connection is younger than the
 * informer grace (a pod's first connections often beat its watch event).
 */
function mayLearnMore(ctx: ResolveContext, atMs: number, r: Reading): boolean {
  if (ctx.mode !== 'kubernetes' || ctx.cluster === undefined) return false;
  r.reads.atMs = true;
  r.inputs |= INPUT.cluster;
  if (!ctx.cluster.synced()) return true;
  if (ctx.nowMs - atMs >= ctx.informerGraceMs) return false;
  r.recheckAtMs = Math.min(r.recheckAtMs, atMs + ctx.informerGraceMs);
  return true;
}

function resolveLocal(
  addr: string,
  proc: LocalProcess,
  atMs: number,
  ctx: ResolveContext,
  r: Reading,
): Named {
  if (ctx.mode === 'kubernetes') {
    const pod = podOfProcess(proc, ctx, r);
    if (pod !== undefined) return { identity: workloadIdentity(pod.workload), provisional: false };
    const ip = parseAddress(addr);
    const owner = ip === undefined || isLoopback(ip) ? undefined : clusterOwner(ip, atMs, ctx, r);
    if (owner !== undefined && owner.kind !== 'Service') return { identity: owner, provisional: false };
    return { identity: hostIdentity(ctx), provisional: mayLearnMore(ctx, atMs, r) };
  }
  return processIdentity(proc, ctx, r);
}

interface RemoteEnd {
  addr: string;
  /** Finds the local process at the remote end, given the netns it lives in. */
  peer: (netns: number) => LocalProcess | undefined;
}

function resolveRemote(
  remote: RemoteEnd,
  ends: FlowEnds,
  local: Named,
  ctx: ResolveContext,
  r: Reading,
): Named {
  const ip = parseAddress(remote.addr);
  if (ip === undefined) return external(remote.addr, undefined, ctx, r);
  const loopback = isLoopback(ip);
  if (!loopback) r.inputs |= INPUT.localAddresses;
  const peerNetns = loopback ? ends.netns : ctx.peers.netnsOf(ip);
  const peer = peerNetns === undefined ? undefined : remote.peer(peerNetns);
  if (ctx.mode === 'kubernetes') {
    const owner = loopback ? undefined : clusterOwner(ip, ends.atMs, ctx, r);
    if (owner !== undefined && owner.kind !== 'Node') {
      // A Service's backing workload may still be on its way (EndpointSlices listed after Services).
      const awaitingBacking = owner.kind === 'Service' && owner.backing === undefined;
      return { identity: owner, provisional: awaitingBacking && mayLearnMore(ctx, ends.atMs, r) };
    }
    if (peer !== undefined) {
      const pod = podOfProcess(peer, ctx, r);
      if (pod !== undefined) return { identity: workloadIdentity(pod.workload), provisional: false };
    }
    if (owner !== undefined) return { identity: owner, provisional: false };
    // Loopback stays inside the network namespace: a pod talking to itself.
    if (loopback) return local;
    const named = external(remote.addr, ip, ctx, r);
    return mayLearnMore(ctx, ends.atMs, r) ? { identity: named.identity, provisional: true } : named;
  }
  if (peer !== undefined) return processIdentity(peer, ctx, r);
  if (loopback || peerNetns !== undefined)
    return { identity: hostIdentity(ctx), provisional: true, awaitingPeer: true };
  // An address no socket has shown as local yet may still be another network namespace of this
  // machine whose sockets come in a later batch: named by its IP, that is worth waiting for.
  const named = external(remote.addr, ip, ctx, r);
  return named.identity.name === ip.text ? { ...named, awaitingPeer: true } : named;
}

/**
 * Names both ends of a connection (or of a kernel key of closed totals).
 *
 * @example
 * resolveEnds(
 *   { family: 4, clientAddr: '10.0.0.5', clientPort: 40000, serverAddr: '10.96.0.10', serverPort: 53,
 *     observer: 'client', netns: 1, cgroupId: 0, pid: 0, comm: '', atMs: Date.now() },
 *   ctx,
 * );
 * // { client: { name: 'checkout', kind: 'Deployment', namespace: 'shop' },
 * //   server: { name: 'kube-dns', kind: 'Service', namespace: 'kube-system', backing: {...} }, provisional: false }
 */
export function resolveEnds(ends: FlowEnds, ctx: ResolveContext): ResolvedEnds {
  // The pid is read only for a socket without a comm (ownerOf, processIdentity).
  const r: Reading = {
    reads: { clientPort: false, pid: ends.comm === '', atMs: false },
    recheckAtMs: Infinity,
    inputs: 0,
    entries: 0,
    entryReads: 0,
  };
  const proc = ownerOf(ends, ctx, r);
  let local: Named;
  let remote: Named;
  if (ends.observer === 'client') {
    local = resolveLocal(ends.clientAddr, proc, ends.atMs, ctx, r);
    remote = resolveRemote(
      {
        addr: ends.serverAddr,
        peer: (netns) => {
          readEntry(r, ctx.peers.serverBucket(netns, ends.serverPort), INPUT.localServers);
          return ctx.peers.server(netns, ends.serverPort);
        },
      },
      ends,
      local,
      ctx,
      r,
    );
  } else {
    local = resolveLocal(ends.serverAddr, proc, ends.atMs, ctx, r);
    remote = resolveRemote(
      {
        addr: ends.clientAddr,
        peer: (netns) => {
          r.reads.clientPort = true;
          if (ends.clientPort !== 0) {
            readEntry(r, ctx.peers.clientPortBucket(netns, ends.clientPort), INPUT.localClients);
            const byPort = ctx.peers.clientByPort(netns, ends.clientPort);
            if (byPort !== undefined) return byPort;
          }
          const { clientAddr, serverAddr, serverPort } = ends;
          readEntry(r, ctx.peers.flowBucket(netns, serverPort), INPUT.localClients);
          return ctx.peers.clientByFlow(netns, clientAddr, serverAddr, serverPort);
        },
      },
      ends,
      local,
      ctx,
      r,
    );
  }
  const client = ends.observer === 'client' ? local : remote;
  const server = ends.observer === 'client' ? remote : local;
  const resolved: ResolvedEnds = {
    client: client.identity,
    server: server.identity,
    provisional: local.provisional || remote.provisional,
    awaitingPeer: local.awaitingPeer === true || remote.awaitingPeer === true,
    reads: r.reads,
    inputs: r.inputs + KIND_RANGE * r.entries,
  };
  if (r.recheckAtMs !== Infinity) resolved.recheckAtMs = r.recheckAtMs;
  return resolved;
}
