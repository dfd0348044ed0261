/**
 * CPU of one OTLP export (issue 5 target: 10k links <= 100 ms of CPU).
 *
 *   npx node bench/otlp.bench.ts [--links 10000,100000] [--rounds 11]
 *
 * Against a real OpenTelemetry Collector (scripts/setup.d/40-otelcol.sh; its
 * output discarded by the debug exporter), per protocol (gRPC, HTTP/protobuf)
 * and compression: `process.cpuUsage()` around one full export of this
 * process (collect self-telemetry, encode, send every request, wait for every
 * answer), median and p95 over the rounds after one warm-up. The collector's
 * CPU is its own process and not counted.
 *
 * Baseline, same run, same data, same collector: the SDK's own path, i.e.
 * `ResourceMetrics` built for the links and handed to the official
 * `OTLPMetricExporter` (`@opentelemetry/exporter-metrics-otlp-grpc` / `-proto`
 * 0.301.0), which serializes with `ProtobufMetricsSerializer`.
 */
import { parseArgs } from 'node:util';
import { ValueType } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter as GrpcExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { DataPoint, MetricData, PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import { linkAttributes } from '../exporters/common/attributes.ts';
import { OtlpExporter } from '../exporters/otlp/exporter.ts';
import type { OtlpProtocol } from '../exporters/otlp/transport.ts';
import type { Link, LinkBatch } from '../core/signals.ts';
import { Otelcol } from '../test/support/otelcol.ts';
import { testSettings } from '../test/support/settings.ts';

const { values } = parseArgs({
  options: { links: { type: 'string', default: '10000,100000' }, rounds: { type: 'string', default: '11' } },
});
const SIZES = values.links.split(',').map(Number);
const ROUNDS = Number(values.rounds);
const T0 = Date.now() - 3_600_000;

function makeLinks(n: number): Link[] {
  const links: Link[] = [];
  for (let i = 0; i < n; i++) {
    links.push({
      id: `l${i}`,
      client: { name: `frontend-${i % 500}`, kind: 'Deployment', namespace: `team-${i % 40}` },
      server: { name: `backend-${i}`, kind: 'StatefulSet', namespace: `team-${(i * 7) % 40}` },
      serverPort: 8000 + (i % 100),
      transport: 'tcp',
      networkType: i % 5 === 0 ? 'ipv6' : 'ipv4',
      observer: i % 2 === 0 ? 'client' : 'server',
      bytesClientToServer: 1_000_000_007 * (1 + (i % 13)),
      bytesServerToClient: 3_000_000_011 * (1 + (i % 17)),
      connectionsOpened: 1000 + i,
      connectionsClosed: 990 + i,
      connectionsFailed: i % 3,
      activeConnections: 10,
      retransSegs: i % 50,
      startTimeMs: T0,
      lastActivityMs: T0 + 1000,
    });
  }
  return links;
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
}

function stats(samples: number[]): { median: number; p95: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { median: Math.round(at(0.5) * 10) / 10, p95: Math.round(at(0.95) * 10) / 10 };
}

/** The SDK data model for the links, as an SDK MetricReader would hand it to the exporter. */
function sdkResourceMetrics(batch: LinkBatch): ResourceMetrics {
  const toHr = (ms: number): [number, number] => [Math.floor(ms / 1000), (ms % 1000) * 1e6];
  const end = toHr(batch.timeMs);
  const bytes: DataPoint<number>[] = [];
  const connections: DataPoint<number>[] = [];
  const active: DataPoint<number>[] = [];
  const retransmits: DataPoint<number>[] = [];
  for (const l of batch.links) {
    const attributes = linkAttributes(l);
    const startTime = toHr(l.startTimeMs);
    const p = (value: number, extra?: Record<string, string>): DataPoint<number> => ({
      startTime,
      endTime: end,
      attributes: extra === undefined ? attributes : { ...attributes, ...extra },
      value,
    });
    bytes.push(
      p(l.bytesClientToServer, { direction: 'client_to_server' }),
      p(l.bytesServerToClient, { direction: 'server_to_client' }),
    );
    connections.push(
      p(l.connectionsOpened, { event: 'opened' }),
      p(l.connectionsClosed, { event: 'closed' }),
      p(l.connectionsFailed, { event: 'failed' }),
    );
    active.push(p(l.activeConnections));
    retransmits.push(p(l.retransSegs));
  }
  const sum = (name: string, unit: string, dataPoints: DataPoint<number>[]): MetricData => ({
    descriptor: { name, description: '', unit, valueType: ValueType.INT },
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.SUM,
    isMonotonic: true,
    dataPoints,
  });
  return {
    resource: resourceFromAttributes({ 'service.name': 'loggerhead' }),
    scopeMetrics: [
      {
        scope: { name: 'loggerhead' },
        metrics: [
          sum('loggerhead.link.bytes', 'By', bytes),
          sum('loggerhead.link.connections', '{connection}', connections),
          {
            descriptor: {
              name: 'loggerhead.link.active_connections',
              description: '',
              unit: '{connection}',
              valueType: ValueType.INT,
            },
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.GAUGE,
            dataPoints: active,
          },
          sum('loggerhead.link.retransmits', '{segment}', retransmits),
        ],
      },
    ],
  };
}

/** The baseline: the SDK exporter, split into requests of 1000 links like ours (the collector's 4 MiB gRPC limit). */
async function sdkExport(exporter: PushMetricExporter, batch: LinkBatch): Promise<void> {
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < batch.links.length; i += 1000) {
    const rm = sdkResourceMetrics({ ...batch, links: batch.links.slice(i, i + 1000) });
    sends.push(
      new Promise((resolve, reject) =>
        exporter.export(rm, (r) => (r.code === ExportResultCode.SUCCESS ? resolve() : reject(r.error))),
      ),
    );
  }
  await Promise.all(sends);
}

const collector = await Otelcol.start({ output: 'discard' });
try {
  console.log(
    `otlp export CPU (ms of this process per export; median / p95 of ${ROUNDS} rounds after 1 warm-up)`,
  );
  for (const n of SIZES) {
    const links = makeLinks(n);
    for (const [protocol, compression] of [
      ['grpc', 'none'],
      ['http/protobuf', 'none'],
      ['grpc', 'gzip'],
    ] as Array<[OtlpProtocol, 'none' | 'gzip']>) {
      const url = protocol === 'grpc' ? collector.grpcEndpoint : `${collector.httpEndpoint}/v1/metrics`;
      const exporter = new OtlpExporter(testSettings('otlp'), {
        transport: { protocol, url, headers: {}, compression, timeoutMs: 60_000, concurrency: 1024 },
        intervalMs: 3_600_000,
        temporality: 'cumulative',
        maxLinksPerRequest: 1000,
        retryInitialMs: 1000,
        retryMaxMs: 30_000,
        resourceAttributes: { 'service.name': 'loggerhead' },
      });
      await exporter.start({ reportError: () => {} });
      const sdk: PushMetricExporter =
        protocol === 'grpc'
          ? new GrpcExporter({
              url,
              compression: compression as never,
              timeoutMillis: 60_000,
              concurrencyLimit: 1024,
            })
          : new ProtoExporter({
              url,
              compression: compression as never,
              timeoutMillis: 60_000,
              concurrencyLimit: 1024,
            });
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let round = 0; round <= ROUNDS; round++) {
        const batch: LinkBatch = { timeMs: T0 + 10_000 * (round + 1), startTimeMs: T0, links };
        await exporter.consume(batch);
        let c = process.cpuUsage();
        const outcome = await exporter.exportSnapshot();
        const o = cpuMs(c);
        if (outcome.error !== undefined) throw outcome.error;
        c = process.cpuUsage();
        await sdkExport(sdk, batch);
        const t = cpuMs(c);
        if (round > 0) {
          ours.push(o);
          theirs.push(t);
        }
      }
      await exporter.shutdown();
      await sdk.shutdown();
      const a = stats(ours);
      const b = stats(theirs);
      console.log(
        `${String(n).padStart(6)} links  ${protocol.padEnd(13)} ${compression.padEnd(4)}  loggerhead ${a.median} / ${a.p95} ms   SDK OTLPMetricExporter ${b.median} / ${b.p95} ms   ratio ${(a.median / b.median).toFixed(2)}`,
      );
    }
  }
} finally {
  await collector.close();
}
