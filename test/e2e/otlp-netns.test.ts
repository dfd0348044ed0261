/**
 * The whole pipeline into a REAL OpenTelemetry Collector, during real traffic:
 * the `ebpf_socket` receiver (eBPF on the running kernel) -> `k8s_attributes`
 * (host mode: ends named by process) -> the `otlp` exporter over gRPC -> the
 * Collector built by scripts/setup.d/40-otelcol.sh (otlp receiver -> file
 * exporter). Traffic runs between two network namespaces (prefix `lho`,
 * 10.213.0.0/16) from tcpexact clients and server, which report the bytes they
 * moved. The values the Collector wrote equal those bytes, exactly, from both
 * observers, over IPv4 (short-lived connections) and IPv6 (one long-lived
 * connection followed while open and after it closed). Then the Collector is
 * stopped while more traffic runs, and the counters continue after it comes
 * back, with nothing lost.
 * Needs root (CI runs as root); fails with the reason otherwise.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Document } from 'yaml';
import type { Component } from '../../core/component.ts';
import { validateConfig } from '../../core/config/validate.ts';
import type { Consumer, LinkBatch } from '../../core/signals.ts';
import type { OtlpExporterConfig } from '../../exporters/otlp/factory.ts';
import { otlpExporterFactory } from '../../exporters/otlp/factory.ts';
import { k8sAttributesProcessorFactory } from '../../processors/k8s_attributes/factory.ts';
import type { K8sAttributesConfig } from '../../processors/k8s_attributes/factory.ts';
import { ebpfSocketReceiverFactory } from '../../receivers/ebpf_socket/factory.ts';
import { EbpfSocketReceiver } from '../../receivers/ebpf_socket/receiver.ts';
import { createTopology } from '../support/netns.ts';
import type { NetnsHost, Topology } from '../support/netns.ts';
import type { CollectedPoint } from '../support/otelcol.ts';
import { Otelcol } from '../support/otelcol.ts';
import { testHost, testSettings } from '../support/settings.ts';
import { runClient, spawnHold, spawnServer } from '../support/tcpexact.ts';
import type { ServerProcess, Spawner } from '../support/tcpexact.ts';

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

const CLIENT = 'lhoclient';
const SERVER = 'lhoserver';

/** The latest value the Collector holds for one series of this test's link. */
function latestValue(
  points: readonly CollectedPoint[],
  name: string,
  match: Record<string, string | number>,
): CollectedPoint | undefined {
  let best: CollectedPoint | undefined;
  for (const p of points) {
    if (p.name !== name) continue;
    if (!Object.entries(match).every(([k, v]) => p.attributes[k] === v)) continue;
    if (best === undefined || p.timeUnixNano >= best.timeUnixNano) best = p;
  }
  return best;
}

describe(
  'otlp end to end: eBPF receiver -> k8s_attributes -> otlp -> real Collector',
  { concurrency: false },
  () => {
    let topo: Topology;
    let server: ServerProcess;
    let receiver: EbpfSocketReceiver;
    let collector: Otelcol;
    let exporter: Component & Consumer<LinkBatch>;
    let processor: Component;
    let poller: NodeJS.Timeout | undefined;
    const exporterSettings = testSettings('otlp/netns');

    before(async () => {
      const n = randomInt(0, 256);
      topo = await createTopology({
        prefix: 'lho',
        hosts: ['client', 'server'],
        subnet4: `10.213.${n}.0/24`,
        subnet6: `fd00:213::${n.toString(16)}00/120`,
      });
      server = await spawnServer(named(topo.host('server'), SERVER), { host: '::' });
      collector = await Otelcol.start();
      exporter = otlpExporterFactory.create(
        exporterSettings,
        validated<OtlpExporterConfig>(
          otlpExporterFactory,
          {
            endpoint: collector.grpcEndpoint,
            interval: '200ms',
            retry: { initial_interval: '100ms', max_interval: '1s' },
          },
          'exporters::otlp/netns',
        ),
      );
      await exporter.start(testHost());
      processor = k8sAttributesProcessorFactory.create(
        testSettings('k8s_attributes'),
        validated<K8sAttributesConfig>(
          k8sAttributesProcessorFactory,
          { mode: 'host', dns: { enabled: false } },
          'processors::k8s_attributes',
        ),
        exporter,
      );
      await processor.start(testHost());
      const created = ebpfSocketReceiverFactory.create(
        testSettings('ebpf_socket'),
        validated(
          ebpfSocketReceiverFactory,
          { poll_interval: '1h', network_namespaces: topo.hosts.map((h) => `/run/netns/${h.netns}`) },
          'receivers::ebpf_socket',
        ),
        processor as Component & Consumer<never>,
      );
      assert.ok(created instanceof EbpfSocketReceiver);
      receiver = created;
      await receiver.start(testHost());
      // Polled by the test, often: the exporter sends whatever batch is the latest at each interval.
      poller = setInterval(() => void receiver.poll(), 100);
    });

    after(async () => {
      clearInterval(poller);
      await receiver?.shutdown();
      await processor?.shutdown();
      await exporter?.shutdown();
      await collector?.close();
      await server?.stop();
      await topo?.destroy();
    });

    /** Waits until the Collector's latest points of the link equal `expected` for both observers. */
    async function collectorHolds(
      networkType: 'ipv4' | 'ipv6',
      expected: { c2s: number; s2c: number; closed: number; active: number },
      timeoutMs = 30_000,
    ): Promise<CollectedPoint[]> {
      const base = {
        'client.workload.name': CLIENT,
        'server.workload.name': SERVER,
        'server.port': server.port,
        'network.type': networkType,
      };
      const holds = (points: CollectedPoint[]): boolean =>
        (['client', 'server'] as const).every((observer) => {
          const m = { ...base, 'link.observer': observer };
          return (
            latestValue(points, 'loggerhead.link.bytes', { ...m, direction: 'client_to_server' })?.value ===
              expected.c2s &&
            latestValue(points, 'loggerhead.link.bytes', { ...m, direction: 'server_to_client' })?.value ===
              expected.s2c &&
            latestValue(points, 'loggerhead.link.connections', { ...m, event: 'closed' })?.value ===
              expected.closed &&
            latestValue(points, 'loggerhead.link.active_connections', m)?.value === expected.active
          );
        });
      return collector.waitFor(
        holds,
        timeoutMs,
        `collector holds ${networkType} ${JSON.stringify(expected)}`,
      );
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
      for (const observer of ['client', 'server'] as const) {
        const p = latestValue(points, 'loggerhead.link.bytes', {
          'client.workload.name': CLIENT,
          'server.port': server.port,
          'network.type': 'ipv4',
          'link.observer': observer,
          direction: 'client_to_server',
        });
        assert.ok(p);
        assert.deepEqual(p.attributes, {
          'client.workload.name': CLIENT,
          'client.workload.kind': 'process',
          'server.workload.name': SERVER,
          'server.workload.kind': 'process',
          'server.port': server.port,
          'network.transport': 'tcp',
          'network.type': 'ipv4',
          'link.observer': observer,
          direction: 'client_to_server',
        });
        assert.equal(p.temporality, 2);
        assert.equal(p.monotonic, true);
        assert.equal(p.unit, 'By');
        assert.ok(p.startTimeUnixNano > 0n && p.startTimeUnixNano < p.timeUnixNano);
        const opened = latestValue(points, 'loggerhead.link.connections', {
          'client.workload.name': CLIENT,
          'server.port': server.port,
          'network.type': 'ipv4',
          'link.observer': observer,
          event: 'opened',
        });
        assert.equal(opened?.value, 30, observer);
      }
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
