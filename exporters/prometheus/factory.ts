/**
 * The `prometheus` exporter: serves the latest batch of links (and the agent's
 * self-telemetry) on a scrape endpoint, as Prometheus text 0.0.4 or OpenMetrics
 * 1.0 by content negotiation, plus `/healthz` and `/readyz` for the DaemonSet's
 * probes. The exposition is built at scrape time from the latest batch, so a
 * link that expired upstream disappears at the next scrape.
 */
import { once } from 'node:events';
import http from 'node:http';
import zlib from 'node:zlib';
import type { Component, CreateSettings, ExporterFactory, Host } from '../../core/component.ts';
import type { LinkBatch } from '../../core/signals.ts';
import type { Counter, Gauge, Histogram } from '../../core/telemetry.ts';
import { ENDPOINT_PATTERN, boundAddress, closeServer, listen } from '../common/http-server.ts';
import { CONTENT_TYPES, ChunkPool, negotiateFormat } from './exposition.ts';
import type { ExpositionFormat } from './exposition.ts';
import { streamExposition } from './serialize.ts';
import type { ExpositionStats } from './serialize.ts';

export interface PrometheusExporterConfig {
  /** `host:port` to listen on; an empty host listens on every interface. */
  endpoint: string;
  /** Also serve `caretta_links_observed`. */
  caretta_compatible: boolean;
  /** Serve the agent's self-telemetry beside the links. */
  include_self_telemetry: boolean;
  /** Longest label value served (UTF-16 code units); 0 = no limit. */
  max_label_value_length: number;
  /** gzip the exposition when the scraper accepts it. */
  compression: 'gzip' | 'none';
  /** Write `_created` samples in OpenMetrics. */
  openmetrics_created: boolean;
}

/** Scrapes served at once; more get 503 so memory stays bounded (each holds one exposition). */
export const MAX_CONCURRENT_SCRAPES = 4;

const SCRAPE_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The running exporter. */
export class PrometheusExporter implements Component {
  private readonly settings: CreateSettings;
  private readonly config: PrometheusExporterConfig;
  private server: http.Server | undefined;
  private latest: LinkBatch | undefined;
  private inFlight = 0;
  private stopped = false;
  /** Buffers reused from one chunk, and one scrape, to the next. */
  private readonly pool = new ChunkPool();
  private readonly scrapes: Counter;
  private readonly scrapeErrors: Counter;
  private readonly scrapeDuration: Histogram;
  private readonly scrapeSamples: Gauge;
  private readonly truncated: Counter;
  private readonly batches: Counter;

  constructor(settings: CreateSettings, config: PrometheusExporterConfig) {
    const max = config.max_label_value_length;
    if (max !== 0 && max < 16) {
      throw new Error(`max_label_value_length must be 0 (no limit) or at least 16, got ${max}`);
    }
    this.settings = settings;
    this.config = config;
    const t = settings.telemetry;
    this.scrapes = t.counter('loggerhead.exporter.prometheus.scrapes', {
      description: 'Scrapes of /metrics served, by format (text or openmetrics).',
      unit: '{scrape}',
    });
    this.scrapeErrors = t.counter('loggerhead.exporter.prometheus.scrape.errors', {
      description:
        'Scrapes of /metrics not served in full, by reason (busy: too many at once; client_closed: the scraper went away).',
      unit: '{scrape}',
    });
    this.scrapeDuration = t.histogram('loggerhead.exporter.prometheus.scrape.duration', {
      description: 'Time to serialise and send one exposition.',
      unit: 's',
      boundaries: SCRAPE_BUCKETS_S,
    });
    this.scrapeSamples = t.gauge('loggerhead.exporter.prometheus.scrape.samples', {
      description: 'Sample lines in the last exposition served.',
      unit: '{sample}',
    });
    this.truncated = t.counter('loggerhead.exporter.prometheus.label_values.truncated', {
      description: 'Label values cut to max_label_value_length, counted per scrape.',
      unit: '{value}',
    });
    this.batches = t.counter('loggerhead.exporter.prometheus.batches', {
      description: 'Batches of links received; each replaces the previous one.',
      unit: '{batch}',
    });
  }

  /** The address actually bound (useful with port 0), once started. */
  get boundEndpoint(): { host: string; port: number } | undefined {
    return boundAddress(this.server);
  }

  async start(_host: Host): Promise<void> {
    if (this.stopped) throw new Error('prometheus exporter: start after shutdown');
    if (this.server !== undefined) return;
    const server = http.createServer((req, res) => this.handle(req, res));
    this.server = server;
    await listen(server, this.config.endpoint, 'prometheus exporter').catch((error: unknown) => {
      this.server = undefined;
      throw error;
    });
    const bound = this.boundEndpoint;
    this.settings.logger.info('serving metrics', {
      endpoint: this.config.endpoint,
      port: bound?.port,
      caretta_compatible: this.config.caretta_compatible,
    });
  }

  async consume(batch: LinkBatch): Promise<void> {
    if (this.stopped) throw new Error('prometheus exporter is shut down');
    this.latest = batch;
    this.batches.add(1);
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    const server = this.server;
    this.server = undefined;
    this.latest = undefined;
    if (server === undefined) return;
    await closeServer(server);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    switch (path) {
      case '/metrics':
        this.scrape(req, res).catch((error: unknown) => {
          this.settings.logger.warn('scrape failed', { error });
          if (!res.headersSent) res.writeHead(500);
          res.destroy();
        });
        return;
      case '/healthz':
        plain(res, 200, 'ok\n');
        return;
      case '/readyz':
        if (this.latest !== undefined) plain(res, 200, 'ready\n');
        else plain(res, 503, 'not ready: no batch of links received yet\n');
        return;
      default:
        plain(res, 404, 'not found: this endpoint serves /metrics, /healthz and /readyz\n');
    }
  }

  private async scrape(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.inFlight >= MAX_CONCURRENT_SCRAPES) {
      this.scrapeErrors.add(1, { reason: 'busy' });
      res.setHeader('Retry-After', '1');
      plain(res, 503, `too many concurrent scrapes (at most ${MAX_CONCURRENT_SCRAPES})\n`);
      return;
    }
    this.inFlight++;
    const started = performance.now();
    try {
      const format: ExpositionFormat = negotiateFormat(req.headers.accept);
      const gzip = this.config.compression === 'gzip' && acceptsGzip(req.headers['accept-encoding']);
      const headers: http.OutgoingHttpHeaders = {
        'Content-Type': CONTENT_TYPES[format],
        Vary: 'Accept, Accept-Encoding',
      };
      if (gzip) headers['Content-Encoding'] = 'gzip';
      res.writeHead(200, headers);
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const stream = streamExposition(
        this.latest,
        this.config.include_self_telemetry ? this.settings.telemetry.collect() : [],
        {
          format,
          maxLabelValueLength: this.config.max_label_value_length,
          carettaCompatible: this.config.caretta_compatible,
          createdLines: this.config.openmetrics_created,
          pool: this.pool,
        },
      );
      const stats = await send(res, stream, gzip, this.pool);
      if (stats === undefined) {
        this.scrapeErrors.add(1, { reason: 'client_closed' });
        return;
      }
      this.scrapes.add(1, { format });
      this.scrapeSamples.set(stats.samples);
      if (stats.truncatedLabelValues > 0) this.truncated.add(stats.truncatedLabelValues);
    } finally {
      this.inFlight--;
      this.scrapeDuration.record((performance.now() - started) / 1000);
    }
  }
}

function plain(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
}

function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/**
 * Sends an exposition chunk by chunk as `stream` makes them, waiting for the
 * client when its buffers are full; each chunk goes back to `pool` once written.
 * Resolves with the stats, or undefined if the client went away first.
 */
async function send(
  res: http.ServerResponse,
  stream: Generator<Buffer, ExpositionStats>,
  gzip: boolean,
  pool: ChunkPool,
): Promise<ExpositionStats | undefined> {
  const closed = once(res, 'close').then(() => false);
  const out: NodeJS.WritableStream = gzip ? zlib.createGzip({ level: 1 }) : res;
  if (gzip) (out as zlib.Gzip).pipe(res);
  const abandon = (): undefined => {
    if (gzip) (out as zlib.Gzip).destroy();
    return undefined;
  };
  for (;;) {
    const next = stream.next();
    if (next.done === true) {
      out.end();
      await closed;
      return res.writableFinished ? next.value : undefined;
    }
    const chunk = next.value;
    if (res.destroyed) return abandon();
    if (!out.write(chunk, () => pool.give([chunk]))) {
      const drained = await Promise.race([once(out as zlib.Gzip, 'drain').then(() => true), closed]);
      if (!drained) return abandon();
    }
  }
}

export const prometheusExporterFactory: ExporterFactory<PrometheusExporterConfig, 'links'> = {
  kind: 'exporter',
  type: 'prometheus',
  stability: 'beta',
  description:
    'Serves the links and self-telemetry on a Prometheus scrape endpoint (text 0.0.4 / OpenMetrics 1.0), optionally Caretta-compatible',
  input: 'links',
  configSchema: {
    type: 'object',
    description: 'prometheus exporter settings',
    fields: {
      endpoint: {
        type: 'string',
        description: 'host:port to serve /metrics, /healthz and /readyz on (":9464" = every interface)',
        default: '127.0.0.1:9464',
        pattern: ENDPOINT_PATTERN,
        patternName: 'host:port with a port of 0-65535 (e.g. 0.0.0.0:9464, [::]:9464, :9464)',
      },
      caretta_compatible: {
        type: 'boolean',
        description: "also serve caretta_links_observed, so Caretta's Grafana dashboard works unchanged",
        default: false,
      },
      include_self_telemetry: {
        type: 'boolean',
        description: "serve the agent's own metrics (polls, drops, scrapes...) beside the links",
        default: true,
      },
      max_label_value_length: {
        type: 'integer',
        description:
          'longest label value served (0 = no limit, else at least 16); longer ones are cut and end with ~ and 8 hex digits of a hash of the whole value',
        default: 1024,
        min: 0,
      },
      compression: {
        type: 'string',
        description: 'gzip the exposition when the scraper sends Accept-Encoding: gzip',
        enum: ['gzip', 'none'],
        default: 'gzip',
      },
      openmetrics_created: {
        type: 'boolean',
        description:
          'in OpenMetrics, write a _created sample (the start time) per counter series; Prometheus before 2.50 stores each as a series of its own',
        default: true,
      },
    },
  },
  create: (settings, config) => new PrometheusExporter(settings, config),
};
