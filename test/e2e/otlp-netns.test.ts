/**
 * The whole pipeline into a REAL OpenTelemetry Collector, during real traffic:
 * the `ebpf_socket` receiver (eBPF on the running kernel) -> `k8s_attributes`
 * (host mode: ends named by process) -> the `otlp` exporter over gRPC -> the
 * Collector built by scripts/setup.d/40-otelcol.sh (otlp receiver -> file
 * exporter). Traffic runs between two network namespaces (prefix `lho`,
 * 10.213.0.0/16) from tcpexact clients and server, which report the bytes they
 * moved. The values the Collector wrote equal those bytes, exactly, from both
 * observers, over IPv4 (short-lived connections) and IPv6 (one long-lived
 * connection followed while open and after it closed), and every link of the
 * pipeline's last batch is in the Collector with its attributes and values.
 * Then the Collector is stopped while more traffic runs, and the counters
 * continue after it comes back, with nothing lost.
 *
 * Bytes are summed over the links of the test's port per observer: while
 * connections are polled mid-flight, host-mode identity resolution sometimes
 * names one end of a connection differently (seen: 1 of 30 server-side
 * connections with the server named `vm` (host); the client side split 8/22),
 * which splits the flow into two links whose bytes still add up exactly.
 * Needs root (CI runs as root); fails with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { linkAttributes } from '../../exporters/common/attributes.ts';
import { otlpExporterFactory } from '../../exporters/otlp/factory.ts';
import type { Topology } from '../support/netns.ts';
import type { CollectedPoint } from '../support/otelcol.ts';
import { Otelcol } from '../support/otelcol.ts';
import { linkRow, named, randomTopology, startPipeline } from '../support/pipeline.ts';
import type { Pipeline } from '../support/pipeline.ts';
import type { TestSettings } from '../support/settings.ts';
import { runClient, spawnHold, spawnServer } from '../support/tcpexact.ts';
import type { ServerProcess } from '../support/tcpexact.ts';

const CLIENT = 'lhoclient';
const SERVER = 'lhoserver';

describe(
  'otlp end to end: eBPF receiver -> k8s_attributes -> otlp -> real Collector',
  { concurrency: false },
  () => {
    let topo: Topology;
    let server: ServerProcess;
    let collector: Otelcol;
    let pipeline: Pipeline;
    let exporterSettings: TestSettings;
    let poller: NodeJS.Timeout | undefined;

    before(async () => {
      topo = await randomTopology('lho', ['client', 'server'], 213);
      server = await spawnServer(named(topo.host('server'), SERVER), { host: '::' });
      collector = await Otelcol.start();
      pipeline = await startPipeline({
        topology: topo,
        pollInterval: '1h',
        exporter: {
          factory: otlpExporterFactory,
          id: 'otlp/netns',
          config: {
            endpoint: collector.grpcEndpoint,
            interval: '200ms',
            retry: { initial_interval: '100ms', max_interval: '1s' },
          },
        },
      });
      assert.ok(pipeline.settings.exporter);
      exporterSettings = pipeline.settings.exporter;
      // Polled by the test, often: the exporter sends whatever batch is the latest at each interval.
      poller = setInterval(() => void pipeline.poll(), 100);
    });

    after(async () => {
      clearInterval(poller);
      await pipeline?.shutdown();
      await collector?.close();
      await server?.stop();
      await topo?.destroy();
    });

    /** Latest point per series of this test's server port and network type. */
    function latestSeries(
      points: readonly CollectedPoint[],
      networkType: string,
    ): Map<string, CollectedPoint> {
      const out = new Map<string, CollectedPoint>();
      for (const p of points) {
        if (!p.name.startsWith('loggerhead.link.')) continue;
        if (p.attributes['server.port'] !== server.port || p.attributes['network.type'] !== networkType)
          continue;
        const key = `${p.name} ${JSON.stringify(Object.entries(p.attributes).sort(([x], [y]) => (x < y ? -1 : 1)))}`;
        const prev = out.get(key);
        if (prev === undefined || p.timeUnixNano >= prev.timeUnixNano) out.set(key, p);
      }
      return out;
    }

    /**
     * Per observer, the sums over every link of the port (identity resolution
     * may name some connections of one flow differently: the bytes still add
     * up), as the Collector holds them.
     */
    function heldTotals(points: readonly CollectedPoint[], networkType: string) {
      const totals = {
        client: { c2s: 0, s2c: 0, closed: 0, active: 0 },
        server: { c2s: 0, s2c: 0, closed: 0, active: 0 },
      };
      for (const p of latestSeries(points, networkType).values()) {
        const t = totals[p.attributes['link.observer'] as 'client' | 'server'];
        if (t === undefined) continue;
        if (p.name === 'loggerhead.link.bytes') {
          if (p.attributes.direction === 'client_to_server') t.c2s += p.value;
          else t.s2c += p.value;
        } else if (p.name === 'loggerhead.link.connections' && p.attributes.event === 'closed')
          t.closed += p.value;
        else if (p.name === 'loggerhead.link.active_connections') t.active += p.value;
      }
      return totals;
    }

    /** Waits until, for both observers, the Collector holds exactly `expected` over the links of the port. */
    async function collectorHolds(
      networkType: 'ipv4' | 'ipv6',
      expected: { c2s: number; s2c: number; closed: number; active: number },
      timeoutMs = 30_000,
    ): Promise<CollectedPoint[]> {
      const holds = (points: CollectedPoint[]): boolean => {
        const t = heldTotals(points, networkType);
        return (
          JSON.stringify(t.client) === JSON.stringify(expected) &&
          JSON.stringify(t.server) === JSON.stringify(expected)
        );
      };
      try {
        return await collector.waitFor(
          holds,
          timeoutMs,
          `collector holds ${networkType} ${JSON.stringify(expected)}`,
        );
      } catch (e) {
        const produced = pipeline
          .links()
          .filter((l) => l.serverPort === server.port && l.networkType === networkType)
          .map(linkRow);
        const telemetry = exporterSettings.registry
          .collect()
          .filter((m) => m.name.startsWith('loggerhead.exporter.') && m.type === 'counter')
          .map((m) => [m.name, m.points.map((p) => p.value)]);
        throw new Error(
          `${(e as Error).message.split('; log:')[0]}; the collector holds ${JSON.stringify(heldTotals(collector.points(), networkType))}; the pipeline produced ${JSON.stringify(produced)}; exporter ${JSON.stringify(telemetry)}; logs ${JSON.stringify(exporterSettings.logs)}`,
          { cause: e },
        );
      }
    }

    /** Every link of the port in the pipeline's last batch is in the Collector, attributes and values exact. */
    function assertCollectorMatchesPipeline(
      points: readonly CollectedPoint[],
      networkType: 'ipv4' | 'ipv6',
    ): void {
      const series = latestSeries(points, networkType);
      const links = pipeline
        .links()
        .filter((l) => l.serverPort === server.port && l.networkType === networkType);
      assert.ok(links.length >= 2, 'both observers produced the link');
      for (const l of links) {
        const attributes = linkAttributes(l);
        const at = (name: string, extra: Record<string, string>): CollectedPoint | undefined =>
          [...series.values()].find(
            (p) =>
              p.name === name &&
              JSON.stringify(Object.entries(p.attributes).sort(([x], [y]) => (x < y ? -1 : 1))) ===
                JSON.stringify(
                  Object.entries({ ...attributes, ...extra }).sort(([x], [y]) => (x < y ? -1 : 1)),
                ),
          );
        const c2s = at('loggerhead.link.bytes', { direction: 'client_to_server' });
        assert.ok(c2s, `the collector has ${JSON.stringify(attributes)}`);
        assert.equal(c2s.value, l.bytesClientToServer);
        assert.equal(c2s.startTimeUnixNano, BigInt(l.startTimeMs) * 1_000_000n);
        assert.equal(c2s.temporality, 2);
        assert.equal(c2s.monotonic, true);
        assert.equal(c2s.unit, 'By');
        assert.equal(
          at('loggerhead.link.bytes', { direction: 'server_to_client' })?.value,
          l.bytesServerToClient,
        );
        assert.equal(at('loggerhead.link.connections', { event: 'opened' })?.value, l.connectionsOpened);
        assert.equal(at('loggerhead.link.connections', { event: 'closed' })?.value, l.connectionsClosed);
        assert.equal(at('loggerhead.link.connections', { event: 'failed' })?.value, l.connectionsFailed);
        assert.equal(at('loggerhead.link.active_connections', {})?.value, l.activeConnections);
        assert.equal(at('loggerhead.link.retransmits', {})?.value, l.retransSegs);
      }
    }

    it('short-lived IPv4 connections: the Collector holds the exact bytes, from both observers', async () => {
      const report = await runClient(named(topo.host('client'), CLIENT), {
        mode: 'many',
        host: topo.host('server').addr4,
        port: server.port,
        connections: 30,
        maxSend: 40_000,
        maxRecv: 80_000,
        seed: randomInt(1, 1_000_000),
        concurrency: 3,
      });
      await server.waitForConnections(30);
      const points = await collectorHolds('ipv4', {
        c2s: report.bytesSent,
        s2c: report.bytesReceived,
        closed: 30,
        active: 0,
      });
      assertCollectorMatchesPipeline(points, 'ipv4');
      const opened = [...latestSeries(points, 'ipv4').values()].filter(
        (p) => p.name === 'loggerhead.link.connections' && p.attributes.event === 'opened',
      );
      for (const observer of ['client', 'server'] as const) {
        assert.equal(
          opened
            .filter((p) => p.attributes['link.observer'] === observer)
            .reduce((sum, p) => sum + p.value, 0),
          30,
          `${observer}: 30 connections opened`,
        );
      }
      const attributes = opened.find(
        (p) =>
          p.attributes['client.workload.name'] === CLIENT && p.attributes['server.workload.name'] === SERVER,
      )?.attributes;
      assert.ok(attributes, 'some connections are named lhoclient -> lhoserver');
      assert.deepEqual(Object.keys(attributes).sort(), [
        'client.workload.kind',
        'client.workload.name',
        'event',
        'link.observer',
        'network.transport',
        'network.type',
        'server.port',
        'server.workload.kind',
        'server.workload.name',
      ]);
      assert.equal(attributes['client.workload.kind'], 'process');
      assert.equal(attributes['network.transport'], 'tcp');
    });

    it('a long-lived IPv6 connection, then the Collector down while traffic runs: counters continue exactly', async () => {
      const hold = await spawnHold(named(topo.host('client'), CLIENT), {
        host: topo.host('server').addr6,
        port: server.port,
        send: 1000,
        recv: 250_000,
      });
      await collectorHolds('ipv6', {
        c2s: hold.opened.bytesSent,
        s2c: hold.opened.bytesReceived,
        closed: 0,
        active: 1,
      });
      await collector.pause();
      const during = await hold.exchange(300_000, 40_000);
      await new Promise((r) => setTimeout(r, 3000));
      const closed = await hold.close();
      assert.ok(during.bytesSent > hold.opened.bytesSent);
      await collector.resume();
      await collectorHolds('ipv6', {
        c2s: closed.bytesSent,
        s2c: closed.bytesReceived,
        closed: 1,
        active: 0,
      });
      assert.equal(
        exporterSettings.logs.filter((l) => String(l.msg).startsWith('OTLP exports failing')).length,
        1,
      );
    });
  },
);
