/**
 * The servicemap exporter over real HTTP: the page and its assets, the JSON
 * API, the Grafana Node Graph API data source contract, and bad requests.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Document } from 'yaml';
import { validateConfig } from '../../core/config/validate.ts';
import type { Identity, Link, LinkBatch } from '../../core/signals.ts';
import { testHost, testSettings } from '../../test/support/settings.ts';
import type { TestSettings } from '../../test/support/settings.ts';
import type { ServiceMapExporter, ServiceMapExporterConfig } from './exporter.ts';
import { servicemapExporterFactory } from './factory.ts';
import type { NODE_GRAPH_FIELDS } from './nodegraph.ts';
import { testLink } from '../../test/support/links.ts';

const T0 = Date.parse('2026-11-26T12:00:00Z');

function config(yaml: object): ServiceMapExporterConfig {
  const { value, issues } = validateConfig(
    new Document(yaml).contents,
    servicemapExporterFactory.configSchema,
    {
      path: 'exporters::servicemap',
    },
  );
  assert.deepEqual(issues, []);
  return value as unknown as ServiceMapExporterConfig;
}

function link(client: Identity, server: Identity, port: number, c2s: number, s2c: number, failed = 0): Link {
  return testLink({
    id: `${client.name}-${server.name}-${port}`,
    client,
    server,
    serverPort: port,
    bytesClientToServer: c2s,
    bytesServerToClient: s2c,
    connectionsOpened: 4,
    connectionsClosed: 3,
    connectionsFailed: failed,
    retransSegs: 2,
    startTimeMs: T0,
    lastActivityMs: T0 + 1000,
  });
}

const web: Identity = { name: 'web', kind: 'Deployment', namespace: 'shop' };
const api: Identity = { name: 'api', kind: 'Deployment', namespace: 'shop' };
const ext: Identity = { name: '203.0.113.9', kind: 'external', namespace: '' };
const batch = (timeMs: number, scale: number): LinkBatch => ({
  timeMs,
  startTimeMs: T0,
  links: [link(web, api, 8080, 100 * scale, 1000 * scale), link(api, ext, 443, 10 * scale, 20 * scale, 1)],
});

function start(settings: TestSettings, yaml: object = {}): Promise<ServiceMapExporter> {
  const exporter = servicemapExporterFactory.create(settings, config({ endpoint: '127.0.0.1:0', ...yaml }));
  return exporter.start(testHost()).then(() => exporter as ServiceMapExporter);
}

/** One raw HTTP/1.1 request, so targets fetch() would normalise are sent as written. */
function raw(port: number, request: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(request));
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), headers: head, body });
    });
  });
}

describe('servicemap exporter over HTTP', () => {
  let exporter: ServiceMapExporter;
  let base: string;
  const settings = testSettings('servicemap');

  before(async () => {
    exporter = await start(settings, { summary: 'always' });
    base = exporter.url as string;
  });
  after(() => exporter.shutdown());

  async function json(
    path: string,
    init?: RequestInit,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${base}${path.slice(1)}`, init);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('answers health at once and says the graph is not ready before the first batch', async () => {
    assert.equal((await json('/api/health')).status, 200);
    const graph = await json('/api/graph');
    assert.equal(graph.status, 200);
    assert.equal(graph.body.ready, false);
    assert.deepEqual((await json('/api/graph/data')).body, { nodes: [], edges: [] });
  });

  it('serves the page and its assets from the agent only (nothing fetched from elsewhere)', async () => {
    for (const [path, type] of [
      ['/', 'text/html'],
      ['/assets/app.js', 'text/javascript'],
      ['/assets/style.css', 'text/css'],
      ['/assets/icon.svg', 'image/svg+xml'],
    ] as const) {
      const res = await fetch(`${base}${path.slice(1)}`);
      assert.equal(res.status, 200, path);
      assert.ok(res.headers.get('content-type')?.startsWith(type), path);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
      const text = await res.text();
      assert.ok(text.length > 100, path);
      const remote = text.match(/(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?\/\/[^"')\s]+/gi);
      assert.equal(remote, null, `${path} loads nothing from another origin`);
    }
  });

  it('serves the graph with rates from the last two batches and logs one summary per batch', async () => {
    await exporter.consume(batch(T0 + 5000, 1));
    await exporter.consume(batch(T0 + 7000, 3));
    const { status, body } = await json('/api/graph');
    assert.equal(status, 200);
    assert.equal(body.ready, true);
    assert.equal(body.intervalMs, 2000);
    assert.equal(body.truncated, false);
    const edges = body.edges as Array<Record<string, unknown>>;
    const toApi = edges.find((e) => e.target === 'Deployment/shop/api');
    assert.equal(toApi?.bytesClientToServer, 300);
    assert.equal(toApi?.bytesServerToClient, 3000);
    assert.equal(toApi?.bytesPerSecond, (200 + 2000) / 2);
    assert.equal(toApi?.connectionsOpened, 4);
    const polls = settings.logs.filter((l) => l.msg === 'poll');
    assert.equal(polls.length, 2);
    assert.deepEqual(
      { ...polls[1], time: undefined },
      {
        time: undefined,
        level: 'info',
        msg: 'poll',
        component: 'servicemap',
        sockets: 0,
        links: 2,
        nodes: 3,
        edges: 2,
        throughput: '1.13 kB/s',
      },
    );
    const started = settings.logs.find((l) => l.msg === 'serving the service map');
    assert.equal(started?.url, base);
  });

  it('filters by namespace, kind and name', async () => {
    const byKind = await json('/api/graph?kind=external');
    assert.deepEqual(
      (byKind.body.nodes as Array<{ name: string }>).map((n) => n.name),
      ['api', '203.0.113.9'],
    );
    const byName = await json('/api/graph?name=WEB&namespace=shop');
    assert.equal((byName.body.edges as unknown[]).length, 1);
    const none = await json('/api/graph?namespace=elsewhere');
    assert.deepEqual(none.body.edges, []);
    assert.deepEqual(none.body.matched, { nodes: 0, edges: 0 });
  });

  it('answers the Node Graph API data source: health, fields, data with declared names and types', async () => {
    const fields = await json('/api/graph/fields');
    assert.equal(fields.status, 200);
    const declared = fields.body as unknown as typeof NODE_GRAPH_FIELDS;
    const names = (list: Array<{ field_name: string }>): string[] => list.map((f) => f.field_name);
    // The plugin requires id for nodes and id, source, target for edges; Grafana's node graph reads the rest by name.
    assert.deepEqual(names(declared.nodes_fields).slice(0, 5), [
      'id',
      'title',
      'subTitle',
      'mainStat',
      'secondaryStat',
    ]);
    assert.deepEqual(names(declared.edges_fields).slice(0, 5), [
      'id',
      'source',
      'target',
      'mainStat',
      'secondaryStat',
    ]);
    for (const f of [...declared.nodes_fields, ...declared.edges_fields]) {
      assert.match(
        f.field_name,
        /^(id|title|subTitle|mainStat|secondaryStat|source|target|arc__\w+|detail__\w+)$/,
      );
      assert.ok(f.type === 'string' || f.type === 'number', f.field_name);
    }
    const data = await json('/api/graph/data');
    assert.equal(data.status, 200);
    const rows = data.body as {
      nodes: Array<Record<string, unknown>>;
      edges: Array<Record<string, unknown>>;
    };
    assert.equal(rows.nodes.length, 3);
    assert.equal(rows.edges.length, 2);
    const check = (row: Record<string, unknown>, list: typeof declared.nodes_fields): void => {
      assert.deepEqual(Object.keys(row).sort(), names(list).sort(), 'every declared field, nothing else');
      for (const f of list) assert.equal(typeof row[f.field_name], f.type, f.field_name);
    };
    for (const n of rows.nodes) {
      check(n, declared.nodes_fields);
      const arcs = Object.entries(n).filter(([k]) => k.startsWith('arc__'));
      assert.equal(
        arcs.reduce((s, [, v]) => s + (v as number), 0),
        1,
        'arc fields of a node add up to 1',
      );
    }
    for (const e of rows.edges) check(e, declared.edges_fields);
    const apiNode = rows.nodes.find((n) => n.title === 'api');
    assert.equal(apiNode?.subTitle, 'Deployment · shop');
    assert.equal(apiNode?.arc__failed, 1 / 9, '1 failed of 8 opened + 1 failed');
    const toExt = rows.edges.find((e) => e.target === 'external//203.0.113.9');
    assert.equal(toExt?.mainStat, '30 B/s');
    assert.equal(toExt?.secondaryStat, '90 B · 4 conns');
    assert.equal(toExt?.detail__server_port, 443);
    assert.equal(toExt?.detail__connections_failed, 1);
    const filtered = await json('/api/graph/data?name=web');
    assert.equal((filtered.body.edges as unknown[]).length, 1);
  });

  it('refuses bad requests with a 4xx and a JSON message naming the cause, and keeps serving', async () => {
    const cases: Array<[string, number, RegExp, RequestInit?]> = [
      ['/api/graph?foo=1', 400, /unknown query parameter "foo": accepted are namespace, kind, name/],
      ['/api/graph/data?query=x', 400, /unknown query parameter "query"/],
      ['/api/graph?name=a&name=b', 400, /"name" is given more than once/],
      ['/api/graph?namespace=', 400, /"namespace" is empty/],
      [`/api/graph?name=${'x'.repeat(254)}`, 400, /"name" is 254 characters long: at most 253/],
      [`/api/graph?${'k'.repeat(500)}=1`, 400, /unknown query parameter "k{40}\.\.\."/],
      ['/api/graph?kind=a%0Ab', 400, /control characters/],
      [`/api/graph?name=${'y'.repeat(3000)}`, 414, /request target is \d+ characters long: at most 2048/],
      ['/api/health?x=1', 400, /takes no query parameters/],
      ['/api/graph/fields?x=1', 400, /takes no query parameters/],
      ['/nope', 404, /no such path "\/nope"/],
      [
        '/api/graph',
        405,
        /method POST is not allowed on \/api\/graph: use GET/,
        { method: 'POST', body: 'x' },
      ],
      ['/api/graph/data', 405, /method DELETE is not allowed/, { method: 'DELETE' }],
      ['/', 405, /method PUT is not allowed/, { method: 'PUT', body: 'x' }],
    ];
    for (const [path, status, message, init] of cases) {
      const res = await json(path, init);
      assert.equal(res.status, status, path);
      assert.match(String(res.body.error), message, path);
    }
    const res = await fetch(`${base}api/graph`, { method: 'POST' });
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    const port = exporter.boundEndpoint?.port as number;
    const malformed = await raw(port, 'GET http://[bad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(malformed.status, 400);
    const huge = await raw(
      port,
      `GET /api/graph HTTP/1.1\r\nHost: x\r\nX-Big: ${'z'.repeat(20_000)}\r\n\r\n`,
    );
    assert.equal(huge.status, 431, 'headers beyond 8 KiB are refused by the HTTP parser');
    const head = await raw(port, 'HEAD /api/graph HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await json('/api/health')).status, 200, 'still serving');
    const rejected = settings.registry
      .collect()
      .find((m) => m.name === 'loggerhead.exporter.servicemap.requests.rejected');
    assert.ok((rejected?.points.reduce((s, p) => s + p.value, 0) ?? 0) >= cases.length);
  });
});

describe('servicemap exporter lifecycle details', () => {
  it('logs no summary with summary: never, and refuses a busy port naming it', async () => {
    const settings = testSettings('servicemap');
    const first = await start(settings, { summary: 'never' });
    await first.consume(batch(T0, 1));
    assert.equal(settings.logs.filter((l) => l.msg === 'poll').length, 0);
    const port = first.boundEndpoint?.port as number;
    const second = servicemapExporterFactory.create(
      testSettings('servicemap/2'),
      config({ endpoint: `127.0.0.1:${port}` }),
    );
    await assert.rejects(second.start(testHost()), {
      message: new RegExp(`servicemap exporter: cannot listen on endpoint 127.0.0.1:${port}: .*EADDRINUSE`),
    });
    await first.shutdown();
    await assert.rejects(first.consume(batch(T0, 1)), /shut down/);
  });

  it('defaults to 127.0.0.1:9465 and rejects bad settings', () => {
    const defaults = config({});
    assert.equal(defaults.endpoint, '127.0.0.1:9465');
    assert.equal(defaults.summary, 'auto');
    assert.equal(defaults.refresh_interval, 2000);
    const { issues } = validateConfig(
      new Document({ endpoint: 'nope', max_nodes: 0, summary: 'loud' }).contents,
      servicemapExporterFactory.configSchema,
      { path: 'exporters::servicemap' },
    );
    assert.equal(issues.length, 3);
  });
});
