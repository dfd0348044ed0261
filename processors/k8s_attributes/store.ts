/**
 * The Kubernetes metadata store: minimal records for Pods, Services,
 * EndpointSlices, Nodes and the controllers (ReplicaSet, Deployment,
 * StatefulSet, DaemonSet, Job, CronJob), and the time-aware IP map that
 * answers `lookupIp(ip, timeMs)`.
 *
 * Pure: it is fed minimal inputs (see `objects.ts`) by the informers and reads
 * time from an injected clock. Memory is kept small on purpose: repeated
 * strings (namespaces, node and owner names) are interned, pods of one
 * controller share one `WorkloadRef`, and no Kubernetes object is retained.
 *
 * Freshness is lazy: a pod's workload and a Service's backing workload are
 * recomputed at lookup time only when something they depend on has changed
 * (a generation counter), so a burst of controller events costs nothing until
 * someone asks.
 *
 * Deleted objects become tombstones, bounded in count and age: a deleted pod
 * still answers for its IPs at times before its deletion and by its UID, and a
 * deleted controller still names the pods it owned while they terminate.
 */
import { parseIp } from '../../core/ip.ts';
import type { IpOwner, NodeRecord, PodRecord, ServiceRecord, WorkloadRef } from './metadata.ts';
import type {
  ControllerInput,
  ControllerLink,
  EndpointSliceInput,
  NodeInput,
  OwnerLink,
  PodInput,
  ServiceInput,
} from './objects.ts';
import type { ControllerLookup, ControllerNode, OwnerDepth } from './owners.ts';
import { resolveOwner } from './owners.ts';
import { ipKey, IpTimeline, ipv4Key } from './timeline.ts';

export interface StoreOptions {
  ownerDepth: OwnerDepth;
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number;
  /** Most tombstones kept per table (pods, controllers, IP claims). @default 65536 */
  maxTombstones?: number;
  /** Age after which a tombstone is dropped. @default 900000 (15 min) */
  tombstoneTtlMs?: number;
}

export interface StoreStats {
  pods: number;
  podTombstones: number;
  controllers: number;
  /** Live controllers by kind (ReplicaSet, Deployment, ...). */
  controllersByKind: Record<string, number>;
  services: number;
  endpointSlices: number;
  nodes: number;
  /** Addresses with a live owner (pods, ClusterIPs, node addresses). */
  liveIps: number;
  /** Ended IP claims still answering for past times. */
  ipTombstones: number;
}

/** `ipv4Key` back to dotted-quad text. */
function formatV4(key: number): string {
  return `${(key >>> 24) & 255}.${(key >>> 16) & 255}.${(key >>> 8) & 255}.${key & 255}`;
}

/**
 * A pod as stored: the `PodRecord` handed out plus what keeps it fresh. It is
 * its own `IpOwner` (`kind` and `pod` are getters), and a pod with one IPv4
 * address (the usual case) keeps it as its `ipv4Key` number: no owner object,
 * no array and no address string per pod.
 */
class PodEntry implements PodRecord {
  uid: string;
  name: string;
  namespace: string;
  nodeName: string;
  hostNetwork: boolean;
  /** The pod IPs: a single IPv4 address as its `ipv4Key`, else their texts. */
  addresses: number | readonly string[];
  workload: WorkloadRef;
  controller: ControllerLink;
  creationMs: number;
  terminated: boolean;
  /** `ownersGen` the workload was computed at. */
  ownersGen: number;
  /** When the pod was deleted; `undefined` while it exists. */
  deletedMs: number | undefined;

  constructor(input: PodInput, namespace: string, nodeName: string, controller: ControllerLink) {
    this.uid = input.uid;
    this.name = input.name;
    this.namespace = namespace;
    this.nodeName = nodeName;
    this.hostNetwork = input.hostNetwork;
    this.addresses = PodEntry.pack(input.ips);
    this.workload = { kind: 'Pod', name: input.name, namespace };
    this.controller = controller;
    this.creationMs = input.creationMs;
    this.terminated = input.terminated;
    this.ownersGen = -1;
    this.deletedMs = undefined;
  }

  static pack(ips: readonly string[]): number | readonly string[] {
    const key = ips.length === 1 ? ipv4Key(ips[0] as string) : undefined;
    return key ?? ips;
  }

  get kind(): 'pod' {
    return 'pod';
  }

  get pod(): PodRecord {
    return this;
  }

  get ips(): readonly string[] {
    return typeof this.addresses === 'number' ? [formatV4(this.addresses)] : this.addresses;
  }
}

interface ControllerEntry extends ControllerNode {
  deletedMs: number | undefined;
}

interface ServiceEntry extends ServiceRecord {
  uid: string;
  clusterIPs: string[];
  backing: WorkloadRef | undefined;
  key: string;
  creationMs: number;
  deletedMs: number | undefined;
  seenSlices: number;
  seenPods: number;
  seenOwners: number;
  owner: IpOwner;
}

interface SliceEntry {
  uid: string;
  key: string;
  readyPodUids: string[];
  readyOtherIps: string[];
}

interface SliceGroup {
  slices: Set<SliceEntry>;
  version: number;
}

interface NodeEntry extends NodeRecord {
  uid: string;
  addresses: string[];
  creationMs: number;
  owner: IpOwner;
}

/** Deduplicates strings; forgets everything when full (correctness never depends on it). */
class Interner {
  private map = new Map<string, string>();
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  intern(s: string): string {
    const found = this.map.get(s);
    if (found !== undefined) return found;
    if (this.map.size >= this.limit) this.map = new Map();
    this.map.set(s, s);
    return s;
  }
}

/** Deleted records in deletion order, dropped by age or count. */
class TombstoneQueue<E extends { deletedMs: number | undefined }> {
  private items: Array<{ entry: E; deletedMs: number }> = [];
  private start = 0;
  get size(): number {
    return this.items.length - this.start;
  }
  push(entry: E, deletedMs: number): void {
    this.items.push({ entry, deletedMs });
  }
  /** Calls `drop` for each tombstone past `oldestMs` or beyond `max`, if it is still deleted. */
  prune(oldestMs: number, max: number, drop: (entry: E) => void): void {
    while (this.start < this.items.length) {
      const next = this.items[this.start] as { entry: E; deletedMs: number };
      if (this.size <= max && next.deletedMs >= oldestMs) break;
      if (next.entry.deletedMs === next.deletedMs) drop(next.entry);
      this.start++;
    }
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
  }
}

const SEP = '\u0000';

function sameWorkload(a: WorkloadRef, b: WorkloadRef): boolean {
  return a.kind === b.kind && a.name === b.name && a.namespace === b.namespace;
}

function sameLink(a: ControllerLink, b: ControllerLink): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  return a.kind === b.kind && a.name === b.name && a.uid === b.uid;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The metadata store. See the module comment. */
export class MetadataStore {
  private readonly ownerDepth: OwnerDepth;
  private readonly now: () => number;
  private readonly maxTombstones: number;
  private readonly tombstoneTtlMs: number;
  private readonly strings = new Interner(1 << 18);
  private workloads = new Map<string, WorkloadRef>();
  private links = new Map<string, OwnerLink>();

  private readonly pods = new Map<string, PodEntry>();
  private readonly podTombstones = new TombstoneQueue<PodEntry>();
  private readonly podIps: IpTimeline<PodEntry>;
  private livePods = 0;

  private readonly controllers = new Map<string, ControllerEntry>();
  private readonly controllerTombstones = new TombstoneQueue<ControllerEntry>();
  private readonly liveByKind = new Map<string, number>();
  private readonly lookup: ControllerLookup;

  private readonly services = new Map<string, ServiceEntry>();
  private readonly serviceIps: IpTimeline<IpOwner>;
  private readonly slices = new Map<string, SliceEntry>();
  private readonly sliceGroups = new Map<string, SliceGroup>();

  private readonly nodes = new Map<string, NodeEntry>();
  private readonly nodeIps: IpTimeline<IpOwner>;

  /** Bumped when a change may alter some pod's workload. */
  private ownersGen = 0;
  /** Bumped when the set of pods (or a pod's controller) changes. */
  private podsGen = 0;

  constructor(options: StoreOptions) {
    this.ownerDepth = options.ownerDepth;
    this.now = options.now ?? Date.now;
    this.maxTombstones = options.maxTombstones ?? 65536;
    this.tombstoneTtlMs = options.tombstoneTtlMs ?? 15 * 60_000;
    if (!(this.maxTombstones >= 0)) throw new Error(`maxTombstones must be >= 0, got ${this.maxTombstones}`);
    if (!(this.tombstoneTtlMs >= 0))
      throw new Error(`tombstoneTtlMs must be >= 0, got ${this.tombstoneTtlMs}`);
    const limits = { maxTombstones: this.maxTombstones, tombstoneTtlMs: this.tombstoneTtlMs };
    // A pod is its own owner and holder: an address it holds since its creation needs no claim object.
    this.podIps = new IpTimeline<PodEntry>(limits, (pod) => pod.creationMs);
    this.serviceIps = new IpTimeline(limits);
    this.nodeIps = new IpTimeline(limits);
    this.lookup = { byUid: (uid) => this.controllers.get(uid) };
  }

  // ---- lookups ----

  /** Who owned `ip` at `timeMs`: a pod, else a Service ClusterIP, else a node address. */
  lookupIp(ip: string, timeMs: number): IpOwner | undefined {
    const found = this.find(ip, timeMs);
    if (found !== undefined || !ip.includes(':')) return found;
    const normal = parseIp(ip)?.text;
    return normal === undefined || normal === ip ? undefined : this.find(normal, timeMs);
  }

  /** A pod by UID, including a deleted pod while its tombstone lasts. */
  podByUid(uid: string): PodRecord | undefined {
    const pod = this.pods.get(uid);
    if (pod !== undefined) this.freshWorkload(pod);
    return pod;
  }

  stats(): StoreStats {
    return {
      pods: this.livePods,
      podTombstones: this.podTombstones.size,
      controllers: [...this.liveByKind.values()].reduce((a, b) => a + b, 0),
      controllersByKind: Object.fromEntries(this.liveByKind),
      services: this.services.size,
      endpointSlices: this.slices.size,
      nodes: this.nodes.size,
      liveIps: this.podIps.live + this.serviceIps.live + this.nodeIps.live,
      ipTombstones: this.podIps.tombstones + this.serviceIps.tombstones + this.nodeIps.tombstones,
    };
  }

  /**
   * UIDs of the live objects of one kind (`Pod`, `Service`, `EndpointSlice`,
   * `Node` or a controller kind): after a full list, those the list did not
   * return have vanished.
   */
  liveUids(kind: string): string[] {
    const out: string[] = [];
    if (kind === 'Pod') {
      for (const pod of this.pods.values()) if (pod.deletedMs === undefined) out.push(pod.uid);
    } else if (kind === 'Service') {
      out.push(...this.services.keys());
    } else if (kind === 'EndpointSlice') {
      out.push(...this.slices.keys());
    } else if (kind === 'Node') {
      out.push(...this.nodes.keys());
    } else {
      for (const c of this.controllers.values())
        if (c.kind === kind && c.deletedMs === undefined) out.push(c.uid);
    }
    return out;
  }

  private find(ip: string, timeMs: number): IpOwner | undefined {
    const key = ipKey(ip);
    const pod = this.podIps.lookupKey(key, timeMs);
    if (pod !== undefined) {
      this.freshWorkload(pod);
      return pod;
    }
    const service = this.serviceIps.lookupKey(key, timeMs);
    if (service !== undefined) {
      if (service.kind === 'service') this.freshBacking(service.service as ServiceEntry);
      return service;
    }
    return this.nodeIps.lookupKey(key, timeMs);
  }

  private freshWorkload(pod: PodEntry): WorkloadRef {
    if (pod.ownersGen !== this.ownersGen && pod.deletedMs === undefined) this.computeWorkload(pod);
    return pod.workload;
  }

  private computeWorkload(pod: PodEntry): void {
    const top =
      this.ownerDepth === 'pod' ? undefined : resolveOwner(pod.controller, pod.namespace, this.lookup);
    const ref =
      top === undefined
        ? { kind: 'Pod', name: pod.name, namespace: pod.namespace }
        : { kind: top.kind, name: top.name, namespace: pod.namespace };
    pod.workload = top === undefined ? ref : this.sharedWorkload(ref);
    pod.ownersGen = this.ownersGen;
  }

  /** One `WorkloadRef` object per workload, shared by its pods. */
  private sharedWorkload(ref: WorkloadRef): WorkloadRef {
    const key = ref.kind + SEP + ref.namespace + SEP + ref.name;
    const found = this.workloads.get(key);
    if (found !== undefined) return found;
    if (this.workloads.size >= 1 << 18) this.workloads = new Map();
    const shared = {
      kind: this.strings.intern(ref.kind),
      name: this.strings.intern(ref.name),
      namespace: ref.namespace,
    };
    this.workloads.set(key, shared);
    return shared;
  }

  private freshBacking(service: ServiceEntry): void {
    if (service.deletedMs !== undefined) return;
    const version = this.sliceGroups.get(service.key)?.version ?? 0;
    if (
      service.seenSlices === version &&
      service.seenPods === this.podsGen &&
      service.seenOwners === this.ownersGen
    ) {
      return;
    }
    service.backing = this.computeBacking(service.key);
    service.seenSlices = version;
    service.seenPods = this.podsGen;
    service.seenOwners = this.ownersGen;
  }

  /** The single workload behind every ready endpoint of a Service, if there is exactly one. */
  private computeBacking(key: string): WorkloadRef | undefined {
    const group = this.sliceGroups.get(key);
    if (group === undefined) return undefined;
    let found: WorkloadRef | undefined;
    const now = this.now();
    for (const slice of group.slices) {
      for (const uid of slice.readyPodUids) {
        const pod = this.pods.get(uid);
        if (pod === undefined) return undefined;
        const w = this.freshWorkload(pod);
        if (found !== undefined && !sameWorkload(found, w)) return undefined;
        found = w;
      }
      for (const ip of slice.readyOtherIps) {
        const owner = this.podIps.lookup(ip, now);
        if (owner === undefined) return undefined;
        const w = this.freshWorkload(owner);
        if (found !== undefined && !sameWorkload(found, w)) return undefined;
        found = w;
      }
    }
    return found;
  }

  // ---- pods ----

  upsertPod(input: PodInput): void {
    const now = this.now();
    const existing = this.pods.get(input.uid);
    if (existing === undefined) {
      const pod = new PodEntry(
        input,
        this.strings.intern(input.namespace),
        this.strings.intern(input.nodeName),
        this.internLink(input.controller),
      );
      this.computeWorkload(pod);
      this.pods.set(pod.uid, pod);
      this.livePods++;
      this.podsGen++;
      for (const ip of this.claimedIps(pod)) this.podIps.claim(ip, pod, pod, pod.creationMs, now);
      this.prune(now);
      return;
    }
    const before = this.claimedIps(existing);
    if (existing.deletedMs !== undefined) {
      existing.deletedMs = undefined;
      this.livePods++;
      this.podsGen++;
    }
    existing.nodeName = this.strings.intern(input.nodeName);
    existing.hostNetwork = input.hostNetwork;
    existing.terminated = input.terminated;
    if (!sameList(existing.ips, input.ips)) existing.addresses = PodEntry.pack(input.ips);
    if (!sameLink(existing.controller, input.controller)) {
      existing.controller = this.internLink(input.controller);
      this.computeWorkload(existing);
      this.podsGen++;
    }
    const after = this.claimedIps(existing);
    for (const ip of before) if (!after.includes(ip)) this.podIps.release(ip, existing, now);
    for (const ip of after) this.podIps.claim(ip, existing, existing, existing.creationMs, now);
    this.prune(now);
  }

  deletePod(uid: string): void {
    const pod = this.pods.get(uid);
    if (pod === undefined || pod.deletedMs !== undefined) return;
    const now = this.now();
    this.freshWorkload(pod);
    for (const ip of this.claimedIps(pod)) this.podIps.release(ip, pod, now);
    pod.deletedMs = now;
    this.livePods--;
    this.podsGen++;
    this.podTombstones.push(pod, now);
    this.prune(now);
  }

  /** IPs a pod holds: none for hostNetwork pods (the node owns them), finished or deleted pods. */
  private claimedIps(pod: PodEntry): readonly string[] {
    return pod.hostNetwork || pod.terminated || pod.deletedMs !== undefined ? [] : pod.ips;
  }

  /** One link object per owner, shared by the pods (or controllers) it owns. */
  private internLink(link: ControllerLink): ControllerLink {
    if (link === undefined || link === 'ambiguous') return link;
    // Keyed by the owner's UID (a string the link keeps anyway), else by kind and name.
    const key = link.uid !== '' ? link.uid : link.kind + SEP + link.name;
    const found = this.links.get(key);
    if (found !== undefined && sameLink(found, link)) return found;
    const shared = {
      kind: this.strings.intern(link.kind),
      name: this.strings.intern(link.name),
      uid: link.uid,
    };
    // A UID claimed by two different owners (a hostile object) keeps the first one shared.
    if (found !== undefined) return shared;
    if (this.links.size >= 1 << 18) this.links = new Map();
    this.links.set(key, shared);
    return shared;
  }

  // ---- controllers ----

  upsertController(input: ControllerInput): void {
    const now = this.now();
    const existing = this.controllers.get(input.uid);
    if (existing !== undefined && existing.kind === input.kind && existing.name === input.name) {
      if (existing.deletedMs !== undefined) {
        existing.deletedMs = undefined;
        this.countLive(existing.kind, 1);
      }
      if (!sameLink(existing.controller, input.controller)) {
        existing.controller = this.internLink(input.controller);
        this.ownersGen++;
      }
      return;
    }
    if (existing !== undefined) this.dropController(existing);
    const entry: ControllerEntry = {
      kind: input.kind,
      uid: input.uid,
      name: this.strings.intern(input.name),
      namespace: this.strings.intern(input.namespace),
      controller: this.internLink(input.controller),
      deletedMs: undefined,
    };
    this.controllers.set(entry.uid, entry);
    this.countLive(entry.kind, 1);
    this.ownersGen++;
    this.prune(now);
  }

  /** The controller stays resolvable as a tombstone: its pods usually terminate after it. */
  deleteController(uid: string): void {
    const entry = this.controllers.get(uid);
    if (entry === undefined || entry.deletedMs !== undefined) return;
    const now = this.now();
    entry.deletedMs = now;
    this.countLive(entry.kind, -1);
    this.controllerTombstones.push(entry, now);
    this.prune(now);
  }

  private dropController(entry: ControllerEntry): void {
    if (this.controllers.get(entry.uid) === entry) this.controllers.delete(entry.uid);
    if (entry.deletedMs === undefined) this.countLive(entry.kind, -1);
    this.ownersGen++;
  }

  private countLive(kind: string, delta: number): void {
    this.liveByKind.set(kind, (this.liveByKind.get(kind) ?? 0) + delta);
  }

  // ---- services and endpoint slices ----

  upsertService(input: ServiceInput): void {
    const now = this.now();
    const existing = this.services.get(input.uid);
    if (existing !== undefined) {
      if (!sameList(existing.clusterIPs, input.clusterIPs)) {
        for (const ip of existing.clusterIPs) {
          if (!input.clusterIPs.includes(ip)) this.serviceIps.release(ip, existing, now);
        }
        existing.clusterIPs = input.clusterIPs;
        for (const ip of input.clusterIPs) {
          this.serviceIps.claim(ip, existing.owner, existing, existing.creationMs, now);
        }
      }
      return;
    }
    const namespace = this.strings.intern(input.namespace);
    const service: ServiceEntry = {
      uid: input.uid,
      name: this.strings.intern(input.name),
      namespace,
      clusterIPs: input.clusterIPs,
      backing: undefined,
      key: namespace + SEP + input.name,
      creationMs: input.creationMs,
      deletedMs: undefined,
      seenSlices: -1,
      seenPods: -1,
      seenOwners: -1,
      owner: undefined as unknown as IpOwner,
    };
    service.owner = { kind: 'service', service };
    this.services.set(service.uid, service);
    for (const ip of service.clusterIPs)
      this.serviceIps.claim(ip, service.owner, service, service.creationMs, now);
    this.prune(now);
  }

  /** The Service's ClusterIPs keep answering for times before now; its backing is frozen. */
  deleteService(uid: string): void {
    const service = this.services.get(uid);
    if (service === undefined) return;
    const now = this.now();
    this.freshBacking(service);
    service.deletedMs = now;
    for (const ip of service.clusterIPs) this.serviceIps.release(ip, service, now);
    this.services.delete(uid);
    this.prune(now);
  }

  upsertEndpointSlice(input: EndpointSliceInput): void {
    const key =
      input.serviceName === '' ? '' : this.strings.intern(input.namespace) + SEP + input.serviceName;
    const existing = this.slices.get(input.uid);
    if (existing !== undefined) this.unindexSlice(existing);
    if (key === '') {
      this.slices.delete(input.uid);
      return;
    }
    // The pods' own UID strings, so that each UID is held once.
    const readyPodUids = input.readyPodUids.map((uid) => this.pods.get(uid)?.uid ?? uid);
    const slice: SliceEntry = {
      uid: input.uid,
      key,
      readyPodUids,
      readyOtherIps: input.readyOtherIps,
    };
    this.slices.set(slice.uid, slice);
    let group = this.sliceGroups.get(key);
    if (group === undefined) {
      group = { slices: new Set(), version: 0 };
      this.sliceGroups.set(key, group);
    }
    group.slices.add(slice);
    group.version++;
  }

  deleteEndpointSlice(uid: string): void {
    const slice = this.slices.get(uid);
    if (slice === undefined) return;
    this.unindexSlice(slice);
    this.slices.delete(uid);
  }

  private unindexSlice(slice: SliceEntry): void {
    const group = this.sliceGroups.get(slice.key);
    if (group === undefined) return;
    group.slices.delete(slice);
    group.version++;
    // An emptied group keeps its version so cached backings see the change.
  }

  // ---- nodes ----

  upsertNode(input: NodeInput): void {
    const now = this.now();
    const existing = this.nodes.get(input.uid);
    if (existing !== undefined) {
      if (!sameList(existing.addresses, input.addresses)) {
        for (const ip of existing.addresses) {
          if (!input.addresses.includes(ip)) this.nodeIps.release(ip, existing, now);
        }
        existing.addresses = input.addresses;
        for (const ip of input.addresses)
          this.nodeIps.claim(ip, existing.owner, existing, existing.creationMs, now);
      }
      return;
    }
    const node: NodeEntry = {
      uid: input.uid,
      name: this.strings.intern(input.name),
      addresses: input.addresses,
      creationMs: input.creationMs,
      owner: undefined as unknown as IpOwner,
    };
    node.owner = { kind: 'node', node };
    this.nodes.set(node.uid, node);
    for (const ip of node.addresses) this.nodeIps.claim(ip, node.owner, node, node.creationMs, now);
    this.prune(now);
  }

  deleteNode(uid: string): void {
    const node = this.nodes.get(uid);
    if (node === undefined) return;
    const now = this.now();
    for (const ip of node.addresses) this.nodeIps.release(ip, node, now);
    this.nodes.delete(uid);
    this.prune(now);
  }

  // ---- bounds ----

  /** Drops tombstones past their age or beyond the budget. Called on every change. */
  prune(nowMs: number = this.now()): void {
    const oldest = nowMs - this.tombstoneTtlMs;
    this.podTombstones.prune(oldest, this.maxTombstones, (pod) => {
      this.pods.delete(pod.uid);
      this.podsGen++;
    });
    this.controllerTombstones.prune(oldest, this.maxTombstones, (entry) => this.dropController(entry));
    this.podIps.prune(nowMs);
    this.serviceIps.prune(nowMs);
    this.nodeIps.prune(nowMs);
  }
}
