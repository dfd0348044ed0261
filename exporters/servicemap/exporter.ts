/**
 * The `servicemap` exporter: a built-in service map. Its own HTTP server
 * serves the page (`/`, with its assets under `/assets/`), the JSON graph the
 * page draws (`/api/graph`), and the endpoints of Grafana's Node Graph API data
 * source (`/api/health`, `/api/graph/fields`, `/api/graph/data`).
 *
 * Each batch is folded into edge totals as it comes; the graph (nodes, edges,
 * rates from the last two batches) is built when a request first asks for it
 * after a batch, and each request filters and caps it. Requests are validated: an unknown query
 * parameter, a repeated one, an empty or oversized value, a wrong method or
 * path get a 4xx with a JSON `{"error": ...}` naming the cause.
 *
 * On a terminal (`summary: auto`) it logs one summary line per batch: sockets
 * tracked, links, nodes, edges and throughput.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Component, CreateSettings, Host } from '../../core/component.ts';
import type { LinkBatch } from '../../core/signals.ts';
import type { Counter } from '../../core/telemetry.ts';
import { boundAddress, closeServer, listen } from '../common/http-server.ts';
import type { GraphFilter, GraphView, LinkFold, ServiceGraph } from './graph.ts';
import { foldLinks, formatRate, graphOf, viewGraph } from './graph.ts';
import { NODE_GRAPH_FIELDS, nodeGraphData } from './nodegraph.ts';

export interface ServiceMapExporterConfig {
  /** `host:port` to listen on; an empty host listens on every interface. */
  endpoint: string;
  /** Most nodes in one response. */
  max_nodes: number;
  /** Most edges in one response. */
  max_edges: number;
  /** How often the page refreshes, ms. */
  refresh_interval: number;
  /** One summary log line per batch: `auto` = when stderr is a terminal. */
  summary: 'auto' | 'always' | 'never';
}

/** Query parameters of `/api/graph` and `/api/graph/data`. */
export const FILTER_PARAMETERS = ['namespace', 'kind', 'name'] as const;
/** Longest filter value: a DNS name (and a Kubernetes namespace) is at most 253 characters. */
export const MAX_FILTER_LENGTH = 253;
/** Longest request target accepted. */
export const MAX_URL_LENGTH = 2048;

interface Asset {
  body: Buffer;
  type: string;
}

const ASSET_FILES: ReadonlyArray<[string, string, string]> = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/assets/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/assets/style.css', 'style.css', 'text/css; charset=utf-8'],
  ['/assets/icon.svg', 'icon.svg', 'image/svg+xml'],
];

/**
 * The page's folder: beside this module when run from the sources; from the
 * compiled `dist/exporters/servicemap/`, the same folder of the package (tsc
 * copies only code).
 */
function pageDirectories(): string[] {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return [join(here, 'page'), join(here, '..', '..', '..', 'exporters', 'servicemap', 'page')];
}

function loadAssets(): Map<string, Asset> {
  const tried: string[] = [];
  for (const dir of pageDirectories()) {
    try {
      const assets = new Map<string, Asset>();
      for (const [path, file, type] of ASSET_FILES) {
        assets.set(path, { body: readFileSync(join(dir, file)), type });
      }
      return assets;
    } catch (error) {
      tried.push(`${dir} (${(error as Error).message})`);
    }
  }
  throw new Error(`servicemap exporter: the page's files are missing: tried ${tried.join('; ')}`);
}

/** A request the API refuses: status and message. */
class RequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Reads and validates the filter parameters of a request target. */
export function parseFilter(search: URLSearchParams): GraphFilter {
  const filter: GraphFilter = {};
  const seen = new Set<string>();
  for (const [key, value] of search) {
    if (!(FILTER_PARAMETERS as readonly string[]).includes(key)) {
      const shown = key.length > 40 ? `${key.slice(0, 40)}...` : key;
      throw new RequestError(
        400,
        `unknown query parameter "${shown}": accepted are ${FILTER_PARAMETERS.join(', ')}`,
      );
    }
    if (seen.has(key)) throw new RequestError(400, `query parameter "${key}" is given more than once`);
    seen.add(key);
    if (value === '') {
      throw new RequestError(400, `query parameter "${key}" is empty: leave it out to show everything`);
    }
    if (value.length > MAX_FILTER_LENGTH) {
      throw new RequestError(
        400,
        `query parameter "${key}" is ${value.length} characters long: at most ${MAX_FILTER_LENGTH}`,
      );
    }
    if (/\p{Cc}/u.test(value)) {
      throw new RequestError(400, `query parameter "${key}" contains control characters`);
    }
    filter[key as (typeof FILTER_PARAMETERS)[number]] = value;
  }
  return filter;
}

/** The running exporter. */
export class ServiceMapExporter implements Component {
  private readonly settings: CreateSettings;
  private readonly config: ServiceMapExporterConfig;
  private readonly summary: boolean;
  private server: http.Server | undefined;
  private assets: Map<string, Asset> | undefined;
  /** The last batch folded into edges, and the one before it (for the rates). */
  private fold: LinkFold | undefined;
  private previous: LinkFold | undefined;
  /** The graph of `fold`, once a request or the summary asked for it. */
  private graph: ServiceGraph | undefined;
  private stopped = false;
  private readonly requests: Counter;
  private readonly rejected: Counter;

  constructor(settings: CreateSettings, config: ServiceMapExporterConfig, stderrIsTTY: boolean) {
    this.settings = settings;
    this.config = config;
    this.summary = config.summary === 'always' || (config.summary === 'auto' && stderrIsTTY);
    const t = settings.telemetry;
    this.requests = t.counter('loggerhead.exporter.servicemap.requests', {
      description:
        'HTTP requests answered, by route (page, asset, graph, nodegraph, health) and status class.',
      unit: '{request}',
    });
    this.rejected = t.counter('loggerhead.exporter.servicemap.requests.rejected', {
      description: 'Requests refused with a 4xx, by reason.',
      unit: '{request}',
    });
  }

  /** The address actually bound (useful with port 0), once started. */
  get boundEndpoint(): { host: string; port: number } | undefined {
    return boundAddress(this.server);
  }

  /** The page's URL, once started (a wildcard bind is shown as loopback). */
  get url(): string | undefined {
    const bound = this.boundEndpoint;
    if (bound === undefined) return undefined;
    const wildcard = bound.host === '0.0.0.0' || bound.host === '::';
    const host = wildcard ? '127.0.0.1' : bound.host.includes(':') ? `[${bound.host}]` : bound.host;
    return `http://${host}:${bound.port}/`;
  }

  async start(_host: Host): Promise<void> {
    if (this.stopped) throw new Error('servicemap exporter: start after shutdown');
    if (this.server !== undefined) return;
    this.assets = loadAssets();
    const server = http.createServer({ maxHeaderSize: 8192 }, (req, res) => this.handle(req, res));
    this.server = server;
    await listen(server, this.config.endpoint, 'servicemap exporter').catch((error: unknown) => {
      this.server = undefined;
      throw error;
    });
    this.settings.logger.info('serving the service map', { url: this.url, endpoint: this.config.endpoint });
  }

  async consume(batch: LinkBatch): Promise<void> {
    if (this.stopped) throw new Error('servicemap exporter is shut down');
    this.previous = this.fold;
    this.fold = foldLinks(batch, this.previous);
    this.graph = undefined;
    if (this.summary) this.logSummary(this.currentGraph() as ServiceGraph);
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    const server = this.server;
    this.server = undefined;
    this.graph = undefined;
    this.fold = undefined;
    this.previous = undefined;
    if (server === undefined) return;
    await closeServer(server);
  }

  /** The view `/api/graph` serves for `filter` (what the page draws). */
  view(filter: GraphFilter): GraphView | undefined {
    const graph = this.currentGraph();
    if (graph === undefined) return undefined;
    return viewGraph(graph, filter, {
      maxNodes: this.config.max_nodes,
      maxEdges: this.config.max_edges,
    });
  }

  /** The graph of the last batch, built on first use; undefined before the first batch. */
  private currentGraph(): ServiceGraph | undefined {
    if (this.graph === undefined && this.fold !== undefined) this.graph = graphOf(this.fold, this.previous);
    return this.graph;
  }

  private logSummary(graph: ServiceGraph): void {
    let sockets = 0;
    for (const metric of this.settings.telemetry.collect()) {
      if (metric.name !== 'loggerhead.receiver.sockets.tracked') continue;
      for (const point of metric.points) sockets += point.value;
    }
    let rate: number | null = graph.intervalMs === null ? null : 0;
    for (const e of graph.edges) if (rate !== null && e.bytesPerSecond !== null) rate += e.bytesPerSecond;
    this.settings.logger.info('poll', {
      sockets,
      links: graph.links,
      nodes: graph.nodes.length,
      edges: graph.edges.length,
      throughput: formatRate(rate),
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let route = 'unknown';
    try {
      const target = req.url ?? '/';
      if (target.length > MAX_URL_LENGTH) {
        throw new RequestError(
          414,
          `request target is ${target.length} characters long: at most ${MAX_URL_LENGTH}`,
        );
      }
      let url: URL;
      try {
        url = new URL(target, 'http://servicemap.invalid');
      } catch {
        throw new RequestError(400, 'request target is not a valid URL');
      }
      const path = url.pathname;
      const asset = this.assets?.get(path);
      route = asset !== undefined ? (path === '/' ? 'page' : 'asset') : routeOf(path);
      if (route === 'unknown') {
        throw new RequestError(
          404,
          `no such path "${path.length > 80 ? `${path.slice(0, 80)}...` : path}": this server has /, /api/graph, /api/graph/fields, /api/graph/data and /api/health`,
        );
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        throw new RequestError(405, `method ${req.method} is not allowed on ${path}: use GET`);
      }
      if (asset !== undefined) {
        if (url.search !== '') throw new RequestError(400, `${path} takes no query parameters`);
        this.send(req, res, 200, asset.type, asset.body, route);
        return;
      }
      switch (route) {
        case 'health':
          if (url.search !== '') throw new RequestError(400, '/api/health takes no query parameters');
          this.json(req, res, 200, { status: 'ok' }, route);
          return;
        case 'fields':
          if (url.search !== '') throw new RequestError(400, '/api/graph/fields takes no query parameters');
          this.json(req, res, 200, NODE_GRAPH_FIELDS, route);
          return;
        case 'data': {
          const view = this.view(parseFilter(url.searchParams));
          this.json(
            req,
            res,
            200,
            view === undefined ? { nodes: [], edges: [] } : nodeGraphData(view),
            route,
          );
          return;
        }
        default: {
          const view = this.view(parseFilter(url.searchParams));
          if (view === undefined) {
            this.json(
              req,
              res,
              200,
              { ready: false, refreshIntervalMs: this.config.refresh_interval },
              route,
            );
          } else {
            this.json(
              req,
              res,
              200,
              { ready: true, refreshIntervalMs: this.config.refresh_interval, ...view },
              route,
            );
          }
        }
      }
    } catch (error) {
      if (!(error instanceof RequestError)) {
        this.settings.logger.warn('request failed', { error, route });
        if (!res.headersSent) this.json(req, res, 500, { error: 'internal error' }, route);
        else res.destroy();
        return;
      }
      this.rejected.add(1, { reason: String(error.status) });
      this.json(req, res, error.status, { error: error.message }, route);
    }
  }

  private json(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    body: unknown,
    route: string,
  ): void {
    this.send(req, res, status, 'application/json; charset=utf-8', Buffer.from(JSON.stringify(body)), route);
  }

  private send(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    type: string,
    body: Buffer,
    route: string,
  ): void {
    res.writeHead(status, {
      'Content-Type': type,
      'Content-Length': body.length,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    this.requests.add(1, { route, status: `${Math.floor(status / 100)}xx` });
  }
}

function routeOf(path: string): string {
  switch (path) {
    case '/api/graph':
      return 'graph';
    case '/api/graph/fields':
      return 'fields';
    case '/api/graph/data':
      return 'data';
    case '/api/health':
      return 'health';
    default:
      return 'unknown';
  }
}
