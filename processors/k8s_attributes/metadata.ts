/**
 * The contract between identity resolution (pure, in `resolve.ts`) and the
 * Kubernetes metadata store (informers, in `kubernetes.ts`). Resolution codes
 * against `ClusterMetadata`; tests may give it a table-backed fake, and the real
 * store is tested against the API emulator.
 */

/** A workload as people name it: the top controller of a pod, or the pod itself. */
export interface WorkloadRef {
  /** `Deployment`, `StatefulSet`, `DaemonSet`, `CronJob`, `Job`, `ReplicaSet`, `Pod`, ... */
  kind: string;
  name: string;
  namespace: string;
}

/** Minimal pod record: never the whole object. */
export interface PodRecord {
  uid: string;
  name: string;
  namespace: string;
  nodeName: string;
  hostNetwork: boolean;
  /** Pod IPs (v4 and v6), normalised text form. */
  ips: readonly string[];
  /** The pod's owner chain resolved per `owner_depth` (the pod itself when it has no owner). */
  workload: WorkloadRef;
}

export interface ServiceRecord {
  name: string;
  namespace: string;
  clusterIPs: readonly string[];
  /** The one workload behind every ready endpoint of the Service, when there is exactly one. */
  backing?: WorkloadRef;
}

export interface NodeRecord {
  name: string;
  /** InternalIP / ExternalIP addresses. */
  addresses: readonly string[];
}

export type IpOwner =
  | { kind: 'pod'; pod: PodRecord }
  | { kind: 'service'; service: ServiceRecord }
  | { kind: 'node'; node: NodeRecord };

/** State of one informer, for self-telemetry. */
export interface WatchState {
  resource: string;
  /** `listing` before the first list, `watching` when healthy, `backoff` after an error. */
  state: 'listing' | 'watching' | 'backoff' | 'stopped';
  relists: number;
  errors: number;
}

/** What resolution needs from the cluster. */
export interface ClusterMetadata {
  /**
   * Who owned `ip` at `timeMs` (ms since the epoch). Time-aware: a deleted pod's
   * IP keeps resolving to it for times before its deletion (tombstones), and a
   * new pod that reuses the IP owns it only from its own creation on.
   * Pods win over nodes for hostNetwork-free IPs; Service ClusterIPs are their own.
   */
  lookupIp(ip: string, timeMs: number): IpOwner | undefined;
  /** A pod by its UID (hostNetwork pods' local sockets are found by cgroup → pod UID). */
  podByUid(uid: string): PodRecord | undefined;
  /** True once every informer has completed its first list. */
  synced(): boolean;
  /**
   * Moves whenever an answer of `lookupIp`, `podByUid` or `synced` may have
   * changed (any object stored or removed, an informer synced): resolutions
   * computed at one version hold until it moves.
   */
  readonly version: number;
  watchStates(): readonly WatchState[];
  start(): Promise<void>;
  stop(): Promise<void>;
}
