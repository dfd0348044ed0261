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
import { Document } from 'yaml';
import { validateConfig } from '../../core/config/validate.ts';
import type { Consumer, LinkBatch } from '../../core/signals.ts';
import { prometheusExporterFactory } from '../../exporters/prometheus/factory.ts';
import type { PrometheusExporter, PrometheusExporterConfig } from '../../exporters/prometheus/factory.ts';
import { k8sAttributesProcessorFactory } from '../../processors/k8s_attributes/factory.ts';
import type { K8sAttributesConfig } from '../../processors/k8s_attributes/factory.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import { startPrometheus, startVictoriaMetrics } from '../support/backends.ts';
import type { Backend, Series } from '../support/backends.ts';
import { createTopology } from '../support/netns.ts';
import type { NetnsHost, Topology } from '../support/netns.ts';
import { testHost, testSettings } from '../support/settings.ts';
import { Sink } from '../support/sink.ts';
import { runClient, spawnHold, spawnServer } from '../support/tcpexact.ts';
import type { HoldProcess, ServerProcess, Spawner } from '../support/tcpexact.ts';
import type { Component } from '../../core/component.ts';

function validated<T>(
  factory: { configSchema: Parameters<typeof validateConfig>[1] },
  yaml: object,
  path: string,
): T {
  const { value, issues } = validateConfig(new Document(yaml).contents, factory.configSchema, { path });
  assert.deepEqual(issues, []);
  return value as T;
}

/** Runs node inside `host` with `process.title` (so the main thread's comm, the name host mode reports) set first. */
function named(host: NetnsHost, title: string): Spawner {
  const setTitle = `data:text/javascript,process.title=${JSON.stringify(title)}`;
  return { spawn: (cmd, args, options) => host.spawn(cmd, ['--import', setTitle, ...args], options) };
}

const CLIENT = 'lhxclient';
const SERVER = 'lhxserver';

describe(
  'real traffic: ebpf_socket -> k8s_attributes -> prometheus, scraped by Prometheus and VictoriaMetrics',
  { concurrency: false },
  () => {
    let topo: Topology;
    let server: ServerProcess;
    let exporter: PrometheusExporter;
    const components: Component[] = [];
    const sink = new Sink<LinkBatch>();
    let prom: Backend;
    let vm: Backend;

    before(async () => {
      const n = randomInt(0, 256);
      topo = await createTopology({
        prefix: 'lhx',
        hosts: ['client', 'server'],
        subnet4: `10.203.${n}.0/24`,
        subnet6: `fd00:203::${n.toString(16)}00/120`,
      });
      server = await spawnServer(named(topo.host('server'), SERVER), { host: '::' });
      exporter = prometheusExporterFactory.create(
        testSettings('prometheus'),
        validated<PrometheusExporterConfig>(
          prometheusExporterFactory,
          { endpoint: '127.0.0.1:0', caretta_compatible: true },
          'exporters::prometheus',
        ),
      ) as PrometheusExporter;
      await exporter.start(testHost());
      components.push(exporter);
      const fanout: Consumer<LinkBatch> = {
        consume: async (batch) => {
          await exporter.consume(batch);
          await sink.consume(batch);
        },
      };
      const processor = k8sAttributesProcessorFactory.create(
        testSettings('k8s_attributes'),
        validated<K8sAttributesConfig>(
          k8sAttributesProcessorFactory,
          { mode: 'host', dns: { enabled: false } },
          'processors::k8s_attributes',
        ),
        fanout,
      );
      await processor.start(testHost());
      components.unshift(processor);
      const receiver = ebpfSocketReceiverFactory.create(
        testSettings('ebpf_socket'),
        validated(
          ebpfSocketReceiverFactory,
          { poll_interval: '250ms', network_namespaces: topo.hosts.map((h) => `/run/netns/${h.netns}`) },
          'receivers::ebpf_socket',
        ),
        processor,
      );
      await receiver.start(testHost());
      components.unshift(receiver);
      const target = `127.0.0.1:${exporter.boundEndpoint?.port}`;
      [prom, vm] = await Promise.all([
        startPrometheus({ targets: [target] }),
        startVictoriaMetrics({ targets: [target] }),
      ]);
    });

    after(async () => {
      for (const c of components) await c.shutdown();
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
      await sink
        .waitFor(() => {
          const sums = new Map<string, number>();
          for (const l of sink.last()?.links ?? []) {
            if (l.serverPort !== server.port || l.networkType !== 'ipv4') continue;
            if (l.client.name !== CLIENT && l.server.name !== SERVER) continue;
            if (l.client.name !== CLIENT || l.server.name !== SERVER) return false;
            sums.set(
              `${l.observer}|client_to_server`,
              (sums.get(`${l.observer}|client_to_server`) ?? 0) + l.bytesClientToServer,
            );
            sums.set(
              `${l.observer}|server_to_client`,
              (sums.get(`${l.observer}|server_to_client`) ?? 0) + l.bytesServerToClient,
            );
          }
          return [...want(total)].every(([k, v]) => sums.get(k) === v);
        }, 20_000)
        .catch((error: unknown) => {
          const mine = (sink.last()?.links ?? []).filter((l) => l.serverPort === server.port);
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
        await b
          .waitFor(
            async () => {
              const got = perSeries(await b.query(`loggerhead_link_bytes_total${selector()}`), (s) =>
                Number(s.value?.[1]),
              );
              return [...want(opened)].every(([k, v]) => got.get(k) === v) && got.size === 4;
            },
            'the link at its opening values',
            60_000,
          )
          .catch(async (error: unknown) => {
            const mine = (sink.last()?.links ?? []).filter((l) => l.serverPort === server.port);
            throw new Error(`${String(error)}; links in the last batch: ${JSON.stringify(mine)}`);
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
