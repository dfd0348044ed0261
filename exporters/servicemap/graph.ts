/**
 * The service map model: a batch of links folded into a graph of nodes
 * (workloads, processes, externals) and edges (client -> server : port), with
 * bytes per second from the last two batches, plus the filters and caps the
 * HTTP API applies. Pure: no I/O, no clock. A batch is folded into edge
 * totals when it comes (`foldLinks`); nodes, edges and rates are built from
 * the last two folds when asked (`graphOf`).
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
  /** Network types seen: 1 IPv4, 2 IPv6. */
  types: number;
}

function newTotals(link: Link): Totals {
  return {
    c2s: 0,
    s2c: 0,
    opened: 0,
    closed: 0,
    active: 0,
    failed: 0,
    retrans: 0,
    start: link.startTimeMs,
    last: link.lastActivityMs,
    types: 0,
  };
}

function add(t: Totals, link: Link): void {
  t.c2s += link.bytesClientToServer;
  t.s2c += link.bytesServerToClient;
  t.opened += link.connectionsOpened;
  t.closed += link.connectionsClosed;
  t.active += link.activeConnections;
  t.failed += link.connectionsFailed;
  t.retrans += link.retransSegs;
  if (link.startTimeMs < t.start) t.start = link.startTimeMs;
  if (link.lastActivityMs > t.last) t.last = link.lastActivityMs;
  t.types |= link.networkType === 'ipv4' ? 1 : 2;
}

/** Where a link goes in the graph: its edge and its ends (copied), kept from one batch to the next. */
interface LinkPlace {
  client: Identity;
  server: Identity;
  serverPort: number;
  edge: string;
  clientId: string;
  serverId: string;
}

/** One edge of a batch, its counters summed per observer. */
interface EdgeTotals {
  place: LinkPlace;
  byClient: Totals | undefined;
  byServer: Totals | undefined;
}

/**
 * A batch folded into edges: the per-batch part of the graph (what the rates of the next batch need),
 * the rest being built only when a request asks (`graphOf`).
 */
export interface LinkFold {
  timeMs: number;
  startTimeMs: number;
  /** Links in the batch (one per observer and network type). */
  links: number;
  edges: ReadonlyMap<string, EdgeTotals>;
  /** Where each link of the batch went, by link id: lets the next fold skip building the ids again. */
  places: ReadonlyMap<string, LinkPlace>;
}

function rate(now: number, before: number | undefined, seconds: number): number {
  // A link that was not there before started within the interval; a counter that went down was reset.
  const delta = now - (before ?? 0);
  return delta > 0 ? delta / seconds : 0;
}

/** The view an edge shows: the client observer's counters when it has them (it alone sees failed connects). */
function shown(e: EdgeTotals): { observer: Role; totals: Totals } {
  return e.byClient !== undefined
    ? { observer: 'client', totals: e.byClient }
    : { observer: 'server', totals: e.byServer as Totals };
}

function sameIdentity(a: Identity, b: Identity): boolean {
  return a.name === b.name && a.kind === b.kind && a.namespace === b.namespace;
}

/**
 * Sums a batch's links per edge. `previous` (the fold of the last batch) only saves building the
 * edge ids of links seen then; the links are read now and nothing of the batch is kept (the ends are
 * copied).
 */
export function foldLinks(batch: LinkBatch, previous?: LinkFold): LinkFold {
  const known = previous?.places;
  const places = new Map<string, LinkPlace>();
  const edges = new Map<string, EdgeTotals>();
  for (const link of batch.links) {
    let place = known?.get(link.id);
    if (
      place === undefined ||
      place.serverPort !== link.serverPort ||
      !sameIdentity(place.client, link.client) ||
      !sameIdentity(place.server, link.server)
    ) {
      const clientId = nodeId(link.client);
      const serverId = nodeId(link.server);
      place = {
        client: { name: link.client.name, kind: link.client.kind, namespace: link.client.namespace },
        server: { name: link.server.name, kind: link.server.kind, namespace: link.server.namespace },
        serverPort: link.serverPort,
        edge: `${clientId}->${serverId}:${link.serverPort}`,
        clientId,
        serverId,
      };
    }
    places.set(link.id, place);
    let entry = edges.get(place.edge);
    if (entry === undefined) {
      entry = { place, byClient: undefined, byServer: undefined };
      edges.set(place.edge, entry);
    }
    if (link.observer === 'client') add((entry.byClient ??= newTotals(link)), link);
    else add((entry.byServer ??= newTotals(link)), link);
  }
  return { timeMs: batch.timeMs, startTimeMs: batch.startTimeMs, links: batch.links.length, edges, places };
}

/** The graph of a fold, with bytes per second against `previous`, the fold of the batch before. */
export function graphOf(fold: LinkFold, previous: LinkFold | undefined): ServiceGraph {
  const interval =
    previous !== undefined && fold.timeMs > previous.timeMs ? fold.timeMs - previous.timeMs : null;
  const seconds = interval === null ? 0 : interval / 1000;
  const nodes = new Map<string, GraphNode>();
  const node = (id: string, identity: Identity): GraphNode => {
    let n = nodes.get(id);
    if (n === undefined) {
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
  for (const [id, entry] of fold.edges) {
    const { observer, totals: t } = shown(entry);
    let r1: number | null = null;
    let r2: number | null = null;
    if (interval !== null) {
      const earlier = previous?.edges.get(id);
      const before = earlier === undefined ? undefined : shown(earlier);
      // The same observer's counters only: switching views is not traffic.
      const same = before !== undefined && before.observer === observer ? before.totals : undefined;
      r1 = rate(t.c2s, same?.c2s ?? (before === undefined ? 0 : t.c2s), seconds);
      r2 = rate(t.s2c, same?.s2c ?? (before === undefined ? 0 : t.s2c), seconds);
    }
    const observers: Role[] = [];
    if (entry.byClient !== undefined) observers.push('client');
    if (entry.byServer !== undefined) observers.push('server');
    const networkTypes: Array<'ipv4' | 'ipv6'> = [];
    if ((t.types & 1) !== 0) networkTypes.push('ipv4');
    if ((t.types & 2) !== 0) networkTypes.push('ipv6');
    const { place } = entry;
    edges.push({
      id,
      source: place.clientId,
      target: place.serverId,
      serverPort: place.serverPort,
      observer,
      observers,
      networkTypes,
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
    });
    node(place.clientId, place.client).edgesOut++;
    node(place.serverId, place.server).edgesIn++;
  }
  edges.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const all = [...nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  accumulateNodes(all, edges);
  return {
    timeMs: fold.timeMs,
    startTimeMs: fold.startTimeMs,
    intervalMs: interval,
    nodes: all,
    edges,
    links: fold.links,
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
