/** Factory of the `servicemap` exporter: the built-in service map page and its JSON API. */
import type { ExporterFactory } from '../../core/component.ts';
import { ENDPOINT_PATTERN } from '../common/http-server.ts';
import type { ServiceMapExporterConfig } from './exporter.ts';
import { ServiceMapExporter } from './exporter.ts';

export const servicemapExporterFactory: ExporterFactory<ServiceMapExporterConfig, 'links'> = {
  kind: 'exporter',
  type: 'servicemap',
  stability: 'alpha',
  description:
    'Serves a live service map page and its JSON API (also readable by Grafana’s Node Graph API data source)',
  input: 'links',
  configSchema: {
    type: 'object',
    description: 'servicemap exporter settings',
    fields: {
      endpoint: {
        type: 'string',
        description:
          'host:port to serve the page, /api/graph and the Node Graph API endpoints on (":9465" = every interface)',
        default: '127.0.0.1:9465',
        pattern: ENDPOINT_PATTERN,
        patternName: 'host:port with a port of 0-65535 (e.g. 127.0.0.1:9465, [::1]:9465, :9465)',
      },
      max_nodes: {
        type: 'integer',
        description:
          'most nodes in one response; beyond it the busiest edges are kept and "truncated" is true',
        default: 500,
        min: 1,
        max: 100_000,
      },
      max_edges: {
        type: 'integer',
        description: 'most edges in one response; beyond it the busiest are kept and "truncated" is true',
        default: 2000,
        min: 1,
        max: 1_000_000,
      },
      refresh_interval: {
        type: 'duration',
        description: 'how often the page fetches the graph again',
        default: '2s',
        minMs: 250,
        maxMs: 3_600_000,
      },
      summary: {
        type: 'string',
        description:
          'log one summary line per batch (sockets, links, nodes, edges, throughput): auto = when stderr is a terminal',
        enum: ['auto', 'always', 'never'],
        default: 'auto',
      },
    },
  },
  create: (settings, config) => new ServiceMapExporter(settings, config, process.stderr.isTTY === true),
};
