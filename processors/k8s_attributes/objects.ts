/**
 * Kubernetes objects -> the minimal inputs the metadata store keeps.
 *
 * Pure and defensive: an object arrives either as the raw JSON of a watch event
 * or as a model deserialised by `@kubernetes/client-node` (timestamps are then
 * `Date`s), and nothing in it is trusted. Each function returns the minimal input
 * or a short reason why the object cannot be used; it never throws.
 */

import { parseIp } from '../../core/ip.ts';

/** Longest name, namespace or UID accepted (the API server's own limit for DNS subdomain names). */
export const MAX_NAME_LENGTH = 253;

/** An ownerReference that names a controller: enough to follow the chain. */
export interface OwnerLink {
  kind: string;
  name: string;
  /** Empty when the reference carries no UID (then matched by kind and name). */
  uid: string;
}

/**
 * A pod's or controller's controller: one link, none (`undefined`), or
 * `'ambiguous'` when several ownerReferences claim `controller: true`.
 */
export type ControllerLink = OwnerLink | 'ambiguous' | undefined;

export interface PodInput {
  uid: string;
  name: string;
  namespace: string;
  nodeName: string;
  hostNetwork: boolean;
  /** Normalised pod IPs (status.podIPs, else status.podIP). */
  ips: string[];
  /** Succeeded or Failed: the sandbox is gone and the pod no longer holds its IPs. */
  terminated: boolean;
  /** metadata.creationTimestamp in ms since the epoch (0 when absent or unparsable). */
  creationMs: number;
  controller: ControllerLink;
}

/** The kinds whose owner chain the store follows. */
export type ControllerKind = 'ReplicaSet' | 'Deployment' | 'StatefulSet' | 'DaemonSet' | 'Job' | 'CronJob';

export interface ControllerInput {
  kind: ControllerKind;
  uid: string;
  name: string;
  namespace: string;
  controller: ControllerLink;
}

export interface ServiceInput {
  uid: string;
  name: string;
  namespace: string;
  /** Normalised ClusterIPs; empty for headless (`None`) and ExternalName Services. */
  clusterIPs: string[];
  creationMs: number;
}

export interface EndpointSliceInput {
  uid: string;
  namespace: string;
  /** The Service it belongs to (label `kubernetes.io/service-name`); '' when unlabelled. */
  serviceName: string;
  /** UIDs of the pods behind ready endpoints (targetRef kind Pod). */
  readyPodUids: string[];
  /** Addresses of ready endpoints that name no pod. */
  readyOtherIps: string[];
}

export interface NodeInput {
  uid: string;
  name: string;
  /** Normalised InternalIP and ExternalIP addresses. */
  addresses: string[];
  creationMs: number;
}

export type Extracted<T> = { ok: true; value: T } | { ok: false; reason: string };

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function field(o: unknown, key: string): unknown {
  return isObj(o) ? o[key] : undefined;
}

function nameLike(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_LENGTH;
}

function toMs(v: unknown): number {
  if (v instanceof Date) {
    const t = v.getTime();
    return Number.isFinite(t) ? t : 0;
  }
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : 0;
  }
  return 0;
}

/** An array without the spare capacity `push` leaves (the store keeps these for the life of a record). */
function exact<T>(items: T[]): T[] {
  return items.length === 0 ? EMPTY : items.slice();
}
const EMPTY: never[] = [];

/** Normalised, de-duplicated IPs from a list of candidates, non-IPs dropped. */
function ipList(candidates: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const c of candidates) {
    if (typeof c !== 'string') continue;
    const ip = parseIp(c)?.text;
    if (ip !== undefined && !out.includes(ip)) out.push(ip);
  }
  return exact(out);
}

/**
 * The controller among ownerReferences. References that are malformed (no
 * kind, a name that is not a Kubernetes name) cannot be followed; when one of
 * them claims to be the controller the result is `'ambiguous'`, so a bad
 * reference never lets the chain continue past what is certain.
 */
export function controllerOf(ownerReferences: unknown): ControllerLink {
  if (!Array.isArray(ownerReferences)) return undefined;
  let found: OwnerLink | undefined;
  let count = 0;
  for (const ref of ownerReferences) {
    if (field(ref, 'controller') !== true) continue;
    count++;
    const kind = field(ref, 'kind');
    const name = field(ref, 'name');
    const uid = field(ref, 'uid');
    if (!nameLike(kind) || !nameLike(name) || (uid !== undefined && uid !== '' && !nameLike(uid))) {
      return 'ambiguous';
    }
    found = { kind, name, uid: typeof uid === 'string' ? uid : '' };
  }
  if (count > 1) return 'ambiguous';
  return found;
}

interface Meta {
  uid: string;
  name: string;
  namespace: string;
  creationMs: number;
  controller: ControllerLink;
}

function meta(obj: unknown, namespaced: boolean): Extracted<Meta> {
  const m = field(obj, 'metadata');
  if (!isObj(m)) return { ok: false, reason: 'no metadata' };
  const uid = m.uid;
  const name = m.name;
  const namespace = namespaced ? m.namespace : '';
  if (!nameLike(uid)) return { ok: false, reason: 'bad metadata.uid' };
  if (!nameLike(name)) return { ok: false, reason: 'bad metadata.name' };
  if (namespaced && !nameLike(namespace)) return { ok: false, reason: 'bad metadata.namespace' };
  return {
    ok: true,
    value: {
      uid,
      name,
      namespace: namespace as string,
      creationMs: toMs(m.creationTimestamp),
      controller: controllerOf(m.ownerReferences),
    },
  };
}

/** Pod -> PodInput. */
export function podInput(obj: unknown): Extracted<PodInput> {
  const m = meta(obj, true);
  if (!m.ok) return m;
  const spec = field(obj, 'spec');
  const status = field(obj, 'status');
  const podIPs = field(status, 'podIPs');
  const candidates: unknown[] = Array.isArray(podIPs) ? podIPs.map((p) => field(p, 'ip')) : [];
  candidates.push(field(status, 'podIP'));
  const phase = field(status, 'phase');
  const nodeName = field(spec, 'nodeName');
  return {
    ok: true,
    value: {
      uid: m.value.uid,
      name: m.value.name,
      namespace: m.value.namespace,
      nodeName: nameLike(nodeName) ? nodeName : '',
      hostNetwork: field(spec, 'hostNetwork') === true,
      ips: ipList(candidates),
      terminated: phase === 'Succeeded' || phase === 'Failed',
      creationMs: m.value.creationMs,
      controller: m.value.controller,
    },
  };
}

/** ReplicaSet, Deployment, StatefulSet, DaemonSet, Job or CronJob -> ControllerInput. */
export function controllerInput(kind: ControllerKind, obj: unknown): Extracted<ControllerInput> {
  const m = meta(obj, true);
  if (!m.ok) return m;
  return {
    ok: true,
    value: {
      kind,
      uid: m.value.uid,
      name: m.value.name,
      namespace: m.value.namespace,
      controller: m.value.controller,
    },
  };
}

/** Service -> ServiceInput. */
export function serviceInput(obj: unknown): Extracted<ServiceInput> {
  const m = meta(obj, true);
  if (!m.ok) return m;
  const spec = field(obj, 'spec');
  const list = field(spec, 'clusterIPs');
  const candidates: unknown[] = Array.isArray(list) ? [...list] : [];
  candidates.push(field(spec, 'clusterIP'));
  return {
    ok: true,
    value: {
      uid: m.value.uid,
      name: m.value.name,
      namespace: m.value.namespace,
      clusterIPs: ipList(candidates),
      creationMs: m.value.creationMs,
    },
  };
}

/** The Service an EndpointSlice belongs to is named by this label. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** EndpointSlice (discovery.k8s.io/v1) -> EndpointSliceInput. */
export function endpointSliceInput(obj: unknown): Extracted<EndpointSliceInput> {
  const m = meta(obj, true);
  if (!m.ok) return m;
  const labels = field(field(obj, 'metadata'), 'labels');
  const service = field(labels, SERVICE_NAME_LABEL);
  const endpoints = field(obj, 'endpoints');
  const readyPodUids: string[] = [];
  const readyOtherIps: string[] = [];
  if (Array.isArray(endpoints)) {
    for (const ep of endpoints) {
      // discovery/v1: an unset `ready` condition means ready.
      if (field(field(ep, 'conditions'), 'ready') === false) continue;
      const target = field(ep, 'targetRef');
      const uid = field(target, 'uid');
      if (field(target, 'kind') === 'Pod' && nameLike(uid)) {
        if (!readyPodUids.includes(uid)) readyPodUids.push(uid);
        continue;
      }
      const addresses = field(ep, 'addresses');
      for (const ip of ipList(Array.isArray(addresses) ? addresses : [])) {
        if (!readyOtherIps.includes(ip)) readyOtherIps.push(ip);
      }
    }
  }
  return {
    ok: true,
    value: {
      uid: m.value.uid,
      namespace: m.value.namespace,
      serviceName: nameLike(service) ? service : '',
      readyPodUids: exact(readyPodUids),
      readyOtherIps: exact(readyOtherIps),
    },
  };
}

/** Node -> NodeInput (InternalIP and ExternalIP addresses only). */
export function nodeInput(obj: unknown): Extracted<NodeInput> {
  const m = meta(obj, false);
  if (!m.ok) return m;
  const addresses = field(field(obj, 'status'), 'addresses');
  const candidates: unknown[] = [];
  if (Array.isArray(addresses)) {
    for (const a of addresses) {
      const type = field(a, 'type');
      if (type === 'InternalIP' || type === 'ExternalIP') candidates.push(field(a, 'address'));
    }
  }
  return {
    ok: true,
    value: {
      uid: m.value.uid,
      name: m.value.name,
      addresses: ipList(candidates),
      creationMs: m.value.creationMs,
    },
  };
}
