/**
 * Caretta compatibility: `caretta_links_observed`, with the label set, ids and
 * values Caretta (groundcover-com/caretta) publishes, so its Grafana dashboard
 * works unchanged. What each label holds, and where that was checked in
 * Caretta's source, is in this folder's README.
 */
import type { Identity, Link } from '../../core/signals.ts';

export const CARETTA_METRIC = 'caretta_links_observed';

/** Caretta's labels, in its order. */
export const CARETTA_LABELS = [
  'link_id',
  'client_id',
  'client_name',
  'client_namespace',
  'client_kind',
  'client_owner',
  'server_id',
  'server_name',
  'server_namespace',
  'server_kind',
  'server_port',
  'role',
] as const;

/** Caretta's role numbers: 1 = seen from the client socket, 2 = from the server socket. */
export const CARETTA_ROLE = { client: 1, server: 2 } as const;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * 32-bit FNV-1a of the UTF-8 bytes of `text` (Go's `hash/fnv` New32a over `[]byte(s)`).
 *
 * @example
 * fnv1a32('checkoutservice' + 'demo-ng'); // 1074587981
 */
export function fnv1a32(text: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      h = Math.imul(h ^ c, FNV_PRIME);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    } else if (c >= 0xd800 && c <= 0xdfff) {
      c = 0xfffd;
    }
    for (const byte of utf8Bytes(c)) h = Math.imul(h ^ byte, FNV_PRIME);
  }
  return h >>> 0;
}

function utf8Bytes(cp: number): number[] {
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
}

/** One end of a link as Caretta names it. */
export interface CarettaWorkload {
  name: string;
  namespace: string;
  kind: string;
  /** Caretta fills it only when it does not walk owners up (its default does); always '' here. */
  owner: string;
}

/**
 * Maps an identity to Caretta's spelling: nodes (and the local host in host
 * mode) are kind and namespace `node`, unresolved peers kind and namespace
 * `external`, bare pods kind `pod`; controllers and Services keep their
 * Kubernetes kind.
 */
export function carettaWorkload(identity: Identity): CarettaWorkload {
  switch (identity.kind) {
    case 'Node':
    case 'host':
      return { name: identity.name, namespace: 'node', kind: 'node', owner: '' };
    case 'external':
      return { name: identity.name, namespace: 'external', kind: 'external', owner: '' };
    case 'Pod':
      return { name: identity.name, namespace: identity.namespace, kind: 'pod', owner: '' };
    default:
      return { name: identity.name, namespace: identity.namespace, kind: identity.kind, owner: '' };
  }
}

/** One `caretta_links_observed` series: its labels in `CARETTA_LABELS` order and its value. */
export interface CarettaSeries {
  labels: Array<[string, string]>;
  /** Bytes sent by the observer socket: client -> server for role 1, server -> client for role 2. */
  value: number;
}

/**
 * The Caretta series of a batch. Links that Caretta cannot tell apart (they
 * differ only in network type, say) are summed into one series, as Caretta
 * sums every connection of a link.
 */
export function carettaSeries(links: readonly Link[]): CarettaSeries[] {
  const byKey = new Map<string, CarettaSeries>();
  for (const link of links) {
    const client = carettaWorkload(link.client);
    const server = carettaWorkload(link.server);
    const role = CARETTA_ROLE[link.observer];
    const value = link.observer === 'client' ? link.bytesClientToServer : link.bytesServerToClient;
    const linkId = (fnv1a32(client.name + client.namespace + server.name + server.namespace) + role) >>> 0;
    const labels: Array<[string, string]> = [
      ['link_id', String(linkId)],
      ['client_id', String(fnv1a32(client.name + client.namespace))],
      ['client_name', client.name],
      ['client_namespace', client.namespace],
      ['client_kind', client.kind],
      ['client_owner', client.owner],
      ['server_id', String(fnv1a32(server.name + server.namespace))],
      ['server_name', server.name],
      ['server_namespace', server.namespace],
      ['server_kind', server.kind],
      ['server_port', String(link.serverPort)],
      ['role', String(role)],
    ];
    const key = JSON.stringify(labels);
    const existing = byKey.get(key);
    if (existing === undefined) byKey.set(key, { labels, value });
    else existing.value += value;
  }
  return [...byKey.values()];
}
