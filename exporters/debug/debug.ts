/**
 * The `debug` exporter: logs what reaches the end of a pipeline, like the
 * Collector's debug exporter. `basic` writes one summary line per batch;
 * `detailed` adds one line per link.
 */
import type { Component, CreateSettings, ExporterFactory } from '../../core/component.ts';
import type { Identity, LinkBatch } from '../../core/signals.ts';

export interface DebugExporterConfig {
  verbosity: 'basic' | 'detailed';
}

function describe(identity: Identity): string {
  const ns = identity.namespace === '' ? '' : `, ${identity.namespace}`;
  return `${identity.name} (${identity.kind}${ns})`;
}

/** Logs each batch of links it receives. */
export class DebugExporter implements Component {
  private readonly settings: CreateSettings;
  private readonly config: DebugExporterConfig;
  private stopped = false;

  constructor(settings: CreateSettings, config: DebugExporterConfig) {
    this.settings = settings;
    this.config = config;
  }

  async start(): Promise<void> {}

  async consume(batch: LinkBatch): Promise<void> {
    if (this.stopped) throw new Error('debug exporter is shut down');
    let clientToServer = 0;
    let serverToClient = 0;
    let active = 0;
    for (const link of batch.links) {
      clientToServer += link.bytesClientToServer;
      serverToClient += link.bytesServerToClient;
      active += link.activeConnections;
    }
    this.settings.logger.info('links', {
      links: batch.links.length,
      bytes: clientToServer + serverToClient,
      client_to_server_bytes: clientToServer,
      server_to_client_bytes: serverToClient,
      active_connections: active,
    });
    if (this.config.verbosity !== 'detailed') return;
    for (const link of batch.links) {
      this.settings.logger.info('link', {
        client: describe(link.client),
        server: describe(link.server),
        server_port: link.serverPort,
        network_type: link.networkType,
        observer: link.observer,
        client_to_server_bytes: link.bytesClientToServer,
        server_to_client_bytes: link.bytesServerToClient,
        connections_opened: link.connectionsOpened,
        connections_closed: link.connectionsClosed,
        connections_failed: link.connectionsFailed,
        active_connections: link.activeConnections,
        retransmitted_segments: link.retransSegs,
      });
    }
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
  }
}

export const debugExporterFactory: ExporterFactory<DebugExporterConfig, 'links'> = {
  kind: 'exporter',
  type: 'debug',
  stability: 'development',
  description: 'Logs a summary of every batch of links (and each link with verbosity: detailed)',
  input: 'links',
  configSchema: {
    type: 'object',
    description: 'debug exporter settings',
    fields: {
      verbosity: {
        type: 'string',
        description: 'basic: one line per batch (links, bytes); detailed: also one line per link',
        enum: ['basic', 'detailed'],
        default: 'basic',
      },
    },
  },
  create: (settings, config) => new DebugExporter(settings, config),
};
