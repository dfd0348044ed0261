/**
 * The Grafana dashboards shipped in deploy/, built from one set of PromQL
 * fragments so that every panel deduplicates links the same way.
 *
 * Run `npx node deploy/dashboards/dashboards.ts` to rewrite the JSON files in
 * deploy/kustomize/components/dashboards/ and deploy/helm/loggerhead/dashboards/
 * (kustomize reads files only under its own tree, Helm only inside the chart);
 * a test fails when the committed files differ from what this builds.
 *
 * Deduplication: a connection between two workloads whose sockets are both on
 * watched nodes is counted by both ends, once per `link_observer`. Bytes,
 * connections and active connections are the same quantity seen from either
 * end, so the panels take the larger of the two observers' sums per link
 * (exact when both see it, and right when only one end is watched, e.g. an
 * external client). Retransmitted segments are each socket's own, so they are
 * summed over observers.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Labels that identify one link, except the observer. */
export const LINK_KEY = [
  'client_workload_name',
  'client_workload_kind',
  'client_k8s_namespace_name',
  'server_workload_name',
  'server_workload_kind',
  'server_k8s_namespace_name',
  'server_port',
  'network_transport',
  'network_type',
] as const;

const KEY = LINK_KEY.join(', ');

/** The same selector twice, once per end, so a namespace filter keeps links that touch it at either end. */
function eitherEnd(fn: (selector: string) => string, metric: string, matchers: string): string {
  const extra = matchers === '' ? '' : `, ${matchers}`;
  return (
    `${fn(`${metric}{client_k8s_namespace_name=~"$namespace"${extra}}`)} or ` +
    `${fn(`${metric}{server_k8s_namespace_name=~"$namespace"${extra}}`)}`
  );
}

/** Per link (and `extraBy`), the larger observer's total of `fn(series)`. */
function perLinkMax(fn: (selector: string) => string, metric: string, matchers = '', extraBy = ''): string {
  const by = extraBy === '' ? KEY : `${KEY}, ${extraBy}`;
  return `max by (${by}) (sum by (${by}, link_observer) (${eitherEnd(fn, metric, matchers)}))`;
}

const overRange = (s: string): string => `increase(${s}[$__range])`;
const perSecond = (s: string): string => `rate(${s}[$__rate_interval])`;
const asIs = (s: string): string => s;

export const BYTES = 'loggerhead_link_bytes_total';
export const CONNECTIONS = 'loggerhead_link_connections_total';
export const ACTIVE = 'loggerhead_link_active_connections';
export const RETRANSMITS = 'loggerhead_link_retransmits_total';

/** PromQL of every query, by name; the dashboards and the tests use these. */
export const QUERIES = {
  /** Node Graph edges: one per (client, server) pair, mainstat = bytes both ways over the range. */
  mapEdges:
    `label_join(label_join(label_join(` +
    `sum by (client_k8s_namespace_name, client_workload_kind, client_workload_name, ` +
    `server_k8s_namespace_name, server_workload_kind, server_workload_name) ` +
    `(${perLinkMax(overRange, BYTES, '', 'direction')}), ` +
    `"source", "/", "client_k8s_namespace_name", "client_workload_kind", "client_workload_name"), ` +
    `"target", "/", "server_k8s_namespace_name", "server_workload_kind", "server_workload_name"), ` +
    `"id", " -> ", "source", "target")`,
  /** Node Graph nodes: every workload at either end, mainstat = bytes it sent and received over the range. */
  mapNodes: ((): string => {
    const side = (end: 'client' | 'server'): string =>
      `sum by (id, title, subtitle, detail__namespace) (` +
      `label_join(label_replace(label_replace(label_replace(` +
      `sum by (${end}_k8s_namespace_name, ${end}_workload_kind, ${end}_workload_name) ` +
      `(${perLinkMax(overRange, BYTES, '', 'direction')}), ` +
      `"title", "$1", "${end}_workload_name", "(.*)"), ` +
      `"subtitle", "$1", "${end}_workload_kind", "(.*)"), ` +
      `"detail__namespace", "$1", "${end}_k8s_namespace_name", "(.*)"), ` +
      `"id", "/", "${end}_k8s_namespace_name", "${end}_workload_kind", "${end}_workload_name"))`;
    const client = side('client');
    const server = side('server');
    return `(${client} + ${server}) or ${client} or ${server}`;
  })(),
  /** Every namespace at either end of a link (the `namespace` variable; Grafana keeps the `ns` values). */
  namespaces:
    `count by (ns) (label_replace(${BYTES}, "ns", "$1", "client_k8s_namespace_name", "(.+)") or ` +
    `label_replace(${BYTES}, "ns", "$1", "server_k8s_namespace_name", "(.+)"))`,
  /** Top links by bytes over the range, both directions. */
  topLinks:
    `topk(20, sum by (client_k8s_namespace_name, client_workload_name, server_k8s_namespace_name, ` +
    `server_workload_name, server_port) (${perLinkMax(overRange, BYTES, '', 'direction')}))`,
  /** Bytes per second per link, both directions, the ten busiest. */
  linkThroughput:
    `topk(10, sum by (client_workload_name, server_workload_name, server_port) ` +
    `(${perLinkMax(perSecond, BYTES, '', 'direction')}))`,
  /** Bytes each client workload sent to servers over the range. */
  topClients:
    `topk(10, sum by (client_k8s_namespace_name, client_workload_name) ` +
    `(${perLinkMax(overRange, BYTES, 'direction="client_to_server"', 'direction')}))`,
  /** Bytes each server workload sent back to clients over the range. */
  topServers:
    `topk(10, sum by (server_k8s_namespace_name, server_workload_name) ` +
    `(${perLinkMax(overRange, BYTES, 'direction="server_to_client"', 'direction')}))`,
  /** Connections open now, every link. */
  activeTotal: `sum(${perLinkMax(asIs, ACTIVE)})`,
  /** Failed connection attempts over the range, every link. */
  failedTotal: `sum(${perLinkMax(overRange, CONNECTIONS, 'event="failed"', 'event')})`,
  /** Connections opened over the range, every link. */
  openedTotal: `sum(${perLinkMax(overRange, CONNECTIONS, 'event="opened"', 'event')})`,
  /** Retransmitted segments over the range, every link (each observer's own sockets: summed). */
  retransmitsTotal: `sum(${eitherEnd(overRange, RETRANSMITS, '')})`,
  /** Connections open now per link. */
  activeByLink:
    `topk(10, sum by (client_workload_name, server_workload_name, server_port) ` +
    `(${perLinkMax(asIs, ACTIVE)}))`,
  /** Connections opened per second per link. */
  openedRateByLink:
    `topk(10, sum by (client_workload_name, server_workload_name, server_port) ` +
    `(${perLinkMax(perSecond, CONNECTIONS, 'event="opened"', 'event')}))`,
  /** Failed connection attempts per second per link. */
  failedRateByLink:
    `sum by (client_workload_name, server_workload_name, server_port) ` +
    `(${perLinkMax(perSecond, CONNECTIONS, 'event="failed"', 'event')}) > 0`,
  /** Links with failed attempts over the range. */
  failingLinks:
    `sum by (client_k8s_namespace_name, client_workload_name, server_k8s_namespace_name, ` +
    `server_workload_name, server_port) (${perLinkMax(overRange, CONNECTIONS, 'event="failed"', 'event')}) > 0`,
  /** Retransmitted segments per second per link. */
  retransmitRateByLink:
    `sum by (client_workload_name, server_workload_name, server_port) ` +
    `(${eitherEnd(perSecond, RETRANSMITS, '')}) > 0`,
} as const;

export type QueryName = keyof typeof QUERIES;

const QUERIES_NAMESPACES = QUERIES.namespaces;

interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Target {
  query: QueryName;
  refId: string;
  /** Instant table query (Node Graph, tables, stats) or a range query (time series). */
  instant: boolean;
  legendFormat?: string;
}

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

function target(t: Target): Record<string, unknown> {
  return {
    datasource: DATASOURCE,
    refId: t.refId,
    expr: QUERIES[t.query],
    instant: t.instant,
    range: !t.instant,
    format: t.instant ? 'table' : 'time_series',
    legendFormat: t.legendFormat ?? '',
  };
}

interface PanelSpec {
  type: 'nodeGraph' | 'table' | 'timeseries' | 'stat' | 'bargauge';
  title: string;
  description: string;
  gridPos: GridPos;
  targets: Target[];
  unit?: string;
  transformations?: unknown[];
  options?: Record<string, unknown>;
}

function panel(id: number, p: PanelSpec): Record<string, unknown> {
  return {
    id,
    type: p.type,
    title: p.title,
    description: p.description,
    datasource: DATASOURCE,
    gridPos: p.gridPos,
    targets: p.targets.map(target),
    fieldConfig: { defaults: p.unit === undefined ? {} : { unit: p.unit }, overrides: [] },
    options: p.options ?? {},
    transformations: p.transformations ?? [],
  };
}

const LINK_LEGEND = '{{client_workload_name}} → {{server_workload_name}}:{{server_port}}';

function dashboard(
  uid: string,
  title: string,
  description: string,
  panels: PanelSpec[],
): Record<string, unknown> {
  return {
    uid,
    title,
    description,
    tags: ['loggerhead', 'network'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    timezone: 'browser',
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
        },
        {
          name: 'namespace',
          label: 'Namespace (either end)',
          type: 'query',
          datasource: DATASOURCE,
          query: { query: `query_result(${QUERIES_NAMESPACES})`, refId: 'namespace' },
          definition: `query_result(${QUERIES_NAMESPACES})`,
          regex: '/ns="([^"]+)"/',
          refresh: 2,
          multi: true,
          includeAll: true,
          allValue: '.*',
          current: { text: 'All', value: '$__all' },
          sort: 1,
          hide: 0,
        },
      ],
    },
    annotations: { list: [] },
    links: [],
    panels: panels.map((p, i) => panel(i + 1, p)),
  };
}

/** Node Graph field names, from the Prometheus table columns. */
const NODE_GRAPH_FIELDS = {
  id: 'organize',
  options: {
    excludeByName: { Time: true },
    renameByName: { 'Value #nodes': 'mainstat', 'Value #edges': 'mainstat' },
  },
};

export const DASHBOARDS: Readonly<Record<string, Record<string, unknown>>> = {
  'loggerhead-service-map.json': dashboard(
    'loggerhead-service-map',
    'loggerhead / Service map',
    'Who talks to whom: workloads, Services, nodes and externals, with the bytes exchanged over the selected range.',
    [
      {
        type: 'nodeGraph',
        title: 'Service map',
        description:
          'Nodes are workloads, Services, nodes and externals (title: name, subtitle: kind; the namespace is in the details); an edge goes from client to server. Main stat: bytes both ways over the range, counted once per link.',
        gridPos: { x: 0, y: 0, w: 24, h: 20 },
        targets: [
          { query: 'mapNodes', refId: 'nodes', instant: true },
          { query: 'mapEdges', refId: 'edges', instant: true },
        ],
        unit: 'bytes',
        transformations: [NODE_GRAPH_FIELDS],
        options: { nodes: { mainStatUnit: 'bytes' }, edges: { mainStatUnit: 'bytes' } },
      },
      {
        type: 'table',
        title: 'Links by bytes',
        description: 'The 20 links that exchanged the most bytes (both ways) over the range.',
        gridPos: { x: 0, y: 20, w: 24, h: 10 },
        targets: [{ query: 'topLinks', refId: 'A', instant: true }],
        unit: 'bytes',
        transformations: [{ id: 'organize', options: { excludeByName: { Time: true } } }],
      },
    ],
  ),
  'loggerhead-top-talkers.json': dashboard(
    'loggerhead-top-talkers',
    'loggerhead / Top talkers',
    'The busiest links, clients and servers.',
    [
      {
        type: 'timeseries',
        title: 'Throughput by link (top 10)',
        description: 'Bytes per second, both directions, per client → server:port.',
        gridPos: { x: 0, y: 0, w: 24, h: 9 },
        targets: [{ query: 'linkThroughput', refId: 'A', instant: false, legendFormat: LINK_LEGEND }],
        unit: 'Bps',
      },
      {
        type: 'bargauge',
        title: 'Top clients (bytes sent)',
        description: 'Bytes each client workload sent to its servers over the range.',
        gridPos: { x: 0, y: 9, w: 12, h: 9 },
        targets: [
          {
            query: 'topClients',
            refId: 'A',
            instant: true,
            legendFormat: '{{client_k8s_namespace_name}}/{{client_workload_name}}',
          },
        ],
        unit: 'bytes',
        options: { orientation: 'horizontal', displayMode: 'gradient' },
      },
      {
        type: 'bargauge',
        title: 'Top servers (bytes sent back)',
        description: 'Bytes each server workload sent back to its clients over the range.',
        gridPos: { x: 12, y: 9, w: 12, h: 9 },
        targets: [
          {
            query: 'topServers',
            refId: 'A',
            instant: true,
            legendFormat: '{{server_k8s_namespace_name}}/{{server_workload_name}}',
          },
        ],
        unit: 'bytes',
        options: { orientation: 'horizontal', displayMode: 'gradient' },
      },
      {
        type: 'table',
        title: 'Links by bytes',
        description: 'The 20 links that exchanged the most bytes (both ways) over the range.',
        gridPos: { x: 0, y: 18, w: 24, h: 10 },
        targets: [{ query: 'topLinks', refId: 'A', instant: true }],
        unit: 'bytes',
        transformations: [{ id: 'organize', options: { excludeByName: { Time: true } } }],
      },
    ],
  ),
  'loggerhead-connection-health.json': dashboard(
    'loggerhead-connection-health',
    'loggerhead / Connection health',
    'Active, opened and failed connections and retransmissions per link.',
    [
      {
        type: 'stat',
        title: 'Active connections',
        description: 'TCP connections open now, every link.',
        gridPos: { x: 0, y: 0, w: 6, h: 5 },
        targets: [{ query: 'activeTotal', refId: 'A', instant: true }],
        unit: 'short',
      },
      {
        type: 'stat',
        title: 'Connections opened',
        description: 'Connections established over the range.',
        gridPos: { x: 6, y: 0, w: 6, h: 5 },
        targets: [{ query: 'openedTotal', refId: 'A', instant: true }],
        unit: 'short',
      },
      {
        type: 'stat',
        title: 'Failed connection attempts',
        description: 'Connects that never reached ESTABLISHED (refused, timed out, reset) over the range.',
        gridPos: { x: 12, y: 0, w: 6, h: 5 },
        targets: [{ query: 'failedTotal', refId: 'A', instant: true }],
        unit: 'short',
      },
      {
        type: 'stat',
        title: 'Retransmitted segments',
        description: 'Segments retransmitted by the watched sockets over the range.',
        gridPos: { x: 18, y: 0, w: 6, h: 5 },
        targets: [{ query: 'retransmitsTotal', refId: 'A', instant: true }],
        unit: 'short',
      },
      {
        type: 'timeseries',
        title: 'Active connections by link (top 10)',
        description: 'Connections open per client → server:port.',
        gridPos: { x: 0, y: 5, w: 12, h: 9 },
        targets: [{ query: 'activeByLink', refId: 'A', instant: false, legendFormat: LINK_LEGEND }],
        unit: 'short',
      },
      {
        type: 'timeseries',
        title: 'Connections opened per second (top 10)',
        description: 'New connections per second per client → server:port.',
        gridPos: { x: 12, y: 5, w: 12, h: 9 },
        targets: [{ query: 'openedRateByLink', refId: 'A', instant: false, legendFormat: LINK_LEGEND }],
        unit: 'cps',
      },
      {
        type: 'timeseries',
        title: 'Failed connection attempts per second',
        description: 'Failed connects per second, links with failures only.',
        gridPos: { x: 0, y: 14, w: 12, h: 9 },
        targets: [{ query: 'failedRateByLink', refId: 'A', instant: false, legendFormat: LINK_LEGEND }],
        unit: 'cps',
      },
      {
        type: 'timeseries',
        title: 'Retransmitted segments per second',
        description: 'Retransmissions per second, links with retransmissions only.',
        gridPos: { x: 12, y: 14, w: 12, h: 9 },
        targets: [{ query: 'retransmitRateByLink', refId: 'A', instant: false, legendFormat: LINK_LEGEND }],
        unit: 'short',
      },
      {
        type: 'table',
        title: 'Links with failed connection attempts',
        description: 'Failed connects over the range, per link.',
        gridPos: { x: 0, y: 23, w: 24, h: 8 },
        targets: [{ query: 'failingLinks', refId: 'A', instant: true }],
        unit: 'short',
        transformations: [{ id: 'organize', options: { excludeByName: { Time: true } } }],
      },
    ],
  ),
};

/** Where the JSON files live: the kustomize component and the Helm chart each hold a copy. */
export const DASHBOARD_DIRS = [
  join(import.meta.dirname, '..', 'kustomize', 'components', 'dashboards'),
  join(import.meta.dirname, '..', 'helm', 'loggerhead', 'dashboards'),
] as const;

/** The file text of one dashboard, as committed. */
export function dashboardText(file: string): string {
  const d = DASHBOARDS[file];
  if (d === undefined) throw new Error(`no dashboard named ${file}`);
  return `${JSON.stringify(d, null, 2)}\n`;
}

if (import.meta.main) {
  for (const dir of DASHBOARD_DIRS) {
    for (const file of Object.keys(DASHBOARDS)) writeFileSync(join(dir, file), dashboardText(file));
  }
}
