import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Link, LinkBatch } from '../../core/signals.ts';
import { TelemetryRegistry } from '../../core/telemetry-registry.ts';
import { testLink } from '../../test/support/links.ts';
import type { OtlpJsonMetric } from '../../test/support/otlp-json.ts';
import { attributeValues, decodeMetricsRequest } from '../../test/support/otlp-json.ts';
import { SnapshotEncoder } from './snapshot.ts';

function metrics(body: Uint8Array): OtlpJsonMetric[] {
  return (decodeMetricsRequest(body).resourceMetrics ?? []).flatMap((rm) =>
    (rm.scopeMetrics ?? []).flatMap((sm) => sm.metrics ?? []),
  );
}

const START = 1_764_000_000_123;

function link(i: number, over: Partial<Link> = {}): Link {
  return testLink({
    id: `link-${i}`,
    client: { name: `checkout-${i}`, kind: 'Deployment', namespace: 'shop' },
    server: { name: 'catalog', kind: 'Service', namespace: '' },
    serverPort: 8080 + i,
    bytesClientToServer: 2 ** 40 + i,
    bytesServerToClient: 5000 + i,
    startTimeMs: START,
    lastActivityMs: START + 10,
    ...over,
  });
}

function batch(links: Link[], timeMs = START + 5000): LinkBatch {
  return { timeMs, startTimeMs: START, links };
}

const RESOURCE = { 'service.name': 'loggerhead', 'service.instance.id': 'abc', 'host.name': 'node-1' };

describe('SnapshotEncoder', () => {
  it('encodes every link metric with the names, units, attributes, times and exact integer values of METRICS.md', () => {
    const enc = new SnapshotEncoder({
      resourceAttributes: RESOURCE,
      temporality: 'cumulative',
      maxLinksPerRequest: 10,
    });
    const [request, ...rest] = [...enc.requests(batch([link(0)]), [], START + 6000)];
    assert.equal(rest.length, 0);
    assert.ok(request);
    assert.equal(request.points, 7);
    const d = decodeMetricsRequest(request.body);
    assert.deepEqual(attributeValues(d.resourceMetrics?.[0]?.resource?.attributes), RESOURCE);
    assert.equal(d.resourceMetrics?.[0]?.scopeMetrics?.[0]?.scope?.name, 'loggerhead');
    const ms = metrics(request.body);
    assert.deepEqual(
      ms.map((m) => [m.name, m.unit, m.sum !== undefined ? 'sum' : 'gauge']),
      [
        ['loggerhead.link.bytes', 'By', 'sum'],
        ['loggerhead.link.connections', '{connection}', 'sum'],
        ['loggerhead.link.active_connections', '{connection}', 'gauge'],
        ['loggerhead.link.retransmits', '{segment}', 'sum'],
      ],
    );
    const base = {
      'client.workload.name': 'checkout-0',
      'client.workload.kind': 'Deployment',
      'client.k8s.namespace.name': 'shop',
      'server.workload.name': 'catalog',
      'server.workload.kind': 'Service',
      'server.port': 8080,
      'network.transport': 'tcp',
      'network.type': 'ipv4',
      'link.observer': 'client',
    };
    const startNs = String(BigInt(START) * 1_000_000n);
    const endNs = String(BigInt(START + 5000) * 1_000_000n);
    const flat = ms.flatMap((m) =>
      (m.sum?.dataPoints ?? m.gauge?.dataPoints ?? []).map((p) => ({
        name: m.name,
        attributes: attributeValues(p.attributes),
        value: p.asInt,
        start: p.startTimeUnixNano,
        end: p.timeUnixNano,
        temporality: m.sum?.aggregationTemporality,
        monotonic: m.sum?.isMonotonic,
      })),
    );
    const sum = (name: string, extra: Record<string, string>, value: number) => ({
      name,
      attributes: { ...base, ...extra },
      value: String(value),
      start: startNs,
      end: endNs,
      temporality: 2,
      monotonic: true,
    });
    assert.deepEqual(flat, [
      sum('loggerhead.link.bytes', { direction: 'client_to_server' }, 2 ** 40),
      sum('loggerhead.link.bytes', { direction: 'server_to_client' }, 5000),
      sum('loggerhead.link.connections', { event: 'opened' }, 3),
      sum('loggerhead.link.connections', { event: 'closed' }, 2),
      sum('loggerhead.link.connections', { event: 'failed' }, 1),
      {
        name: 'loggerhead.link.active_connections',
        attributes: base,
        value: '1',
        start: startNs,
        end: endNs,
        temporality: undefined,
        monotonic: undefined,
      },
      sum('loggerhead.link.retransmits', {}, 4),
    ]);
  });

  it('splits links across requests, telemetry in the first, and drops cached attributes of links that are gone', () => {
    const registry = new TelemetryRegistry(START);
    registry
      .scoped({ 'component.id': 'otlp' })
      .counter('loggerhead.test.things', { description: 'd', unit: '1' })
      .add(2.5);
    const enc = new SnapshotEncoder({
      resourceAttributes: RESOURCE,
      temporality: 'cumulative',
      maxLinksPerRequest: 2,
    });
    const links = [0, 1, 2, 3, 4].map((i) => link(i));
    const requests = [...enc.requests(batch(links), registry.collect(), START + 6000)];
    assert.deepEqual(
      requests.map((r) => r.points),
      [1 + 14, 14, 7],
    );
    const ports = requests.map((r) =>
      metrics(r.body)
        .filter((m) => m.name === 'loggerhead.link.retransmits')
        .flatMap((m) => m.sum!.dataPoints!.map((p) => attributeValues(p.attributes)['server.port'])),
    );
    assert.deepEqual(ports, [[8080, 8081], [8082, 8083], [8084]]);
    const telemetry = metrics(requests[0]!.body).find((m) => m.name === 'loggerhead.test.things');
    assert.equal(telemetry?.sum?.dataPoints?.[0]?.asDouble, 2.5);
    assert.deepEqual(attributeValues(telemetry?.sum?.dataPoints[0]?.attributes), { 'component.id': 'otlp' });
    assert.equal(enc.cachedLinks, 5);
    assert.equal([...enc.requests(batch(links.slice(0, 2)), [], START + 7000)].length, 1);
    assert.equal(enc.cachedLinks, 2);
  });

  it('re-encodes the attributes of a link whose identity changed under the same id', () => {
    const enc = new SnapshotEncoder({
      resourceAttributes: RESOURCE,
      temporality: 'cumulative',
      maxLinksPerRequest: 10,
    });
    assert.equal([...enc.requests(batch([link(0)]), [], START)].length, 1);
    const renamed = link(0, { server: { name: 'catalog-v2', kind: 'Deployment', namespace: 'shop' } });
    const [r] = [...enc.requests(batch([renamed]), [], START)];
    const p = metrics(r!.body)[0]!.sum!.dataPoints![0]!;
    assert.equal(attributeValues(p.attributes)['server.workload.name'], 'catalog-v2');
    assert.equal(attributeValues(p.attributes)['server.k8s.namespace.name'], 'shop');
  });

  it('delta: subtracts what the backend accepted, and a failed request loses nothing', () => {
    const enc = new SnapshotEncoder({
      resourceAttributes: RESOURCE,
      temporality: 'delta',
      maxLinksPerRequest: 10,
    });
    const bytesOf = (r: { body: Buffer }) => {
      const p = metrics(r.body)[0]!.sum!;
      assert.equal(p.aggregationTemporality, 1);
      return p.dataPoints!.map((x) => [x.asInt, x.startTimeUnixNano]);
    };
    const ns = (ms: number) => String(BigInt(ms) * 1_000_000n);
    const [r1] = [...enc.requests(batch([link(0, { bytesClientToServer: 100 })], START + 1000), [], START)];
    assert.deepEqual(bytesOf(r1!), [
      ['100', ns(START)],
      ['5000', ns(START)],
    ]);
    enc.delta.commit(r1!.acks);
    // This one "fails": not committed.
    const [r2] = [...enc.requests(batch([link(0, { bytesClientToServer: 150 })], START + 2000), [], START)];
    assert.deepEqual(bytesOf(r2!), [
      ['50', ns(START + 1000)],
      ['0', ns(START + 1000)],
    ]);
    const [r3] = [...enc.requests(batch([link(0, { bytesClientToServer: 175 })], START + 3000), [], START)];
    assert.deepEqual(bytesOf(r3!), [
      ['75', ns(START + 1000)],
      ['0', ns(START + 1000)],
    ]);
    enc.delta.commit(r3!.acks);
    // A counter reset (new start time) starts over from the new start.
    const [r4] = [
      ...enc.requests(
        batch([link(0, { bytesClientToServer: 7, startTimeMs: START + 3500 })], START + 4000),
        [],
        START,
      ),
    ];
    assert.deepEqual(bytesOf(r4!)[0], ['7', ns(START + 3500)]);
  });

  it('encodes self-telemetry gauges and histograms (per-bucket counts from the cumulative registry buckets)', () => {
    const registry = new TelemetryRegistry(START);
    const t = registry.scoped({ 'component.id': 'ebpf_socket' });
    t.gauge('loggerhead.test.fill', { description: 'fill', unit: '1' }).set(0.25);
    const h = t.histogram('loggerhead.test.duration', {
      description: 'dur',
      unit: 's',
      boundaries: [0.1, 1],
    });
    for (const v of [0.05, 0.5, 0.7, 3]) h.record(v);
    const enc = new SnapshotEncoder({
      resourceAttributes: RESOURCE,
      temporality: 'cumulative',
      maxLinksPerRequest: 10,
    });
    const [r] = [...enc.requests(undefined, registry.collect(), START + 1000)];
    const ms = metrics(r!.body);
    const gauge = ms.find((m) => m.name === 'loggerhead.test.fill')!;
    assert.equal(gauge.gauge?.dataPoints?.[0]?.asDouble, 0.25);
    const hist = ms.find((m) => m.name === 'loggerhead.test.duration')!;
    assert.equal(hist.unit, 's');
    assert.equal(hist.histogram?.aggregationTemporality, 2);
    const p = hist.histogram!.dataPoints![0]!;
    assert.equal(p.count, '4');
    assert.equal(p.sum, 0.05 + 0.5 + 0.7 + 3);
    assert.deepEqual(p.bucketCounts, ['1', '2', '1']);
    assert.deepEqual(p.explicitBounds, [0.1, 1]);
    assert.equal(p.startTimeUnixNano, String(BigInt(START) * 1_000_000n));
    assert.deepEqual(attributeValues(p.attributes), { 'component.id': 'ebpf_socket' });
  });

  it('writes hostile attribute values (quotes, newlines, unicode, 10 kB) byte for byte', () => {
    const weird = `a"b\\c\nd\u00e9\u{1F600}${'x'.repeat(10_000)}`;
    const enc = new SnapshotEncoder({
      resourceAttributes: RESOURCE,
      temporality: 'cumulative',
      maxLinksPerRequest: 10,
    });
    const [r] = [
      ...enc.requests(batch([link(0, { client: { name: weird, kind: 'Pod', namespace: 'ns' } })]), [], START),
    ];
    const p = metrics(r!.body)[0]!.sum!.dataPoints![0]!;
    assert.equal(attributeValues(p.attributes)['client.workload.name'], weird);
  });
});
