/**
 * The service map model: a batch of links folded into a graph of nodes
 * (workloads, processes, externals) and edges (client -> server : port), with
 * bytes per second from the last two batches, plus the filters and caps the
 * HTTP API applies. Pure: no I/O, no clock.
 *
 * One edge per (client identity, server identity, server port). A link seen
 * from both ends (same-host traffic) carries the same counts twice; the edge
 * shows the client observer's counters when it has them (it alone sees failed
 * connects) and the server's otherwise, and lists which observers saw it. The
 * two views are never added together. IPv4 and IPv6 links of one observer are
 * summed.
 */
import type { Identity, Link, LinkBatch, Role } from '../../core/signals.ts';

export interface GraphNode {
  /** `kind/namespace/name`, stable across batches. */
  id: string;
  name: string;
  kind: string;
  /** '' when the identity has none. */
  namespace: string;
  /** Bytes per second through the node (sent and received), from the edges shown; null before a second batch. */
  bytesPerSecond: number | null;
  /** Payload bytes the node sent, over its edges, since the links started. */
  bytesSent: number;
  /** Payload bytes the node received. */
  bytesReceived: number;
  /** Connections opened, active and failed over the node's edges. */
  connectionsOpened: number;
  connectionsActive: number;
  connectionsFailed: number;
  /** Edges where the node is the client / the server. */
  edgesOut: number;
  edgesIn: number;
}

export interface GraphEdge {
  /** `clientId->serverId:port`. */
  id: string;
  /** Node id of the client. */
  source: string;
  /** Node id of the server. */
  target: string;
  serverPort: number;
  /** Whose socket counters the numbers are. */
  observer: Role;
  /** Every observer that reported the edge. */
  observers: Role[];
  /** `ipv4`, `ipv6` or both. */
  networkTypes: Array<'ipv4' | 'ipv6'>;
  bytesClientToServer: number;
  bytesServerToClient: number;
  /** Both directions per second between the last two batches; null when there is no earlier batch. */
  bytesPerSecond: number | null;
  bytesPerSecondClientToServer: number | null;
  bytesPerSecondServerToClient: number | null;
  connectionsOpened: number;
  connectionsClosed: number;
  connectionsActive: number;
  connectionsFailed: number;
  retransSegs: number;
  /** Start of the cumulative counters (the earliest of the summed links), ms since the epoch. */
  startTimeMs: number;
  lastActivityMs: number;
}

/** The whole graph of one batch. */
export interface ServiceGraph {
  timeMs: number;
  startTimeMs: number;
  /** Time between the last two batches; null for the first. */
  intervalMs: number | null;
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Links in the batch (one per observer and network type). */
  links: number;
}

/** Filters a request may apply; each applies to nodes, and a shown edge has at least one matching end. */
export interface GraphFilter {
  /** Exact namespace ('' for none is not expressible: the parameter must be non-empty). */
  namespace?: string;
  /** Exact kind, e.g. `Deployment`, `process`, `external`. */
  kind?: string;
  /** Case-insensitive substring of the name. */
  name?: string;
}

/** A filtered, capped view: what the API serves. */
export interface GraphView {
  timeMs: number;
  startTimeMs: number;
  intervalMs: number | null;
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Sizes before the caps (after the filters). */
  matched: { nodes: number; edges: number };
  /** Sizes of the whole graph. */
  total: { nodes: number; edges: number };
  /** True when the caps dropped edges or nodes: the busiest edges (bytes/s, then total bytes) are kept. */
  truncated: boolean;
  /** Every namespace and kind in the whole graph, sorted, for filter menus (capped like nodes). */
  namespaces: string[];
  kinds: string[];
}

export function nodeId(identity: Identity): string {
  return `${identity.kind}/${identity.namespace}/${identity.name}`;
}

interface Totals {
  c2s: number;
  s2c: number;
  opened: number;
  closed: number;
  active: number;
  failed: number;
  retrans: number;
  start: number;
  last: number;
  types: Set<'ipv4' | 'ipv6'>;
}

function add(into: Totals | undefined, link: Link): Totals {
  const t = into ?? {
    c2s: 0,
    s2c: 0,
    opened: 0,
    closed: 0,
    active: 0,
    failed: 0,
    retrans: 0,
    start: link.startTimeMs,
    last: link.lastActivityMs,
    types: new Set<'ipv4' | 'ipv6'>(),
  };
  t.c2s += link.bytesClientToServer;
  t.s2c += link.bytesServerToClient;
  t.opened += link.connectionsOpened;
  t.closed += link.connectionsClosed;
  t.active += link.activeConnections;
  t.failed += link.connectionsFailed;
  t.retrans += link.retransSegs;
  t.start = Math.min(t.start, link.startTimeMs);
  t.last = Math.max(t.last, link.lastActivityMs);
  t.types.add(link.networkType);
  return t;
}

/** Counters of the previous batch per edge, to compute rates. */
export interface PreviousTotals {
  timeMs: number;
  /** Edge id -> [observer, c2s, s2c]. */
  edges: ReadonlyMap<string, readonly [Role, number, number]>;
}

function rate(now: number, before: number | undefined, seconds: number): number {
  // A link that was not there before started within the interval; a counter that went down was reset.
  const delta = now - (before ?? 0);
  return delta > 0 ? delta / seconds : 0;
}

/**
 * Folds a batch into the graph. `previous` (from the last call) gives the
 * rates; the returned `next` is what to pass with the following batch.
 */
export function buildGraph(
  batch: LinkBatch,
  previous: PreviousTotals | undefined,
): { graph: ServiceGraph; next: PreviousTotals } {
  const identities = new Map<string, Identity>();
  const perEdge = new Map<
    string,
    { client: string; server: string; port: number; byObserver: Map<Role, Totals> }
  >();
  for (const link of batch.links) {
    const client = nodeId(link.client);
    const server = nodeId(link.server);
    if (!identities.has(client)) identities.set(client, link.client);
    if (!identities.has(server)) identities.set(server, link.server);
    const id = `${client}->${server}:${link.serverPort}`;
    let entry = perEdge.get(id);
    if (entry === undefined) {
      entry = { client, server, port: link.serverPort, byObserver: new Map() };
      perEdge.set(id, entry);
    }
    entry.byObserver.set(link.observer, add(entry.byObserver.get(link.observer), link));
  }
  const interval =
    previous !== undefined && batch.timeMs > previous.timeMs ? batch.timeMs - previous.timeMs : null;
  const seconds = interval === null ? 0 : interval / 1000;
  const nextEdges = new Map<string, readonly [Role, number, number]>();
  const nodes = new Map<string, GraphNode>();
  const node = (id: string): GraphNode => {
    let n = nodes.get(id);
    if (n === undefined) {
      const identity = identities.get(id) as Identity;
      n = {
        id,
        name: identity.name,
        kind: identity.kind,
        namespace: identity.namespace,
        bytesPerSecond: interval === null ? null : 0,
        bytesSent: 0,
        bytesReceived: 0,
        connectionsOpened: 0,
        connectionsActive: 0,
        connectionsFailed: 0,
        edgesOut: 0,
        edgesIn: 0,
      };
      nodes.set(id, n);
    }
    return n;
  };
  const edges: GraphEdge[] = [];
  for (const [id, entry] of perEdge) {
    const observer: Role = entry.byObserver.has('client') ? 'client' : 'server';
    const t = entry.byObserver.get(observer) as Totals;
    nextEdges.set(id, [observer, t.c2s, t.s2c]);
    let r1: number | null = null;
    let r2: number | null = null;
    if (interval !== null) {
      const before = previous?.edges.get(id);
      // The same observer's counters only: switching views is not traffic.
      const same = before !== undefined && before[0] === observer ? before : undefined;
      r1 = rate(t.c2s, same?.[1] ?? (before === undefined ? 0 : t.c2s), seconds);
      r2 = rate(t.s2c, same?.[2] ?? (before === undefined ? 0 : t.s2c), seconds);
    }
    const edge: GraphEdge = {
      id,
      source: entry.client,
      target: entry.server,
      serverPort: entry.port,
      observer,
      observers: (['client', 'server'] as const).filter((o) => entry.byObserver.has(o)),
      networkTypes: (['ipv4', 'ipv6'] as const).filter((n) => t.types.has(n)),
      bytesClientToServer: t.c2s,
      bytesServerToClient: t.s2c,
      bytesPerSecond: r1 === null || r2 === null ? null : r1 + r2,
      bytesPerSecondClientToServer: r1,
      bytesPerSecondServerToClient: r2,
      connectionsOpened: t.opened,
      connectionsClosed: t.closed,
      connectionsActive: t.active,
      connectionsFailed: t.failed,
      retransSegs: t.retrans,
      startTimeMs: t.start,
      lastActivityMs: t.last,
    };
    edges.push(edge);
    const c = node(entry.client);
    const s = node(entry.server);
    c.edgesOut++;
    s.edgesIn++;
  }
  edges.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const all = [...nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  accumulateNodes(all, edges);
  return {
    graph: {
      timeMs: batch.timeMs,
      startTimeMs: batch.startTimeMs,
      intervalMs: interval,
      nodes: all,
      edges,
      links: batch.links.length,
    },
    next: { timeMs: batch.timeMs, edges: nextEdges },
  };
}

/** Sets the node totals from `edges` (the whole graph, or the edges a view shows). */
function accumulateNodes(nodes: GraphNode[], edges: readonly GraphEdge[]): void {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const n of nodes) {
    n.bytesPerSecond = n.bytesPerSecond === null ? null : 0;
    n.bytesSent = 0;
    n.bytesReceived = 0;
    n.connectionsOpened = 0;
    n.connectionsActive = 0;
    n.connectionsFailed = 0;
  }
  for (const e of edges) {
    for (const [id, sent, received] of [
      [e.source, e.bytesClientToServer, e.bytesServerToClient],
      [e.target, e.bytesServerToClient, e.bytesClientToServer],
    ] as const) {
      const n = byId.get(id);
      if (n === undefined) continue;
      n.bytesSent += sent;
      n.bytesReceived += received;
      n.connectionsOpened += e.connectionsOpened;
      n.connectionsActive += e.connectionsActive;
      n.connectionsFailed += e.connectionsFailed;
      if (n.bytesPerSecond !== null && e.bytesPerSecond !== null) n.bytesPerSecond += e.bytesPerSecond;
    }
  }
}

function matches(n: GraphNode, filter: GraphFilter, name: string | undefined): boolean {
  if (filter.namespace !== undefined && n.namespace !== filter.namespace) return false;
  if (filter.kind !== undefined && n.kind !== filter.kind) return false;
  if (name !== undefined && !n.name.toLowerCase().includes(name)) return false;
  return true;
}

function busier(a: GraphEdge, b: GraphEdge): number {
  const ra = a.bytesPerSecond ?? 0;
  const rb = b.bytesPerSecond ?? 0;
  if (ra !== rb) return rb - ra;
  const ta = a.bytesClientToServer + a.bytesServerToClient;
  const tb = b.bytesClientToServer + b.bytesServerToClient;
  if (ta !== tb) return tb - ta;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The view a request asks for: edges with at least one end matching every
 * filter, the nodes at their ends, then at most `maxEdges` edges (the busiest)
 * and `maxNodes` nodes (an edge is kept only with both of its ends).
 */
export function viewGraph(
  graph: ServiceGraph,
  filter: GraphFilter,
  caps: { maxNodes: number; maxEdges: number },
): GraphView {
  const name = filter.name?.toLowerCase();
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const filtering = filter.namespace !== undefined || filter.kind !== undefined || name !== undefined;
  const matching = filtering
    ? graph.edges.filter((e) => {
        const s = byId.get(e.source) as GraphNode;
        const t = byId.get(e.target) as GraphNode;
        return matches(s, filter, name) || matches(t, filter, name);
      })
    : graph.edges;
  const matchedNodes = new Set<string>();
  for (const e of matching) {
    matchedNodes.add(e.source);
    matchedNodes.add(e.target);
  }
  let edges = matching;
  let truncated = false;
  if (edges.length > caps.maxEdges || matchedNodes.size > caps.maxNodes) {
    truncated = true;
    const kept: GraphEdge[] = [];
    const keptNodes = new Set<string>();
    for (const e of [...matching].sort(busier)) {
      if (kept.length >= caps.maxEdges) break;
      const extra = (keptNodes.has(e.source) ? 0 : 1) + (keptNodes.has(e.target) ? 0 : 1);
      if (keptNodes.size + extra > caps.maxNodes) continue;
      keptNodes.add(e.source);
      keptNodes.add(e.target);
      kept.push(e);
    }
    edges = kept.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
  const shown = new Set<string>();
  for (const e of edges) {
    shown.add(e.source);
    shown.add(e.target);
  }
  const nodes = graph.nodes.filter((n) => shown.has(n.id)).map((n) => ({ ...n }));
  if (filtering || truncated) accumulateNodes(nodes, edges);
  const namespaces = new Set<string>();
  const kinds = new Set<string>();
  for (const n of graph.nodes) {
    if (n.namespace !== '' && namespaces.size < caps.maxNodes) namespaces.add(n.namespace);
    if (kinds.size < caps.maxNodes) kinds.add(n.kind);
  }
  return {
    timeMs: graph.timeMs,
    startTimeMs: graph.startTimeMs,
    intervalMs: graph.intervalMs,
    nodes,
    edges: edges.map((e) => ({ ...e })),
    matched: { nodes: matchedNodes.size, edges: matching.length },
    total: { nodes: graph.nodes.length, edges: graph.edges.length },
    truncated,
    namespaces: [...namespaces].sort(),
    kinds: [...kinds].sort(),
  };
}

/** `1.2 kB`, `340 B`, `5.6 GB` (SI, like the page). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let unit = 'B';
  for (const u of units) {
    if (v < 1000) break;
    v /= 1000;
    unit = u;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${unit}`;
}

export function formatRate(bytesPerSecond: number | null): string {
  return bytesPerSecond === null ? 'n/a' : `${formatBytes(bytesPerSecond)}/s`;
}
