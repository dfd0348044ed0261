/**
 * The graph in the shape of Grafana's "Node Graph API" data source plugin
 * (hamedkarbasi93-nodegraphapi-datasource, the one k8spacket serves):
 * `GET /api/graph/fields` describes the columns, `GET /api/graph/data` gives
 * the rows, `GET /api/health` answers 200. Field names follow Grafana's node
 * graph data frame: nodes `id`, `title`, `subTitle`, `mainStat`,
 * `secondaryStat`, `arc__*` (fractions that add up to 1 per node), `detail__*`;
 * edges `id`, `source`, `target`, `mainStat`, `secondaryStat`, `detail__*`.
 */
import type { GraphEdge, GraphNode, GraphView } from './graph.ts';
import { formatBytes, formatRate } from './graph.ts';

export interface FieldDefinition {
  field_name: string;
  type: 'string' | 'number';
  displayName?: string;
  color?: string;
}

export interface NodeGraphFields {
  nodes_fields: FieldDefinition[];
  edges_fields: FieldDefinition[];
}

export type NodeGraphRow = Record<string, string | number>;

export interface NodeGraphData {
  nodes: NodeGraphRow[];
  edges: NodeGraphRow[];
}

export const NODE_GRAPH_FIELDS: NodeGraphFields = {
  nodes_fields: [
    { field_name: 'id', type: 'string' },
    { field_name: 'title', type: 'string' },
    { field_name: 'subTitle', type: 'string' },
    { field_name: 'mainStat', type: 'string', displayName: 'Throughput' },
    { field_name: 'secondaryStat', type: 'string', displayName: 'Total bytes' },
    {
      field_name: 'arc__established',
      type: 'number',
      color: 'green',
      displayName: 'Connections established',
    },
    { field_name: 'arc__failed', type: 'number', color: 'red', displayName: 'Connections failed' },
    { field_name: 'detail__kind', type: 'string', displayName: 'Kind' },
    { field_name: 'detail__namespace', type: 'string', displayName: 'Namespace' },
    { field_name: 'detail__bytes_per_second', type: 'number', displayName: 'Bytes/s' },
    { field_name: 'detail__bytes_sent', type: 'number', displayName: 'Bytes sent' },
    { field_name: 'detail__bytes_received', type: 'number', displayName: 'Bytes received' },
    { field_name: 'detail__connections_opened', type: 'number', displayName: 'Connections opened' },
    { field_name: 'detail__connections_active', type: 'number', displayName: 'Active connections' },
    { field_name: 'detail__connections_failed', type: 'number', displayName: 'Failed connections' },
  ],
  edges_fields: [
    { field_name: 'id', type: 'string' },
    { field_name: 'source', type: 'string' },
    { field_name: 'target', type: 'string' },
    { field_name: 'mainStat', type: 'string', displayName: 'Throughput' },
    { field_name: 'secondaryStat', type: 'string', displayName: 'Total bytes and connections' },
    { field_name: 'detail__server_port', type: 'number', displayName: 'Server port' },
    { field_name: 'detail__observer', type: 'string', displayName: 'Counted by' },
    { field_name: 'detail__bytes_per_second', type: 'number', displayName: 'Bytes/s' },
    { field_name: 'detail__bytes_client_to_server', type: 'number', displayName: 'Bytes client to server' },
    { field_name: 'detail__bytes_server_to_client', type: 'number', displayName: 'Bytes server to client' },
    { field_name: 'detail__connections_opened', type: 'number', displayName: 'Connections opened' },
    { field_name: 'detail__connections_active', type: 'number', displayName: 'Active connections' },
    { field_name: 'detail__connections_failed', type: 'number', displayName: 'Failed connections' },
    { field_name: 'detail__retransmitted_segments', type: 'number', displayName: 'Retransmitted segments' },
  ],
};

function subTitle(n: GraphNode): string {
  return n.namespace === '' ? n.kind : `${n.kind} · ${n.namespace}`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function nodeRow(n: GraphNode): NodeGraphRow {
  const failed = n.connectionsFailed;
  const attempts = n.connectionsOpened + failed;
  const failedShare = attempts === 0 ? 0 : failed / attempts;
  return {
    id: n.id,
    title: n.name,
    subTitle: subTitle(n),
    mainStat: formatRate(n.bytesPerSecond),
    secondaryStat: formatBytes(n.bytesSent + n.bytesReceived),
    arc__established: 1 - failedShare,
    arc__failed: failedShare,
    detail__kind: n.kind,
    detail__namespace: n.namespace,
    detail__bytes_per_second: n.bytesPerSecond ?? 0,
    detail__bytes_sent: n.bytesSent,
    detail__bytes_received: n.bytesReceived,
    detail__connections_opened: n.connectionsOpened,
    detail__connections_active: n.connectionsActive,
    detail__connections_failed: n.connectionsFailed,
  };
}

function edgeRow(e: GraphEdge): NodeGraphRow {
  return {
    id: e.id,
    source: e.source,
    target: e.target,
    mainStat: formatRate(e.bytesPerSecond),
    secondaryStat: `${formatBytes(e.bytesClientToServer + e.bytesServerToClient)} · ${plural(e.connectionsOpened, 'conn')}`,
    detail__server_port: e.serverPort,
    detail__observer: e.observer,
    detail__bytes_per_second: e.bytesPerSecond ?? 0,
    detail__bytes_client_to_server: e.bytesClientToServer,
    detail__bytes_server_to_client: e.bytesServerToClient,
    detail__connections_opened: e.connectionsOpened,
    detail__connections_active: e.connectionsActive,
    detail__connections_failed: e.connectionsFailed,
    detail__retransmitted_segments: e.retransSegs,
  };
}

export function nodeGraphData(view: GraphView): NodeGraphData {
  return { nodes: view.nodes.map(nodeRow), edges: view.edges.map(edgeRow) };
}
