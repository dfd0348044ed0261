/**
 * Kubernetes objects -> the minimal inputs the metadata store keeps.
 *
 * Pure and defensive: an object arrives either as the raw JSON of a watch event
 * or as a model deserialised by `@kubernetes/client-node` (timestamps are then
 * `Date`s), and nothing in it is trusted. Each function returns the minimal input
 * or a short reason why the object cannot be used; it never throws.
 */

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

function parseV4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255 || (p.length > 1 && p[0] === '0')) return undefined;
    out.push(n);
  }
  return out;
}

function parseV6(text: string): number[] | undefined {
  let body = text;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // An embedded IPv4 tail becomes its two hex groups.
    const v4 = parseV4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    const hi = (((v4[0] as number) << 8) | (v4[1] as number)).toString(16);
    const lo = (((v4[2] as number) << 8) | (v4[3] as number)).toString(16);
    body = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const group = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = group(halves[0] as string);
  if (head === undefined) return undefined;
  if (halves.length === 1) {
    return head.length === 8 ? head : undefined;
  }
  const rest = group(halves[1] as string);
  if (rest === undefined) return undefined;
  const known = head.length + rest.length;
  if (known > 7) return undefined;
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest];
}

/**
 * Normalises an IP address to the text form the store keys by: dotted quad for
 * IPv4 (also for IPv4-mapped IPv6 `::ffff:a.b.c.d`), RFC 5952 for IPv6 (lower
 * case, longest run of zero groups compressed). Returns `undefined` for
 * anything that is not an IP address.
 *
 * @example
 * normalizeIp('::FFFF:10.0.0.1'); // '10.0.0.1'
 * normalizeIp('2001:db8:0:0:0:0:0:1'); // '2001:db8::1'
 */
export function normalizeIp(text: string): string | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  if (!text.includes(':')) {
    const v4 = parseV4(text);
    return v4 === undefined ? undefined : v4.join('.');
  }
  const g = parseV6(text);
  if (g === undefined) return undefined;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    const a = g[6] as number;
    const b = g[7] as number;
    return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((n) => n.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
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
    const ip = normalizeIp(c);
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
