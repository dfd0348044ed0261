/**
 * The prometheus exporter against real backends: a real Prometheus 2.42 and a
 * real VictoriaMetrics 1.79 (Debian) scrape a real exporter fed by a test
 * pipeline that plays the link processor (one LinkBatch per poll, cumulative
 * counters the test controls to the byte).
 *
 * Why `increase()` is exact here. Every link is exported with zero counters
 * for a few scrapes before any byte is counted, so the first stored sample of
 * each series is 0. Then:
 * - Prometheus extrapolates `increase(x[w])` towards the window's edges, but
 *   never below the counter's zero point (the zero sample puts it at the first
 *   sample: no extrapolation at the start), and evaluating exactly at the
 *   timestamp of the last scrape leaves no gap at the end. So
 *   `increase(x[1h])` at that instant is last - 0, exactly.
 * - VictoriaMetrics does not extrapolate; its increase is last - first.
 * The raw samples (`x[1h]`) are checked too. (`_created` does not help here:
 * Prometheus 2.42 does not ingest created timestamps.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Identity, Link, LinkBatch } from '../../core/signals.ts';
import { fnv1a32 } from '../../exporters/prometheus/caretta.ts';
import { escapeLabelValue } from '../../exporters/prometheus/exposition.ts';
import { prometheusExporterFactory } from '../../exporters/prometheus/factory.ts';
import type { PrometheusExporter } from '../../exporters/prometheus/factory.ts';
import { promtoolCheckMetrics, startPrometheus, startVictoriaMetrics } from '../support/backends.ts';
import type { Backend, Series } from '../support/backends.ts';
import { testHost, testSettings } from '../support/settings.ts';
import type { TestSettings } from '../support/settings.ts';
import { testLink } from '../support/links.ts';

const NS = 'demo-ng';
const HOSTILE = `evil "quoted" \\back\\slash\nnew line\ttab\rreturn ✓ zürich 🐢 ${'x'.repeat(10_000)}`;

interface Spec {
  client: Identity;
  server: Identity;
  port: number;
  observer: 'client' | 'server';
}

const SPECS: Spec[] = [
  {
    client: { name: 'checkoutservice', kind: 'Deployment', namespace: NS },
    server: { name: 'productcatalogservice', kind: 'Deployment', namespace: NS },
    port: 3550,
    observer: 'client',
  },
  {
    client: { name: 'checkoutservice', kind: 'Deployment', namespace: NS },
    server: { name: 'productcatalogservice', kind: 'Deployment', namespace: NS },
    port: 3550,
    observer: 'server',
  },
  {
    client: { name: 'frontend', kind: 'Deployment', namespace: NS },
    server: { name: '203.0.113.10', kind: 'external', namespace: '' },
    port: 443,
    observer: 'client',
  },
  {
    client: { name: 'worker-1', kind: 'Node', namespace: '' },
    server: { name: 'kubernetes', kind: 'Service', namespace: 'default' },
    port: 6443,
    observer: 'client',
  },
  {
    client: { name: HOSTILE, kind: 'StatefulSet', namespace: 'hostile' },
    server: { name: 'db', kind: 'Pod', namespace: 'hostile' },
    port: 5432,
    observer: 'server',
  },
];

/** Plays the link processor: cumulative links, one batch per poll. */
class TestLinkSource {
  readonly links: Link[];
  private readonly startTimeMs = Date.now();
  constructor(specs: Spec[]) {
    this.links = specs.map((s, i) =>
      testLink({
        id: `link-${i}`,
        client: s.client,
        server: s.server,
        serverPort: s.port,
        observer: s.observer,
        bytesClientToServer: 0,
        bytesServerToClient: 0,
        connectionsOpened: 1,
        connectionsClosed: 0,
        connectionsFailed: 0,
        retransSegs: 0,
        startTimeMs: this.startTimeMs,
        lastActivityMs: this.startTimeMs,
      }),
    );
  }
  batch(): LinkBatch {
    return { timeMs: Date.now(), startTimeMs: this.startTimeMs, links: this.links.map((l) => ({ ...l })) };
  }
}

/** Deterministic byte counts (a small LCG), so a failure is reproducible. */
function* sizes(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    yield 1 + (x % 200_000);
  }
}

const source = new TestLinkSource(SPECS);
let exporter: PrometheusExporter;
let exporterSettings: TestSettings;
let target = '';
let prom: Backend;
let vm: Backend;
let poller: NodeJS.Timeout | undefined;
const backends = (): Backend[] => [prom, vm];

before(async () => {
  exporterSettings = testSettings('prometheus');
  exporter = prometheusExporterFactory.create(exporterSettings, {
    endpoint: '127.0.0.1:0',
    caretta_compatible: true,
    include_self_telemetry: true,
    max_label_value_length: 0,
    compression: 'gzip',
    openmetrics_created: true,
  }) as PrometheusExporter;
  await exporter.start(testHost());
  target = `127.0.0.1:${exporter.boundEndpoint?.port}`;
  await exporter.consume(source.batch());
  poller = setInterval(() => void exporter.consume(source.batch()), 200);
  [prom, vm] = await Promise.all([
    startPrometheus({ targets: [target] }),
    startVictoriaMetrics({ targets: [target] }),
  ]);
});

after(async () => {
  clearInterval(poller);
  await Promise.all([prom?.stop(), vm?.stop()]);
  await exporter?.shutdown();
});

function key(metric: Record<string, string>): string {
  return [
    metric.client_workload_name,
    metric.server_workload_name,
    metric.server_port,
    metric.link_observer,
    metric.direction,
  ].join('|');
}

function expectedBytes(): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of source.links) {
    const base = [l.client.name, l.server.name, String(l.serverPort), l.observer];
    out.set([...base, 'client_to_server'].join('|'), l.bytesClientToServer);
    out.set([...base, 'server_to_client'].join('|'), l.bytesServerToClient);
  }
  return out;
}

function byKey(series: Series[], pick: (s: Series) => number): Map<string, number> {
  return new Map(series.map((s) => [key(s.metric), pick(s)]));
}

const SERIES = SPECS.length * 2;

void test('a real Prometheus and a real VictoriaMetrics scrape the exporter; increase() equals the bytes sent, exactly', async () => {
  // Phase 0: every series is stored with value 0 at least twice.
  for (const b of backends()) {
    await b.waitFor(async () => {
      const r = await b.query('count_over_time(loggerhead_link_bytes_total[1h]) >= 2');
      return r.length === SERIES;
    }, 'two zero samples of every series');
  }
  // Phase 1: traffic, in several polls.
  const gen = sizes(42);
  for (let round = 0; round < 8; round++) {
    for (const l of source.links) {
      l.bytesClientToServer += gen.next().value as number;
      l.bytesServerToClient += round % 2 === 0 ? (gen.next().value as number) : 0;
    }
    await exporter.consume(source.batch());
    await new Promise((r) => setTimeout(r, 300));
  }
  const want = expectedBytes();
  assert.equal(want.size, SERIES);
  // Phase 2: both backends hold the final values; wait past VictoriaMetrics' 1 s latency offset.
  for (const b of backends()) {
    await b.waitFor(async () => {
      const got = byKey(await b.query('loggerhead_link_bytes_total'), (s) => Number(s.value?.[1]));
      return [...want].every(([k, v]) => got.get(k) === v);
    }, 'the final counter values');
  }
  await new Promise((r) => setTimeout(r, 2500));
  for (const b of backends()) {
    const raw = await b.query('loggerhead_link_bytes_total[1h]');
    assert.equal(raw.length, SERIES, `${b.kind}: one raw series per link and direction`);
    let lastTs = 0;
    for (const s of raw) {
      const values = s.values ?? [];
      assert.equal(values[0]?.[1], '0', `${b.kind}: first sample of ${key(s.metric)} is 0`);
      lastTs = Math.max(lastTs, values[values.length - 1]?.[0] ?? 0);
    }
    const rawDelta = byKey(raw, (s) => {
      const v = s.values ?? [];
      return Number(v[v.length - 1]?.[1]) - Number(v[0]?.[1]);
    });
    assert.deepEqual(rawDelta, want, `${b.kind}: last raw sample - first raw sample`);
    const increase = await b.query('increase(loggerhead_link_bytes_total[1h])', lastTs);
    assert.deepEqual(
      byKey(increase, (s) => Number(s.value?.[1])),
      want,
      `${b.kind}: increase() at the last scrape`,
    );
  }
});

void test('both targets are up, Prometheus negotiated OpenMetrics, VictoriaMetrics text; promtool finds no problem', async () => {
  for (const b of backends()) {
    const targets = await b.targets();
    assert.equal(targets.length, 1);
    assert.equal(targets[0]?.health, 'up', `${b.kind}: ${targets[0]?.lastError}`);
  }
  // The exporter counts its scrapes by format; read before this test makes any request of its own,
  // only the two backends have scraped: Prometheus asks for OpenMetrics, VictoriaMetrics for text.
  const served = new Map(
    exporterSettings.registry
      .collect()
      .find((m) => m.name === 'loggerhead.exporter.prometheus.scrapes')
      ?.points.map((p) => [p.attributes.format, p.value]) ?? [],
  );
  assert.ok((served.get('openmetrics') ?? 0) > 0, `OpenMetrics scrapes: ${JSON.stringify([...served])}`);
  assert.ok((served.get('text') ?? 0) > 0, `text scrapes: ${JSON.stringify([...served])}`);
  const res = await fetch(`http://${target}/metrics`);
  const text = await res.text();
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  assert.ok(
    text.includes(`client_workload_name="${escapeLabelValue(HOSTILE)}"`),
    'the hostile value, escaped',
  );
  const check = promtoolCheckMetrics(text);
  assert.equal(check.output, '', 'promtool check metrics output');
  assert.equal(check.status, 0);
  // fetch() undoes the gzip itself; the header says it was applied.
  const om = await fetch(`http://${target}/metrics`, {
    headers: { Accept: 'application/openmetrics-text;version=1.0.0', 'Accept-Encoding': 'gzip' },
  });
  assert.equal(om.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  assert.equal(om.headers.get('content-encoding'), 'gzip');
  const omText = await om.text();
  assert.ok(omText.includes(`client_workload_name="${escapeLabelValue(HOSTILE)}"`));
  assert.ok(omText.endsWith('# EOF\n'));
});

void test('hostile label values (quotes, backslashes, newline, unicode, 10 kB) arrive unchanged in both backends', async () => {
  for (const b of backends()) {
    const series = await b.series('loggerhead_link_active_connections');
    const names = series.map((s) => s.client_workload_name);
    assert.ok(names.includes(HOSTILE), `${b.kind}: the 10 kB hostile name round-trips byte for byte`);
    const caretta = await b.series('caretta_links_observed');
    assert.ok(caretta.some((s) => s.client_name === HOSTILE && s.client_kind === 'StatefulSet'));
  }
});

/** Caretta's Grafana dashboard queries (chart/dashboard.json in groundcover-com/caretta), written out here. */
function dashboardQuery(expr: string, vars: { range: string; interval: string }): string {
  return expr
    .replaceAll('$namespace', '(.*)')
    .replaceAll('$kind', '(.*)')
    .replaceAll('$workload', '(.*)')
    .replaceAll('$port', '(.*)')
    .replaceAll('$__range', vars.range)
    .replaceAll('$__interval', vars.interval);
}

const LINKS = `(caretta_links_observed{client_namespace=~"$namespace", client_kind=~"$kind", client_name=~"$workload", server_port=~"$port"} or caretta_links_observed{server_namespace=~"$namespace", server_kind=~"$kind", server_name=~"$workload", server_port=~"$port"})`;
const LINKS_BY_SERVER_NAME = `(caretta_links_observed{client_namespace=~"$namespace", client_kind=~"$kind", server_name=~"$workload", server_port=~"$port"} or caretta_links_observed{server_namespace=~"$namespace", server_kind=~"$kind", server_name=~"$workload", server_port=~"$port"})`;
const lr = (inner: string, dst: string, src: string): string =>
  `label_replace(${inner}, "${dst}", "$1", "${src}", "(.*)")`;

function nodesQuery(window: string): string {
  const servers = lr(
    lr(lr(lr(LINKS, 'detail__kind', 'server_kind'), 'subTitle', 'server_namespace'), 'title', 'server_name'),
    'id',
    'server_id',
  );
  const clients = lr(
    lr(
      lr(lr(LINKS_BY_SERVER_NAME, 'detail__kind', 'client_kind'), 'subTitle', 'client_namespace'),
      'title',
      'client_name',
    ),
    'id',
    'client_id',
  );
  return `increase((sum by (id, title, subTitle, detail__kind, arc__color) (label_replace((${servers} or ${clients}  ), "arc__color", "1", "link_id", "(.*)")) )${window})  > 0`;
}

function edgesQuery(window: string): string {
  const edges = lr(
    lr(lr(lr(LINKS, 'id', 'link_id'), 'source', 'client_id'), 'target', 'server_id'),
    'mainStat',
    'server_port',
  );
  return `increase((sum by (id, source, target, mainStat) ((${edges})) )${window}) > 0`;
}

function carettaWorkloadOf(identity: Identity): { name: string; namespace: string; kind: string } {
  if (identity.kind === 'Node') return { name: identity.name, namespace: 'node', kind: 'node' };
  if (identity.kind === 'external') return { name: identity.name, namespace: 'external', kind: 'external' };
  if (identity.kind === 'Pod') return { name: identity.name, namespace: identity.namespace, kind: 'pod' };
  return { name: identity.name, namespace: identity.namespace, kind: identity.kind };
}

/**
 * The node title the dashboard's label_replace(..., "title", "$1", "client_name", "(.*)") yields: in
 * both backends `.` does not match a line feed, so a name holding one (impossible for a Kubernetes
 * name, present in the hostile test value) gets no title (absent or empty: the same to PromQL), exactly as with Caretta itself.
 */
function title(name: string): string {
  return name.includes('\n') ? '' : name;
}

void test("Caretta's dashboard queries return the expected nodes and edges from both backends", async () => {
  const wantNodes = new Set<string>();
  const wantEdges = new Set<string>();
  for (const l of source.links) {
    const c = carettaWorkloadOf(l.client);
    const s = carettaWorkloadOf(l.server);
    const cid = fnv1a32(c.name + c.namespace);
    const sid = fnv1a32(s.name + s.namespace);
    wantNodes.add(JSON.stringify([String(cid), title(c.name), c.namespace, c.kind, '1']));
    wantNodes.add(JSON.stringify([String(sid), title(s.name), s.namespace, s.kind, '1']));
    const role = l.observer === 'client' ? 1 : 2;
    const linkId = (fnv1a32(c.name + c.namespace + s.name + s.namespace) + role) >>> 0;
    wantEdges.add(JSON.stringify([String(linkId), String(cid), String(sid), String(l.serverPort)]));
  }
  assert.ok(wantEdges.has(JSON.stringify(['198768460', '1074587981', '1112713827', '3550'])));
  const vars = { range: '1h', interval: '1s' };
  // chart/dashboard.json (Prometheus data source) uses subqueries: [$__range:$__interval].
  const windows: Array<[Backend, string]> = [
    [prom, `[${vars.range}:${vars.interval}]`],
    [vm, `[${vars.range}:${vars.interval}]`],
    // helm/caretta/dashboard.json (its bundled VictoriaMetrics) writes [$__range]; MetricsQL accepts it.
    [vm, `[${vars.range}]`],
  ];
  for (const [b, window] of windows) {
    const nodes = await b.query(dashboardQuery(nodesQuery(window), vars), undefined, vars.interval);
    const gotNodes = new Set(
      nodes.map((n) =>
        JSON.stringify([
          n.metric.id,
          n.metric.title ?? '',
          n.metric.subTitle,
          n.metric.detail__kind,
          n.metric.arc__color,
        ]),
      ),
    );
    assert.deepEqual(gotNodes, wantNodes, `${b.kind} ${window}: nodes`);
    const edges = await b.query(dashboardQuery(edgesQuery(window), vars), undefined, vars.interval);
    const gotEdges = new Set(
      edges.map((e) => JSON.stringify([e.metric.id, e.metric.source, e.metric.target, e.metric.mainStat])),
    );
    assert.deepEqual(gotEdges, wantEdges, `${b.kind} ${window}: edges`);
  }
  // Side panels: active ports, top workloads, top connections (a pair is left out only when both ends are nodes or externals).
  for (const b of [prom, vm]) {
    const ports = await b.query(
      dashboardQuery(`sum by (server_port) (increase(${LINKS}[$__range:$__interval])) > 0`, vars),
    );
    assert.deepEqual(ports.map((p) => p.metric.server_port).sort(), ['3550', '443', '5432', '6443']);
    const top = await b.query(
      dashboardQuery(
        `topk(8, sum by (client_name) ((rate(caretta_links_observed{client_namespace=~"$namespace", client_kind=~"$kind", client_name=~"$workload", server_port=~"$port"}[$__range:$__interval]))))`,
        vars,
      ),
    );
    assert.deepEqual(
      top.map((t) => t.metric.client_name).sort(),
      // In Prometheus client_name=~"(.*)" does not match the hostile name (`.` stops at its line
      // feed); VictoriaMetrics turns a `.*` filter into match-anything.
      b.kind === 'prometheus'
        ? ['checkoutservice', 'frontend', 'worker-1']
        : ['checkoutservice', 'frontend', 'worker-1', HOSTILE].sort(),
    );
    const conns = await b.query(
      dashboardQuery(
        `topk(7, sum by (client_name, server_name) ( rate( (caretta_links_observed{client_namespace=~"$namespace", client_kind=~"$kind", client_name=~"$workload", server_port=~"$port", client_kind!~"(node|external)",} or caretta_links_observed{server_namespace=~"$namespace", server_kind=~"$kind", server_name=~"$workload", server_port=~"$port", server_kind!~"(node|external)"})[$__range:$__interval]) ) )`,
        vars,
      ),
    );
    assert.deepEqual(
      conns.map((c) => `${c.metric.client_name}->${c.metric.server_name}`).sort(),
      [
        'checkoutservice->productcatalogservice',
        'frontend->203.0.113.10',
        `${HOSTILE}->db`,
        'worker-1->kubernetes',
      ].sort(),
    );
  }
});
