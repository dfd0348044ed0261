/**
 * The whole pipeline against real backends, during real traffic: the
 * `ebpf_socket` receiver (eBPF on the running kernel) -> `k8s_attributes`
 * (host mode: ends named by process) -> the `prometheus` exporter, scraped by a
 * real Prometheus and a real VictoriaMetrics started by the test. Traffic runs
 * between two network namespaces (prefix `lhx`, 10.203.0.0/16) from tcpexact
 * clients and server, which report the bytes they moved, to the byte.
 *
 * The window is exact by construction: a long-lived connection is opened first
 * (its opening exchange is 16 header bytes one way, 0 the other), and the test
 * waits until both backends have stored a sample of the link at that value.
 * Then the traffic runs (three more exchanges on that connection), and the
 * connection closes. `increase()` over a window that starts exactly at the
 * first stored sample and ends exactly at the last one, evaluated at the last
 * one, must equal the bytes sent after the opening exchange: Prometheus does not extrapolate at either end when both
 * ends hold a sample (its range is closed on the left in 2.42), and
 * VictoriaMetrics takes last - (sample before the window), the first sample.
 * The last raw sample must also equal the client's total, opening included.
 * A second test adds 30 short-lived connections on the same link and checks
 * that every byte reaches both backends, from both observers.
 * Needs root (CI runs as root); fails with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { prometheusExporterFactory } from '../../exporters/prometheus/factory.ts';
import type { PrometheusExporter } from '../../exporters/prometheus/factory.ts';
import { startPrometheus, startVictoriaMetrics } from '../support/backends.ts';
import type { Backend, Series } from '../support/backends.ts';
import type { Topology } from '../support/netns.ts';
import { named, randomTopology, startPipeline, sumLinks } from '../support/pipeline.ts';
import type { Pipeline } from '../support/pipeline.ts';
import { runClient, spawnHold, spawnServer } from '../support/tcpexact.ts';
import type { HoldProcess, ServerProcess } from '../support/tcpexact.ts';

const CLIENT = 'lhxclient';
const SERVER = 'lhxserver';

describe(
  'real traffic: ebpf_socket -> k8s_attributes -> prometheus, scraped by Prometheus and VictoriaMetrics',
  { concurrency: false },
  () => {
    let topo: Topology;
    let server: ServerProcess;
    let pipeline: Pipeline<PrometheusExporter>;
    let prom: Backend;
    let vm: Backend;

    before(async () => {
      topo = await randomTopology('lhx', ['client', 'server'], 203);
      server = await spawnServer(named(topo.host('server'), SERVER), { host: '::' });
      pipeline = await startPipeline<PrometheusExporter>({
        topology: topo,
        pollInterval: '250ms',
        exporter: {
          factory: prometheusExporterFactory,
          id: 'prometheus',
          config: { endpoint: '127.0.0.1:0', caretta_compatible: true },
        },
      });
      const target = `127.0.0.1:${pipeline.exporter.boundEndpoint?.port}`;
      [prom, vm] = await Promise.all([
        startPrometheus({ targets: [target] }),
        startVictoriaMetrics({ targets: [target] }),
      ]);
    });

    after(async () => {
      await pipeline?.shutdown();
      await Promise.all([prom?.stop(), vm?.stop()]);
      await server?.stop();
      await topo?.destroy();
    });

    /** Our link's series, optionally narrowed by more matchers (`,link_observer="client"`). */
    const selector = (more = ''): string =>
      `{client_workload_name="${CLIENT}",server_workload_name="${SERVER}",server_port="${server.port}",network_type="ipv4"${more}}`;

    /** Bytes per `link_observer|direction` of our link in a query answer. */
    function perSeries(series: Series[], pick: (s: Series) => number): Map<string, number> {
      return new Map(series.map((s) => [`${s.metric.link_observer}|${s.metric.direction}`, pick(s)]));
    }

    const want = (v: { c2s: number; s2c: number }): Map<string, number> =>
      new Map([
        ['client|client_to_server', v.c2s],
        ['client|server_to_client', v.s2c],
        ['server|client_to_server', v.c2s],
        ['server|server_to_client', v.s2c],
      ]);

    /**
     * Waits until the pipeline, then both backends, hold `total` on every series of `query`, per
     * observer and direction. In the pipeline, every link of the port with one of our names must
     * carry both names exactly (no end named after the host or an address).
     */
    async function settle(query: string, total: { c2s: number; s2c: number }): Promise<void> {
      await pipeline.sink
        .waitFor(() => {
          const ours = pipeline
            .links()
            .filter(
              (l) =>
                l.serverPort === server.port &&
                l.networkType === 'ipv4' &&
                (l.client.name === CLIENT || l.server.name === SERVER),
            );
          if (ours.some((l) => l.client.name !== CLIENT || l.server.name !== SERVER)) return false;
          const sums = sumLinks(ours, (l) => l.observer);
          return (['client', 'server'] as const).every(
            (o) => sums.get(o)?.c2s === total.c2s && sums.get(o)?.s2c === total.s2c,
          );
        }, 20_000)
        .catch((error: unknown) => {
          const mine = pipeline.links().filter((l) => l.serverPort === server.port);
          throw new Error(`${String(error)}; want ${JSON.stringify(total)}; links: ${JSON.stringify(mine)}`);
        });
      for (const b of [prom, vm]) {
        await b.waitFor(
          async () => {
            const got = perSeries(await b.query(query), (s) => Number(s.value?.[1]));
            return [...want(total)].every(([k, v]) => got.get(k) === v);
          },
          `the final values of ${query}`,
          30_000,
        );
      }
    }

    let afterHold = { c2s: 0, s2c: 0 };

    it('increase() over the test window equals the bytes the client and server sent, per observer and direction, in both backends', async () => {
      const srv = topo.host('server');
      const hold: HoldProcess = await spawnHold(named(topo.host('client'), CLIENT), {
        host: srv.addr4,
        port: server.port,
        send: 0,
        recv: 0,
      });
      const opened = { c2s: hold.opened.bytesSent, s2c: hold.opened.bytesReceived };
      assert.deepEqual(opened, { c2s: 16, s2c: 0 });
      // Both observers' series of the link, stored at the opening values, in both backends.
      for (const b of [prom, vm]) {
        let got = new Map<string, number>();
        await b
          .waitFor(
            async () => {
              got = perSeries(await b.query(`loggerhead_link_bytes_total${selector()}`), (s) =>
                Number(s.value?.[1]),
              );
              return [...want(opened)].every(([k, v]) => got.get(k) === v) && got.size === 4;
            },
            'the link at its opening values',
            60_000,
          )
          .catch(async (error: unknown) => {
            // Which side failed: the agent's links, what the backend stored, and its scrapes.
            const mine = pipeline.links().filter((l) => l.serverPort === server.port);
            const targets = await b.targets().catch((e: unknown) => String(e));
            throw new Error(
              `${String(error)}; links in the last batch: ${JSON.stringify(mine)}; ${b.kind} holds ${JSON.stringify([...got])}; its scrape targets: ${JSON.stringify(targets)}`,
            );
          });
      }

      // The traffic of the window, then the close.
      await hold.exchange(123_457, 654_321);
      await hold.exchange(7, 1_000_003);
      await hold.exchange(65_536, 0);
      const closed = await hold.close();
      await server.waitForConnections(1);
      const total = { c2s: closed.bytesSent, s2c: closed.bytesReceived };
      afterHold = total;
      await settle(`loggerhead_link_bytes_total${selector()}`, total);
      await new Promise((r) => setTimeout(r, 2500));
      for (const b of [prom, vm]) {
        const raw = await b.query(`loggerhead_link_bytes_total${selector()}[1h]`);
        assert.equal(raw.length, 4, `${b.kind}: 2 observers x 2 directions`);
        const first = Math.max(...raw.map((s) => s.values?.[0]?.[0] ?? 0));
        const last = Math.min(...raw.map((s) => s.values?.[s.values.length - 1]?.[0] ?? 0));
        assert.deepEqual(
          perSeries(raw, (s) => Number(s.values?.[0]?.[1])),
          want(opened),
          `${b.kind}: each series starts at the opening values`,
        );
        assert.deepEqual(
          perSeries(raw, (s) => Number(s.values?.[s.values.length - 1]?.[1])),
          want(total),
          `${b.kind}: the last raw samples are the client's totals`,
        );
        const windowMs = Math.round((last - first) * 1000);
        const increase = await b.query(
          `increase(loggerhead_link_bytes_total${selector()}[${windowMs}ms])`,
          last,
        );
        assert.deepEqual(
          perSeries(increase, (s) => Number(s.value?.[1])),
          want({ c2s: total.c2s - opened.c2s, s2c: total.s2c - opened.s2c }),
          `${b.kind}: increase() over [${first}, ${last}] at ${last}`,
        );
      }
      // Caretta's view of the same link: role 1 = the client socket's sent bytes, role 2 = the server socket's.
      const caretta = await prom.query(
        `caretta_links_observed{client_name="${CLIENT}",server_port="${server.port}"}`,
      );
      assert.deepEqual(
        new Map(caretta.map((s) => [s.metric.role, Number(s.value?.[1])])),
        new Map([
          ['1', total.c2s],
          ['2', total.s2c],
        ]),
      );
      const opens = await prom.query(`loggerhead_link_connections_total${selector(',event="opened"')}`);
      assert.deepEqual(
        opens.map((s) => Number(s.value?.[1])),
        [1, 1],
        'both observers counted the connection',
      );
    });

    it('30 short-lived connections on the same link: every byte is exported, from both observers', async () => {
      const srv = topo.host('server');
      const many = await runClient(named(topo.host('client'), CLIENT), {
        mode: 'many',
        host: srv.addr4,
        port: server.port,
        connections: 30,
        maxSend: 50_000,
        maxRecv: 80_000,
        seed: randomInt(1, 1_000_000),
        concurrency: 3,
      });
      await server.waitForConnections(31);
      const total = { c2s: afterHold.c2s + many.bytesSent, s2c: afterHold.s2c + many.bytesReceived };
      // Both ends named by process on every connection, those that opened and closed between two
      // polls too: one series per observer and direction holds every byte.
      await settle(`loggerhead_link_bytes_total${selector()}`, total);
    });
  },
);
