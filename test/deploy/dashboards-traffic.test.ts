/**
 * The shipped dashboards' PromQL during real traffic through the real agent:
 * the `ebpf_socket` receiver (eBPF on the running kernel) -> `k8s_attributes`
 * (host mode: ends named by process) -> the `prometheus` exporter, scraped by a
 * real Prometheus and a real VictoriaMetrics. The queries are read from the
 * committed dashboard JSON, with Grafana's variables filled in.
 *
 * Three hosts (network namespaces, prefix `lhd`, 10.205.0.0/16) play three
 * services: `lhdweb` calls `lhdapi` and `lhddb`, `lhdapi` calls `lhddb` (so
 * `lhdapi` is a server and a client). Every socket is watched, so every
 * connection is reported by both ends, and a panel that counted a link twice
 * would show twice the bytes. The tcpexact clients report the bytes they moved.
 *
 * The window is exact by construction: one long-lived connection per link is
 * opened first and the test waits until both backends hold every series at its
 * opening values; then the traffic of the window runs (more exchanges, one
 * more connection opened and closed, two connections closed), and the test
 * waits until both backends hold the final values; a shaped bridge port drops
 * packets toward `lhdweb`, so the servers retransmit (how many segments is the
 * kernel's business: the panels must equal the pipeline's own counts).
 * `increase()` over the window then equals the bytes sent during it:
 * - VictoriaMetrics does not extrapolate: `$__range` is whole seconds, as
 *   Grafana sends it for a dashboard ending at the last scrape, and the window
 *   starts while the counters are flat at their opening values.
 * - Prometheus extrapolates towards window edges without a sample: `$__range`
 *   is the exact span (ms) between two of its stored samples, the first one at
 *   the opening values, evaluated at the last one (the exporter README's exact
 *   `increase()`); Grafana's whole seconds would blur it by a fraction of a scrape.
 * Per-second panels (time series in Grafana, checked here at their last point)
 * get `$__rate_interval` = the window: rows and their order are checked, and
 * with Prometheus the value too (its `rate()` is the exact increase over the window).
 * Needs root (CI runs as root); fails with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Link } from '../../core/signals.ts';
import { DASHBOARDS, DASHBOARD_DIRS, QUERIES } from '../../deploy/dashboards/dashboards.ts';
import type { QueryName } from '../../deploy/dashboards/dashboards.ts';
import { prometheusExporterFactory } from '../../exporters/prometheus/factory.ts';
import type { PrometheusExporter } from '../../exporters/prometheus/factory.ts';
import { startPrometheus, startVictoriaMetrics } from '../support/backends.ts';
import type { Backend, Series } from '../support/backends.ts';
import type { Topology } from '../support/netns.ts';
import { named, randomTopology, startPipeline, sumLinks } from '../support/pipeline.ts';
import type { LinkTotals, Pipeline } from '../support/pipeline.ts';
import { spawnHold, spawnServer } from '../support/tcpexact.ts';
import type { ClientReport, HoldProcess, ServerProcess } from '../support/tcpexact.ts';

const WEB = 'lhdweb';
const API = 'lhdapi';
const DB = 'lhddb';
const SCRAPE_MS = 500;
/**
 * A server socket's command comes from its first receive and is frozen once the socket is reported:
 * a poll between the accept and the first receive leaves it without one, and host mode then names
 * that end by the host. Polls 1 s apart make it rare; the test fails naming it when it happens.
 */
const POLL_INTERVAL = '1s';

interface Bytes {
  c2s: number;
  s2c: number;
}

const sent = (r: ClientReport): Bytes => ({ c2s: r.bytesSent, s2c: r.bytesReceived });
const plus = (a: Bytes, b: Bytes): Bytes => ({ c2s: a.c2s + b.c2s, s2c: a.s2c + b.s2c });
const minus = (a: Bytes, b: Bytes): Bytes => ({ c2s: a.c2s - b.c2s, s2c: a.s2c - b.s2c });
const both = (b: Bytes): number => b.c2s + b.s2c;

/** A dashboard target: the panel it belongs to, and the query it runs. */
interface PanelQuery {
  where: string;
  name: QueryName;
  expr: string;
}

/** Every target of every committed dashboard, with the name of the query it is; fails on an unknown one. */
function committedQueries(): PanelQuery[] {
  const names = new Map<string, QueryName>(
    Object.entries(QUERIES).map(([name, expr]) => [expr, name as QueryName]),
  );
  const out: PanelQuery[] = [];
  for (const file of Object.keys(DASHBOARDS)) {
    const d = JSON.parse(readFileSync(join(DASHBOARD_DIRS[0], file), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ refId: string; expr: string }> }>;
      templating: { list: Array<{ name: string; definition?: string }> };
    };
    for (const p of d.panels) {
      for (const t of p.targets) {
        const name = names.get(t.expr);
        assert.ok(name !== undefined, `${file}: panel ${p.title} runs a query dashboards.ts does not define`);
        out.push({ where: `${file} / ${p.title} / ${t.refId}`, name, expr: t.expr });
      }
    }
    const variable = d.templating.list.find((v) => v.name === 'namespace');
    const inner = /^query_result\((.*)\)$/s.exec(variable?.definition ?? '')?.[1];
    assert.ok(inner !== undefined, `${file}: no query_result() namespace variable`);
    const name = names.get(inner);
    assert.ok(name !== undefined, `${file}: the namespace variable runs an unknown query`);
    out.push({ where: `${file} / variable namespace`, name, expr: inner });
  }
  return out;
}

/** Grafana's substitution: `$__range` and `$__rate_interval` as given, `$namespace` at "All" (its allValue). */
function grafana(expr: string, range: string): string {
  return expr
    .replaceAll('$__rate_interval', range)
    .replaceAll('$__range', range)
    .replaceAll('$namespace', '.*');
}

/** Series keyed by the given labels joined with '|'; fails on two series with one key. */
function byLabels(series: Series[], labels: readonly string[], what: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of series) {
    const key = labels.map((l) => s.metric[l] ?? '').join('|');
    assert.ok(!out.has(key), `${what}: two series for ${key}`);
    out.set(key, Number(s.value?.[1]));
  }
  return out;
}

describe(
  'dashboards during real traffic: ebpf_socket -> k8s_attributes -> prometheus',
  { concurrency: false },
  () => {
    let topo: Topology;
    let apiServer: ServerProcess;
    let dbServer: ServerProcess;
    let pipeline: Pipeline<PrometheusExporter>;
    let prom: Backend;
    let vm: Backend;
    /** Per backend: the `$__range` and evaluation time that make the window exact. */
    const windows = new Map<Backend, { range: string; rangeS: number; timeS: number }>();
    /** Bytes of the window per link key `client|server|port`. */
    let linkBytes = new Map<string, Bytes>();
    /** Retransmitted segments per link key during the window, from the pipeline's own batches. */
    let retrans = new Map<string, number>();
    let ports = { api: 0, db: 0 };

    /** Sums of the pipeline's last batch per `client|server|port|observer`. */
    const pipelineTotals = (): Map<string, LinkTotals> =>
      sumLinks(pipeline.links(), (l) => `${l.client.name}|${l.server.name}|${l.serverPort}|${l.observer}`);

    const mine = (): Link[] =>
      pipeline.links().filter((l) => l.serverPort === ports.api || l.serverPort === ports.db);

    /** Links of the scenario with an end named by the host rather than by its process. */
    const unnamed = (): Link[] => mine().filter((l) => l.client.kind === 'host' || l.server.kind === 'host');

    /** Waits until the pipeline, then both backends, hold exactly `want` (per link, both observers). */
    async function settle(want: Map<string, Bytes>, what: string): Promise<void> {
      const expected = new Map<string, number>();
      for (const [k, v] of want) {
        for (const o of ['client', 'server']) {
          expected.set(`${k}|${o}|client_to_server`, v.c2s);
          expected.set(`${k}|${o}|server_to_client`, v.s2c);
        }
      }
      await pipeline.sink
        .waitFor(() => {
          if (unnamed().length > 0) return true;
          const got = pipelineTotals();
          if (got.size !== want.size * 2) return false;
          return [...want].every(([k, v]) =>
            ['client', 'server'].every((o) => {
              const t = got.get(`${k}|${o}`);
              return t?.c2s === v.c2s && t.s2c === v.s2c;
            }),
          );
        }, 30_000)
        .catch((error: unknown) => {
          throw new Error(`${String(error)}: pipeline at ${what}; links: ${JSON.stringify(mine())}`);
        });
      const hosts = unnamed();
      if (hosts.length > 0) {
        throw new Error(
          `a server socket was reported before its first receive, so without a command (receivers/ebpf_socket ` +
            `README, "Pid and command"), and host mode named its end by the host: ${JSON.stringify(hosts)}`,
        );
      }
      for (const b of [prom, vm]) {
        await b.waitFor(
          async () => {
            const got = byLabels(
              await b.query('loggerhead_link_bytes_total'),
              ['client_workload_name', 'server_workload_name', 'server_port', 'link_observer', 'direction'],
              b.kind,
            );
            return got.size === expected.size && [...expected].every(([k, v]) => got.get(k) === v);
          },
          `every link at ${what}`,
          30_000,
        );
      }
    }

    /** Timestamps (s) of the raw samples of one link series, and its values. */
    async function raw(b: Backend): Promise<Array<[number, string]>> {
      const [s] = await b.query(
        `loggerhead_link_bytes_total{client_workload_name="${WEB}",server_workload_name="${API}",link_observer="client",direction="client_to_server"}[10m]`,
      );
      assert.ok(s?.values !== undefined, `${b.kind}: no samples of ${WEB} -> ${API}`);
      return s.values;
    }

    before(async () => {
      topo = await randomTopology('lhd', ['web', 'api', 'db'], 205);
      apiServer = await spawnServer(named(topo.host('api'), API), { host: '::' });
      dbServer = await spawnServer(named(topo.host('db'), DB), { host: '::' });
      ports = { api: apiServer.port, db: dbServer.port };
      pipeline = await startPipeline<PrometheusExporter>({
        topology: topo,
        pollInterval: POLL_INTERVAL,
        exporter: {
          factory: prometheusExporterFactory,
          id: 'prometheus',
          config: { endpoint: '127.0.0.1:0' },
        },
      });
      const target = `127.0.0.1:${pipeline.exporter.boundEndpoint?.port}`;
      [prom, vm] = await Promise.all([
        startPrometheus({ targets: [target], scrapeIntervalMs: SCRAPE_MS }),
        startVictoriaMetrics({ targets: [target], scrapeIntervalMs: SCRAPE_MS }),
      ]);

      // One long-lived connection per link, each at its opening exchange (16 header bytes one way).
      const api = topo.host('api').addr4;
      const db = topo.host('db').addr4;
      const open = (from: string, title: string, host: string, port: number): Promise<HoldProcess> =>
        spawnHold(named(topo.host(from), title), { host, port, send: 0, recv: 0 });
      const [webApi, webDb, apiDb] = await Promise.all([
        open('web', WEB, api, ports.api),
        open('web', WEB, db, ports.db),
        open('api', API, db, ports.db),
      ]);
      const kWebApi = `${WEB}|${API}|${ports.api}`;
      const kWebDb = `${WEB}|${DB}|${ports.db}`;
      const kApiDb = `${API}|${DB}|${ports.db}`;
      const opening = new Map<string, Bytes>([
        [kWebApi, sent(webApi.opened)],
        [kWebDb, sent(webDb.opened)],
        [kApiDb, sent(apiDb.opened)],
      ]);
      for (const v of opening.values()) assert.deepEqual(v, { c2s: 16, s2c: 0 });
      await settle(opening, 'the opening values');
      const retransAtStart = pipelineTotals();
      const flatFromS = Date.now() / 1000;
      // Flat counters for a while: VictoriaMetrics' whole-second window starts in here.
      await new Promise((r) => setTimeout(r, 1500));
      const [promStart] = (await raw(prom)).slice(-1);
      assert.ok(promStart !== undefined && promStart[1] === '16');
      const trafficFromS = Date.now() / 1000;
      // Drops in the "network" toward web (the bridge port): the servers' sockets retransmit.
      await topo
        .host('web')
        .shape({ direction: 'ingress', rateKbit: 100_000, burstBytes: 16_384, limitBytes: 16_384 });

      // The traffic of the window.
      await webApi.exchange(100_000, 400_000);
      const fourth = await open('web', WEB, api, ports.api);
      await fourth.exchange(1_000, 20_000);
      await webDb.exchange(50_000, 1_000_000);
      await apiDb.exchange(300_000, 30_000);
      await webApi.exchange(7, 3_000);
      await topo.host('web').unshape('ingress');
      // Seen open by a poll before it closes.
      await new Promise((r) => setTimeout(r, 1500));
      const fourthClosed = await fourth.close();
      const webApiClosed = await webApi.close();
      await apiServer.waitForConnections(2);
      const final = new Map<string, Bytes>([
        [kWebApi, plus(sent(webApiClosed), sent(fourthClosed))],
        [kWebDb, sent(await webDb.exchange(0, 0))],
        [kApiDb, sent(await apiDb.exchange(0, 0))],
      ]);
      await settle(final, 'the final values');
      const retransAtEnd = pipelineTotals();
      linkBytes = new Map([...final].map(([k, v]) => [k, minus(v, opening.get(k) ?? { c2s: 0, s2c: 0 })]));
      retrans = new Map(
        [...final.keys()].map((k) => [
          k,
          ['client', 'server'].reduce(
            (sum, o) =>
              sum +
              (retransAtEnd.get(`${k}|${o}`)?.retrans ?? 0) -
              (retransAtStart.get(`${k}|${o}`)?.retrans ?? 0),
            0,
          ),
        ]),
      );
      // Two more scrapes of the final values in both backends.
      await new Promise((r) => setTimeout(r, 3 * SCRAPE_MS));

      const promSamples = await raw(prom);
      const promEnd = promSamples[promSamples.length - 1];
      assert.ok(promEnd !== undefined);
      const windowMs = Math.round((promEnd[0] - promStart[0]) * 1000);
      windows.set(prom, { range: `${windowMs}ms`, rangeS: windowMs / 1000, timeS: promEnd[0] });
      const vmSamples = await raw(vm);
      const vmEnd = vmSamples[vmSamples.length - 1];
      assert.ok(vmEnd !== undefined);
      // Whole seconds, the window's start between the opening values' storage and the traffic.
      const rangeS = Math.floor(vmEnd[0] - flatFromS - 0.1);
      assert.ok(
        vmEnd[0] - rangeS < trafficFromS - 0.1,
        `VictoriaMetrics window start ${vmEnd[0] - rangeS} in the flat period [${flatFromS}, ${trafficFromS}]`,
      );
      windows.set(vm, { range: `${rangeS}s`, rangeS, timeS: vmEnd[0] });
    });

    after(async () => {
      await pipeline?.shutdown();
      await Promise.all([prom?.stop(), vm?.stop()]);
      await apiServer?.stop();
      await dbServer?.stop();
      await topo?.destroy();
    });

    /** What each query must return: rows by labels and their values, or for rates, rows in order. */
    function expectations(): Record<
      QueryName,
      { labels: string[]; rows: Map<string, number>; rate?: true; variable?: true }
    > {
      const windowBytes = (k: string): Bytes => linkBytes.get(k) ?? { c2s: NaN, s2c: NaN };
      const kWebApi = `${WEB}|${API}|${ports.api}`;
      const kWebDb = `${WEB}|${DB}|${ports.db}`;
      const kApiDb = `${API}|${DB}|${ports.db}`;
      const [webApi, webDb, apiDb] = [windowBytes(kWebApi), windowBytes(kWebDb), windowBytes(kApiDb)];
      const node = (name: string): string => `/process/${name}`;
      const link3 = ['client_workload_name', 'server_workload_name', 'server_port'];
      const perLink = (v: (k: string) => number): Map<string, number> =>
        new Map([kWebApi, kWebDb, kApiDb].map((k) => [k, v(k)]));
      const failed = new Map<string, number>();
      return {
        mapEdges: {
          labels: ['id', 'source', 'target'],
          rows: new Map([
            [`${node(WEB)} -> ${node(API)}|${node(WEB)}|${node(API)}`, both(webApi)],
            [`${node(WEB)} -> ${node(DB)}|${node(WEB)}|${node(DB)}`, both(webDb)],
            [`${node(API)} -> ${node(DB)}|${node(API)}|${node(DB)}`, both(apiDb)],
          ]),
        },
        mapNodes: {
          labels: ['id', 'title', 'subtitle', 'detail__namespace'],
          rows: new Map([
            [`${node(WEB)}|${WEB}|process|`, both(webApi) + both(webDb)],
            [`${node(API)}|${API}|process|`, both(webApi) + both(apiDb)],
            [`${node(DB)}|${DB}|process|`, both(webDb) + both(apiDb)],
          ]),
        },
        // Host mode names no namespace: Grafana's regex (`ns="(.+)"`) keeps no value, the variable offers "All" only.
        namespaces: { labels: ['ns'], rows: new Map(), variable: true },
        topLinks: {
          labels: [
            'client_k8s_namespace_name',
            'client_workload_name',
            'server_k8s_namespace_name',
            'server_workload_name',
            'server_port',
          ],
          rows: new Map([
            [`|${WEB}||${API}|${ports.api}`, both(webApi)],
            [`|${WEB}||${DB}|${ports.db}`, both(webDb)],
            [`|${API}||${DB}|${ports.db}`, both(apiDb)],
          ]),
        },
        linkThroughput: { labels: link3, rows: perLink((k) => both(windowBytes(k))), rate: true },
        topClients: {
          labels: ['client_k8s_namespace_name', 'client_workload_name'],
          rows: new Map([
            [`|${WEB}`, webApi.c2s + webDb.c2s],
            [`|${API}`, apiDb.c2s],
          ]),
        },
        topServers: {
          labels: ['server_k8s_namespace_name', 'server_workload_name'],
          rows: new Map([
            [`|${API}`, webApi.s2c],
            [`|${DB}`, webDb.s2c + apiDb.s2c],
          ]),
        },
        // Open now: web -> db and api -> db; the two web -> api connections closed.
        activeTotal: { labels: [], rows: new Map([['', 2]]) },
        activeByLink: { labels: link3, rows: perLink((k) => (k === kWebApi ? 0 : 1)) },
        // One connection opened in the window (web -> api); the others were open before it.
        openedTotal: { labels: [], rows: new Map([['', 1]]) },
        openedRateByLink: { labels: link3, rows: perLink((k) => (k === kWebApi ? 1 : 0)), rate: true },
        failedTotal: { labels: [], rows: new Map([['', 0]]) },
        failedRateByLink: { labels: link3, rows: failed, rate: true },
        failingLinks: { labels: link3, rows: failed },
        retransmitsTotal: {
          labels: [],
          rows: new Map([['', [...retrans.values()].reduce((a, b) => a + b, 0)]]),
        },
        retransmitRateByLink: {
          labels: link3,
          rows: new Map([...retrans].filter(([, v]) => v > 0)),
          rate: true,
        },
      };
    }

    it('the links in the pipeline are the three of the scenario, named by process', () => {
      const names = new Set(
        mine().map((l) => `${l.client.kind}/${l.client.name} -> ${l.server.kind}/${l.server.name}`),
      );
      assert.deepEqual([...names].sort(), [
        `process/${API} -> process/${DB}`,
        `process/${WEB} -> process/${API}`,
        `process/${WEB} -> process/${DB}`,
      ]);
    });

    it('the shaped bridge port made the servers retransmit during the window', () => {
      assert.ok(
        [...retrans.values()].some((v) => v > 0),
        `retransmitted segments per link: ${JSON.stringify([...retrans])}`,
      );
    });

    for (const kind of ['prometheus', 'victoria-metrics'] as const) {
      it(`every panel of every dashboard returns the scenario's nodes, edges and values in ${kind}`, async () => {
        const b = kind === 'prometheus' ? prom : vm;
        const w = windows.get(b);
        assert.ok(w !== undefined);
        const want = expectations();
        const seen = new Set<QueryName>();
        for (const q of committedQueries()) {
          seen.add(q.name);
          const e = want[q.name];
          const what: string = `${kind}: ${q.where} (${q.name}, range ${w.range} at ${w.timeS})`;
          const got = byLabels(await b.query(grafana(q.expr, w.range), w.timeS), e.labels, what);
          if (e.variable === true) {
            assert.deepEqual(
              [...got.keys()].filter((k) => k !== ''),
              [...e.rows.keys()],
              `${what}: variable values`,
            );
            continue;
          }
          assert.deepEqual([...got.keys()].sort(), [...e.rows.keys()].sort(), `${what}: rows`);
          if (e.rate === undefined) {
            assert.deepEqual(got, e.rows, `${what}: values`);
            continue;
          }
          const order = (m: Map<string, number>): string[] =>
            [...m].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0])).map(([k]) => k);
          assert.deepEqual(order(got), order(e.rows), `${what}: order`);
          for (const [k, v] of got) {
            const exact = (e.rows.get(k) ?? NaN) / w.rangeS;
            if (kind === 'prometheus') {
              assert.ok(
                Math.abs(v - exact) <= 1e-9 * Math.max(1, exact),
                `${what}: ${k} = ${v}, want ${exact}`,
              );
            } else {
              assert.ok(exact === 0 ? v === 0 : v > 0, `${what}: ${k} = ${v}`);
            }
          }
        }
        assert.deepEqual([...seen].sort(), Object.keys(QUERIES).sort(), 'the dashboards run every query');
      });
    }
  },
);
