/**
 * Links for exporter tests: one Kubernetes link whose fields a test overrides,
 * numbered sets that vary every attribute, and the points a link becomes.
 */
import type { Link } from '../../core/signals.ts';

/** When `testLink()`'s counters start: 2023-11-14T22:13:20.5 UTC (half a second, so a conversion that rounds shows). */
export const TEST_LINK_START_MS = 1_700_000_000_500;

/**
 * checkout (Deployment, shop) -> catalog:3550 (Service, shop) over TCP/IPv4,
 * counted on the client, every counter non-zero; `overrides` replace whole fields.
 *
 * @example testLink({ serverPort: 443, bytesServerToClient: 0 })
 */
export function testLink(overrides: Partial<Link> = {}): Link {
  return {
    id: 'l1',
    client: { name: 'checkout', kind: 'Deployment', namespace: 'shop' },
    server: { name: 'catalog', kind: 'Service', namespace: 'shop' },
    serverPort: 3550,
    transport: 'tcp',
    networkType: 'ipv4',
    observer: 'client',
    bytesClientToServer: 1200,
    bytesServerToClient: 34_000,
    connectionsOpened: 3,
    connectionsClosed: 2,
    connectionsFailed: 1,
    activeConnections: 1,
    retransSegs: 4,
    startTimeMs: TEST_LINK_START_MS,
    lastActivityMs: TEST_LINK_START_MS + 1000,
    ...overrides,
  };
}

/**
 * Link `i` of a set named `tag`: the client `${tag}-client-${i}` alternates a
 * Deployment in shop and a process (no namespace) and the observer; every
 * third link is IPv6; seven servers are shared; every counter differs from
 * link to link and server-to-client bytes pass 2^32, so a value that arrives
 * exactly was neither truncated nor taken from another link.
 *
 * @example Array.from({ length: 10 }, (_, i) => numberedLink('grpc', i, startMs))
 */
export function numberedLink(
  tag: string,
  i: number,
  startTimeMs: number,
  overrides: Partial<Link> = {},
): Link {
  const k8s = i % 2 === 0;
  return testLink({
    id: `${tag}-${i}`,
    client: {
      name: `${tag}-client-${i}`,
      kind: k8s ? 'Deployment' : 'process',
      namespace: k8s ? 'shop' : '',
    },
    server: { name: `${tag}-server-${i % 7}`, kind: 'StatefulSet', namespace: 'data' },
    serverPort: 5000 + i,
    networkType: i % 3 === 0 ? 'ipv6' : 'ipv4',
    observer: k8s ? 'client' : 'server',
    bytesClientToServer: 1000 * i + 17,
    bytesServerToClient: 2 ** 33 + i,
    connectionsOpened: i + 3,
    connectionsClosed: i + 1,
    connectionsFailed: i % 2,
    activeConnections: 2,
    retransSegs: i,
    startTimeMs: startTimeMs + i,
    lastActivityMs: startTimeMs + 1000,
    ...overrides,
  });
}

/** One exported point of a link: metric, the attributes it adds to the link's, value, instrument. */
export type LinkPoint = [
  name: string,
  attributes: Record<string, string>,
  value: number,
  type: 'sum' | 'gauge',
];

/** The seven points METRICS.md gives every link. */
export function linkPoints(l: Link): LinkPoint[] {
  return [
    ['loggerhead.link.bytes', { direction: 'client_to_server' }, l.bytesClientToServer, 'sum'],
    ['loggerhead.link.bytes', { direction: 'server_to_client' }, l.bytesServerToClient, 'sum'],
    ['loggerhead.link.connections', { event: 'opened' }, l.connectionsOpened, 'sum'],
    ['loggerhead.link.connections', { event: 'closed' }, l.connectionsClosed, 'sum'],
    ['loggerhead.link.connections', { event: 'failed' }, l.connectionsFailed, 'sum'],
    ['loggerhead.link.active_connections', {}, l.activeConnections, 'gauge'],
    ['loggerhead.link.retransmits', {}, l.retransSegs, 'sum'],
  ];
}
