import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Identity, Link, LinkBatch, Role } from '../../core/signals.ts';
import type { LinkFold, ServiceGraph } from './graph.ts';
import { foldLinks, formatBytes, formatRate, graphOf, viewGraph } from './graph.ts';
import { testLink } from '../../test/support/links.ts';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const web: Identity = { name: 'web', kind: 'Deployment', namespace: 'shop' };
const api: Identity = { name: 'api', kind: 'Deployment', namespace: 'shop' };
const db: Identity = { name: 'db', kind: 'StatefulSet', namespace: 'data' };
const ext: Identity = { name: 'api.example.com', kind: 'external', namespace: '' };

function link(
  client: Identity,
  server: Identity,
  port: number,
  observer: Role,
  c2s: number,
  s2c: number,
  more: Partial<Link> = {},
): Link {
  return testLink({
    id: `${client.name}-${server.name}-${port}-${observer}-${more.networkType ?? 'ipv4'}`,
    client,
    server,
    serverPort: port,
    observer,
    bytesClientToServer: c2s,
    bytesServerToClient: s2c,
    connectionsOpened: 2,
    connectionsClosed: 1,
    connectionsFailed: 0,
    retransSegs: 0,
    startTimeMs: T0,
    lastActivityMs: T0 + 1000,
    ...more,
  });
}

const batch = (timeMs: number, links: Link[]): LinkBatch => ({ timeMs, startTimeMs: T0, links });

/** The graph of `b` after the batch folded in `previous`, and the fold to pass with the next batch. */
function buildGraph(b: LinkBatch, previous: LinkFold | undefined): { graph: ServiceGraph; next: LinkFold } {
  const next = foldLinks(b, previous);
  return { graph: graphOf(next, previous), next };
}

describe('buildGraph', () => {
  it('makes one edge per client, server and port, showing the client view without adding the server view', () => {
    const { graph } = buildGraph(
      batch(T0 + 5000, [
        link(web, api, 8080, 'client', 100, 900),
        link(web, api, 8080, 'server', 100, 900),
        link(web, api, 8080, 'client', 10, 20, { networkType: 'ipv6' }),
        link(web, api, 8080, 'server', 10, 20, { networkType: 'ipv6' }),
        link(api, db, 5432, 'server', 7, 70, { connectionsFailed: 3 }),
      ]),
      undefined,
    );
    assert.deepEqual(
      graph.nodes.map((n) => n.id),
      ['Deployment/shop/api', 'Deployment/shop/web', 'StatefulSet/data/db'],
    );
    assert.equal(graph.edges.length, 2);
    const [first, second] = graph.edges;
    assert.equal(first?.id, 'Deployment/shop/api->StatefulSet/data/db:5432');
    assert.equal(first?.observer, 'server', 'a server-only edge shows the server view');
    assert.deepEqual(first?.observers, ['server']);
    assert.equal(first?.connectionsFailed, 3);
    assert.equal(second?.id, 'Deployment/shop/web->Deployment/shop/api:8080');
    assert.equal(second?.observer, 'client');
    assert.deepEqual(second?.observers, ['client', 'server']);
    assert.deepEqual(second?.networkTypes, ['ipv4', 'ipv6']);
    assert.equal(second?.bytesClientToServer, 110, 'IPv4 + IPv6 of the client view, server view not added');
    assert.equal(second?.bytesServerToClient, 920);
    assert.equal(second?.connectionsOpened, 4);
    assert.equal(second?.bytesPerSecond, null, 'no rate from a single batch');
    const apiNode = graph.nodes[0];
    assert.equal(apiNode?.bytesSent, 920 + 7, 'api sent its answers to web and its queries to db');
    assert.equal(apiNode?.bytesReceived, 110 + 70);
    assert.equal(apiNode?.edgesIn, 1);
    assert.equal(apiNode?.edgesOut, 1);
    assert.equal(graph.links, 5);
  });

  it('computes bytes per second from the last two batches, per direction', () => {
    const first = buildGraph(batch(T0 + 5000, [link(web, api, 80, 'client', 1000, 5000)]), undefined);
    const second = buildGraph(
      batch(T0 + 7000, [link(web, api, 80, 'client', 3000, 6000), link(api, db, 5432, 'client', 400, 800)]),
      first.next,
    );
    assert.equal(second.graph.intervalMs, 2000);
    const [toDb, toApi] = second.graph.edges;
    assert.equal(toApi?.bytesPerSecondClientToServer, 1000);
    assert.equal(toApi?.bytesPerSecondServerToClient, 500);
    assert.equal(toApi?.bytesPerSecond, 1500);
    assert.equal(toDb?.bytesPerSecond, 600, 'a new edge counted from zero over the interval');
    const apiNode = second.graph.nodes.find((n) => n.name === 'api');
    assert.equal(apiNode?.bytesPerSecond, 2100, 'a node carries the rates of all its edges');
    const third = buildGraph(batch(T0 + 9000, [link(web, api, 80, 'client', 10, 10)]), second.next);
    assert.equal(third.graph.edges[0]?.bytesPerSecond, 0, 'a counter that went down (reset) is no traffic');
  });

  it('does not count a switch from the server view to the client view as traffic', () => {
    const first = buildGraph(batch(T0 + 5000, [link(web, api, 80, 'server', 1000, 1000)]), undefined);
    const second = buildGraph(
      batch(T0 + 6000, [link(web, api, 80, 'server', 1000, 1000), link(web, api, 80, 'client', 900, 900)]),
      first.next,
    );
    assert.equal(second.graph.edges[0]?.observer, 'client');
    assert.equal(second.graph.edges[0]?.bytesPerSecond, 0);
  });
});

describe('foldLinks', () => {
  it('places a link by its ends, not by its id alone: an id seen before with other ends goes to their edge', () => {
    const first = foldLinks(batch(T0 + 5000, [link(web, api, 80, 'client', 10, 10, { id: 'a' })]));
    const renamed = { ...api, name: 'api-v2' };
    const second = foldLinks(
      batch(T0 + 6000, [link(web, renamed, 80, 'client', 20, 20, { id: 'a' })]),
      first,
    );
    assert.deepEqual([...second.edges.keys()], ['Deployment/shop/web->Deployment/shop/api-v2:80']);
    const moved = foldLinks(
      batch(T0 + 7000, [link(web, renamed, 81, 'client', 20, 20, { id: 'a' })]),
      second,
    );
    assert.deepEqual([...moved.edges.keys()], ['Deployment/shop/web->Deployment/shop/api-v2:81']);
    const graph = graphOf(moved, second);
    assert.deepEqual(
      graph.nodes.map((n) => n.name),
      ['api-v2', 'web'],
    );
    assert.equal(graph.edges[0]?.bytesPerSecond, 40, 'a new edge counted from zero over the interval');
  });

  it('keeps nothing of the batch: the ends are copied', () => {
    const client = { ...web };
    const first = foldLinks(batch(T0 + 5000, [link(client, api, 80, 'client', 10, 10, { id: 'a' })]));
    client.name = 'changed-after-the-batch';
    assert.equal(
      graphOf(first, undefined).nodes.find((n) => n.kind === 'Deployment' && n.name !== 'api')?.name,
      'web',
    );
  });
});

describe('viewGraph', () => {
  const { graph } = buildGraph(
    batch(T0, [
      link(web, api, 80, 'client', 100, 100),
      link(api, db, 5432, 'client', 50, 5000),
      link(api, ext, 443, 'client', 10, 10),
    ]),
    undefined,
  );
  const caps = { maxNodes: 100, maxEdges: 100 };

  it('shows everything without filters, with the namespaces and kinds for the menus', () => {
    const view = viewGraph(graph, {}, caps);
    assert.equal(view.nodes.length, 4);
    assert.equal(view.edges.length, 3);
    assert.equal(view.truncated, false);
    assert.deepEqual(view.namespaces, ['data', 'shop']);
    assert.deepEqual(view.kinds, ['Deployment', 'StatefulSet', 'external']);
  });

  it('keeps the edges with an end matching every filter, and recomputes node totals over them', () => {
    const byName = viewGraph(graph, { name: 'DB' }, caps);
    assert.deepEqual(
      byName.edges.map((e) => e.id),
      ['Deployment/shop/api->StatefulSet/data/db:5432'],
    );
    assert.deepEqual(byName.nodes.map((n) => n.name).sort(), ['api', 'db']);
    assert.equal(byName.nodes.find((n) => n.name === 'api')?.bytesSent, 50, 'only the shown edge counts');
    assert.deepEqual(byName.matched, { nodes: 2, edges: 1 });
    assert.deepEqual(byName.total, { nodes: 4, edges: 3 });
    const byNamespace = viewGraph(graph, { namespace: 'data' }, caps);
    assert.equal(byNamespace.edges.length, 1);
    const byKind = viewGraph(graph, { kind: 'external' }, caps);
    assert.deepEqual(
      byKind.nodes.map((n) => n.name),
      ['api', 'api.example.com'],
    );
    const both = viewGraph(graph, { namespace: 'shop', kind: 'StatefulSet' }, caps);
    assert.equal(both.edges.length, 0, 'no node is in shop and a StatefulSet');
    assert.equal(
      graph.nodes.find((n) => n.name === 'api')?.bytesSent,
      100 + 50 + 10,
      'the graph is untouched',
    );
  });

  it('caps edges and nodes, keeping the busiest, and says so', () => {
    const view = viewGraph(graph, {}, { maxNodes: 100, maxEdges: 1 });
    assert.equal(view.truncated, true);
    assert.deepEqual(
      view.edges.map((e) => e.serverPort),
      [5432],
      'the edge with the most bytes',
    );
    assert.deepEqual(view.matched, { nodes: 4, edges: 3 });
    const fewNodes = viewGraph(graph, {}, { maxNodes: 3, maxEdges: 100 });
    assert.equal(fewNodes.truncated, true);
    assert.ok(fewNodes.nodes.length <= 3);
    for (const e of fewNodes.edges) {
      assert.ok(
        fewNodes.nodes.some((n) => n.id === e.source) && fewNodes.nodes.some((n) => n.id === e.target),
      );
    }
  });
});

describe('formatting', () => {
  it('formats bytes in SI units and rates', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1000), '1.00 kB');
    assert.equal(formatBytes(310_537), '311 kB');
    assert.equal(formatBytes(12_345_678), '12.3 MB');
    assert.equal(formatBytes(5e15), '5.00 PB');
    assert.equal(formatRate(null), 'n/a');
    assert.equal(formatRate(1500), '1.50 kB/s');
  });
});
