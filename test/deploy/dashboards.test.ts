/**
 * The dashboards' PromQL, run against a real Prometheus and a real
 * VictoriaMetrics (the bundled overlay's backend), both scraping two real
 * `prometheus` exporters that play the agents of two nodes during a traffic
 * scenario: counters at zero first, then at known totals.
 *
 * The scenario has a link seen from both ends (client pods on both nodes, the
 * server on node A), links seen from one end only (an external client, a
 * client whose server is outside the watched nodes), a second namespace, failed
 * connects and retransmissions, so that counting a link twice, or dropping the
 * side that only one observer sees, changes the numbers.
 *
 * VictoriaMetrics' `increase()` does not extrapolate: its values must be exact.
 * Prometheus extrapolates to the end of the range (the counters' first sample
 * is 0, so not to its start): its values must lie in [exact, exact × 1.1].
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Link, LinkBatch } from '../../core/signals.ts';
import { PrometheusExporter, prometheusExporterFactory } from '../../exporters/prometheus/factory.ts';
import type { PrometheusExporterConfig } from '../../exporters/prometheus/factory.ts';
import { validateConfig } from '../../core/config/validate.ts';
import { DASHBOARDS, DASHBOARD_DIRS, QUERIES } from '../../deploy/dashboards/dashboards.ts';
import type { QueryName } from '../../deploy/dashboards/dashboards.ts';
import { startPrometheus, startVictoriaMetrics } from '../support/backends.ts';
import type { Backend, Series } from '../support/backends.ts';
import { testLink } from '../support/links.ts';
import type { LinkTotals } from '../support/pipeline.ts';
import { testHost, testSettings } from '../support/settings.ts';

const START_MS = Date.now();

const frontend = { name: 'frontend', kind: 'Deployment', namespace: 'shop' };
const catalog = { name: 'catalog', kind: 'Deployment', namespace: 'shop' };
const cart = { name: 'cart', kind: 'StatefulSet', namespace: 'shop' };
const checkout = { name: 'checkout', kind: 'Deployment', namespace: 'pay' };
const external = { name: '203.0.113.9', kind: 'external', namespace: '' };

function link(
  id: string,
  client: Link['client'],
  server: Link['server'],
  serverPort: number,
  observer: Link['observer'],
  n: LinkTotals,
): Link {
  return testLink({
    id,
    client,
    server,
    serverPort,
    observer,
    bytesClientToServer: n.c2s,
    bytesServerToClient: n.s2c,
    connectionsOpened: n.opened,
    connectionsClosed: n.closed,
    connectionsFailed: n.failed,
    activeConnections: n.active,
    retransSegs: n.retrans,
    startTimeMs: START_MS,
    lastActivityMs: START_MS,
  });
}

const c = (
  c2s: number,
  s2c: number,
  opened: number,
  closed: number,
  failed: number,
  active: number,
  retrans: number,
): LinkTotals => ({
  c2s,
  s2c,
  opened,
  closed,
  failed,
  active,
  retrans,
});

/** Node A runs a frontend pod, the catalog pod and the cart pod; node B a second frontend pod and checkout. */
const NODE_A = (k: number): Link[] => [
  link('a1', frontend, catalog, 8080, 'client', c(1000 * k, 50000 * k, 10 * k, 8 * k, 0, 2 * k, 4 * k)),
  // The catalog pod's sockets: connections from both frontend pods.
  link('a2', frontend, catalog, 8080, 'server', c(3000 * k, 80000 * k, 16 * k, 14 * k, 0, 2 * k, 1 * k)),
  link('a3', checkout, catalog, 8080, 'server', c(500 * k, 2500 * k, 1 * k, 0, 0, 1 * k, 0)),
  link('a4', frontend, cart, 6379, 'client', c(300 * k, 700 * k, 5 * k, 5 * k, 3 * k, 0, 2 * k)),
  link('a5', external, frontend, 443, 'server', c(4000 * k, 9000 * k, 2 * k, 1 * k, 0, 1 * k, 0)),
];
const NODE_B = (k: number): Link[] => [
  link('b1', frontend, catalog, 8080, 'client', c(2000 * k, 30000 * k, 6 * k, 6 * k, 0, 0, 0)),
  link('b2', checkout, catalog, 8080, 'client', c(500 * k, 2500 * k, 1 * k, 0, 0, 1 * k, 3 * k)),
];

const batch = (links: Link[]): LinkBatch => ({ timeMs: Date.now(), startTimeMs: START_MS, links });

const RANGE_S = 600;
const SCRAPE_MS = 500;

let exporters: PrometheusExporter[] = [];
let backends: Backend[] = [];
let evalTimeS = 0;

/** The exporter's defaults (as a pipeline.yaml without options gets them), on a free port, links only. */
function exporterConfig(): PrometheusExporterConfig {
  const { value, issues } = validateConfig(undefined, prometheusExporterFactory.configSchema);
  assert.deepEqual(issues, []);
  return {
    ...(value as unknown as PrometheusExporterConfig),
    endpoint: '127.0.0.1:0',
    include_self_telemetry: false,
    compression: 'none',
  };
}

/** True once every link series holds its final (non-zero) value. */
async function showsFinalValues(b: Backend): Promise<boolean> {
  const r = await b.query('min(loggerhead_link_bytes_total{direction="server_to_client"})');
  return Number(r[0]?.value?.[1] ?? 0) > 0;
}

before(async () => {
  exporters = [
    new PrometheusExporter(testSettings('prometheus/node-a'), exporterConfig()),
    new PrometheusExporter(testSettings('prometheus/node-b'), exporterConfig()),
  ];
  for (const e of exporters) await e.start(testHost());
  const [a, b] = exporters as [PrometheusExporter, PrometheusExporter];
  await a.consume(batch(NODE_A(0)));
  await b.consume(batch(NODE_B(0)));
  const targets = exporters.map((e) => `127.0.0.1:${e.boundEndpoint?.port ?? 0}`);
  backends = await Promise.all([
    startPrometheus({ targets, scrapeIntervalMs: SCRAPE_MS }),
    startVictoriaMetrics({ targets, scrapeIntervalMs: SCRAPE_MS }),
  ]);
  // At least three samples of the zero values from every target, then the totals.
  for (const be of backends) {
    await be.waitFor(async () => {
      const r = await be.query(`min(count_over_time(loggerhead_link_bytes_total[${RANGE_S}s]))`);
      return Number(r[0]?.value?.[1] ?? 0) >= 3;
    }, 'three scrapes of the zero counters');
  }
  await a.consume(batch(NODE_A(1)));
  await b.consume(batch(NODE_B(1)));
  for (const be of backends) await be.waitFor(() => showsFinalValues(be), 'the final counters');
  // Sixteen more scrapes of the totals: Prometheus' extrapolation to the end of the range stays small.
  await new Promise((r) => setTimeout(r, 16 * SCRAPE_MS));
  evalTimeS = Date.now() / 1000 - 1.5;
});

after(async () => {
  await Promise.all(backends.map((b) => b.stop()));
  await Promise.all(exporters.map((e) => e.shutdown()));
});

/** A dashboard expression with Grafana's variables filled in as a dashboard over the scenario would. */
function expr(name: QueryName, namespace = '.*'): string {
  return QUERIES[name]
    .replaceAll('$__range', `${RANGE_S}s`)
    .replaceAll('$__rate_interval', `${RANGE_S}s`)
    .replaceAll('$namespace', namespace);
}

async function run(b: Backend, name: QueryName, namespace?: string): Promise<Series[]> {
  return b.query(expr(name, namespace), evalTimeS);
}

/** Checks a value against the exact one: equal for VictoriaMetrics, within Prometheus' end-of-range extrapolation. */
function assertValue(b: Backend, actual: string | undefined, exact: number, what: string): void {
  const v = Number(actual);
  if (b.kind === 'victoria-metrics' || exact === 0) {
    assert.equal(v, exact, `${b.kind}: ${what}`);
  } else {
    assert.ok(
      v >= exact - 1e-9 && v <= exact * 1.1,
      `${b.kind}: ${what} = ${v}, expected ${exact} (up to +10%)`,
    );
  }
}

/** Series keyed by the given labels joined with '|', value as text. */
function byLabels(series: Series[], labels: string[]): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const s of series) {
    const key = labels.map((l) => s.metric[l] ?? '').join('|');
    assert.ok(!out.has(key), `two series for ${key}`);
    out.set(key, s.value?.[1]);
  }
  return out;
}

function assertTable(
  b: Backend,
  series: Series[],
  labels: string[],
  expected: Record<string, number>,
  what: string,
): void {
  const got = byLabels(series, labels);
  assert.deepEqual([...got.keys()].sort(), Object.keys(expected).sort(), `${b.kind}: ${what} rows`);
  for (const [key, exact] of Object.entries(expected)) assertValue(b, got.get(key), exact, `${what} ${key}`);
}

/**
 * Per-second panels (time series). Prometheus' `rate()` is its `increase()`
 * divided by the window, so it is checked the same way. VictoriaMetrics divides
 * by the time its samples span inside the window, which in this scenario is
 * shorter than the window: there the rows, and their order by value, are checked.
 */
function assertRates(
  b: Backend,
  series: Series[],
  labels: string[],
  increases: Record<string, number>,
  what: string,
): void {
  if (b.kind === 'prometheus') {
    const perSecond = Object.fromEntries(Object.entries(increases).map(([k, v]) => [k, v / RANGE_S]));
    assertTable(b, series, labels, perSecond, what);
    return;
  }
  const got = byLabels(series, labels);
  assert.deepEqual([...got.keys()].sort(), Object.keys(increases).sort(), `${b.kind}: ${what} rows`);
  const order = (m: Array<[string, number]>): string[] => m.sort((x, y) => y[1] - x[1]).map(([k]) => k);
  assert.deepEqual(
    order([...got].map(([k, v]) => [k, Number(v)])),
    order(Object.entries(increases)),
    `${b.kind}: ${what} order`,
  );
  for (const [k, v] of got) assert.ok(Number(v) > 0 || increases[k] === 0, `${b.kind}: ${what} ${k} = ${v}`);
}

const EDGES = {
  'shop/Deployment/frontend -> shop/Deployment/catalog|shop/Deployment/frontend|shop/Deployment/catalog': 83000,
  'pay/Deployment/checkout -> shop/Deployment/catalog|pay/Deployment/checkout|shop/Deployment/catalog': 3000,
  'shop/Deployment/frontend -> shop/StatefulSet/cart|shop/Deployment/frontend|shop/StatefulSet/cart': 1000,
  '/external/203.0.113.9 -> shop/Deployment/frontend|/external/203.0.113.9|shop/Deployment/frontend': 13000,
};

void test('service map edges: one per client -> server pair, bytes both ways counted once', async () => {
  for (const b of backends) {
    assertTable(b, await run(b, 'mapEdges'), ['id', 'source', 'target'], EDGES, 'edge');
  }
});

void test('service map nodes: every end of every edge, with title, kind and namespace, bytes in and out', async () => {
  for (const b of backends) {
    const nodes = await run(b, 'mapNodes');
    assertTable(
      b,
      nodes,
      ['id', 'title', 'subtitle', 'detail__namespace'],
      {
        'shop/Deployment/frontend|frontend|Deployment|shop': 97000,
        'shop/Deployment/catalog|catalog|Deployment|shop': 86000,
        'shop/StatefulSet/cart|cart|StatefulSet|shop': 1000,
        'pay/Deployment/checkout|checkout|Deployment|pay': 3000,
        '/external/203.0.113.9|203.0.113.9|external|': 13000,
      },
      'node',
    );
    // The Node Graph needs every edge end among the nodes, and no other label on them.
    const ids = new Set(nodes.map((n) => n.metric['id']));
    for (const key of Object.keys(EDGES)) {
      const [, source, target] = key.split('|');
      assert.ok(ids.has(source) && ids.has(target), `${b.kind}: edge ${key} has both nodes`);
    }
    for (const n of nodes) {
      for (const l of Object.keys(n.metric))
        assert.ok(['id', 'title', 'subtitle', 'detail__namespace'].includes(l), l);
    }
  }
});

void test('the namespace filter keeps the links that touch the namespace at either end', async () => {
  for (const b of backends) {
    assertTable(
      b,
      await run(b, 'mapEdges', 'pay'),
      ['id'],
      { 'pay/Deployment/checkout -> shop/Deployment/catalog': 3000 },
      'edge in pay',
    );
    assertTable(
      b,
      await run(b, 'topLinks', 'shop'),
      ['client_workload_name', 'server_workload_name', 'server_port'],
      {
        'frontend|catalog|8080': 83000,
        'checkout|catalog|8080': 3000,
        'frontend|cart|6379': 1000,
        '203.0.113.9|frontend|443': 13000,
      },
      'links touching shop',
    );
    const namespaces = (await b.query(QUERIES.namespaces, evalTimeS)).map((s) => s.metric['ns'] ?? '');
    assert.deepEqual(
      namespaces.filter((n) => n !== '').sort(),
      ['pay', 'shop'],
      `${b.kind}: namespace variable`,
    );
  }
});

void test('top talkers: links, clients and servers by bytes', async () => {
  for (const b of backends) {
    assertTable(
      b,
      await run(b, 'topLinks'),
      [
        'client_k8s_namespace_name',
        'client_workload_name',
        'server_k8s_namespace_name',
        'server_workload_name',
        'server_port',
      ],
      {
        'shop|frontend|shop|catalog|8080': 83000,
        'pay|checkout|shop|catalog|8080': 3000,
        'shop|frontend|shop|cart|6379': 1000,
        '|203.0.113.9|shop|frontend|443': 13000,
      },
      'top links',
    );
    assertTable(
      b,
      await run(b, 'topClients'),
      ['client_k8s_namespace_name', 'client_workload_name'],
      { 'shop|frontend': 3300, 'pay|checkout': 500, '|203.0.113.9': 4000 },
      'top clients',
    );
    assertTable(
      b,
      await run(b, 'topServers'),
      ['server_k8s_namespace_name', 'server_workload_name'],
      { 'shop|catalog': 82500, 'shop|cart': 700, 'shop|frontend': 9000 },
      'top servers',
    );
    assertRates(
      b,
      await run(b, 'linkThroughput'),
      ['client_workload_name', 'server_workload_name', 'server_port'],
      {
        'frontend|catalog|8080': 83000,
        'checkout|catalog|8080': 3000,
        'frontend|cart|6379': 1000,
        '203.0.113.9|frontend|443': 13000,
      },
      'bytes per second',
    );
  }
});

void test('connection health: active, opened, failed, retransmitted', async () => {
  for (const b of backends) {
    assertTable(b, await run(b, 'activeTotal'), [], { '': 4 }, 'active connections');
    assertTable(b, await run(b, 'openedTotal'), [], { '': 24 }, 'connections opened');
    assertTable(b, await run(b, 'failedTotal'), [], { '': 3 }, 'failed connects');
    assertTable(b, await run(b, 'retransmitsTotal'), [], { '': 10 }, 'retransmitted segments');
    const link3 = ['client_workload_name', 'server_workload_name', 'server_port'];
    assertTable(
      b,
      await run(b, 'activeByLink'),
      link3,
      {
        'frontend|catalog|8080': 2,
        'checkout|catalog|8080': 1,
        'frontend|cart|6379': 0,
        '203.0.113.9|frontend|443': 1,
      },
      'active by link',
    );
    assertRates(
      b,
      await run(b, 'openedRateByLink'),
      link3,
      {
        'frontend|catalog|8080': 16,
        'checkout|catalog|8080': 1,
        'frontend|cart|6379': 5,
        '203.0.113.9|frontend|443': 2,
      },
      'opened per second',
    );
    assertRates(b, await run(b, 'failedRateByLink'), link3, { 'frontend|cart|6379': 3 }, 'failed per second');
    assertTable(
      b,
      await run(b, 'failingLinks'),
      ['client_workload_name', 'server_workload_name', 'server_port'],
      { 'frontend|cart|6379': 3 },
      'failing links',
    );
    assertRates(
      b,
      await run(b, 'retransmitRateByLink'),
      link3,
      {
        'frontend|catalog|8080': 5,
        'checkout|catalog|8080': 3,
        'frontend|cart|6379': 2,
      },
      'retransmits per second',
    );
  }
});

void test('every query of every shipped dashboard is one of the tested queries', () => {
  const tested = new Set<string>(Object.values(QUERIES));
  for (const dir of DASHBOARD_DIRS) {
    for (const file of Object.keys(DASHBOARDS)) {
      const d = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
        panels: Array<{ title: string; type: string; targets: Array<{ expr: string }> }>;
      };
      assert.ok(d.panels.length > 0);
      for (const p of d.panels) {
        assert.ok(p.targets.length > 0, `${file}: panel ${p.title} has no query`);
        for (const t of p.targets)
          assert.ok(tested.has(t.expr), `${file}: panel ${p.title} runs an untested query`);
      }
    }
  }
  const map = DASHBOARDS['loggerhead-service-map.json'] as {
    panels: Array<{ type: string; targets: Array<{ refId: string; format: string; instant: boolean }> }>;
  };
  const graph = map.panels.find((p) => p.type === 'nodeGraph');
  assert.deepEqual(
    graph?.targets.map((t) => [t.refId, t.format, t.instant]),
    [
      ['nodes', 'table', true],
      ['edges', 'table', true],
    ],
  );
});
