/**
 * The otlp exporter against a REAL OpenTelemetry Collector (built by
 * scripts/setup.d/40-otelcol.sh with the official builder): OTLP/gRPC and
 * OTLP/HTTP reach it, the values in its file-exporter output are the values
 * sent, and a 30 s outage loses nothing while memory stays flat.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Component } from '../../core/component.ts';
import type { Consumer, Link, LinkBatch } from '../../core/signals.ts';
import { otlpExporterFactory } from '../../exporters/otlp/factory.ts';
import { factoryConfig } from '../support/config.ts';
import { linkPoints, numberedLink } from '../support/links.ts';
import type { CollectedPoint } from '../support/otelcol.ts';
import { Otelcol } from '../support/otelcol.ts';
import type { TestSettings } from '../support/settings.ts';
import { testHost, testSettings } from '../support/settings.ts';
import { until } from '../support/wait.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type Exporter = Component & Consumer<LinkBatch>;

const START = Date.now() - 60_000;

/** The attributes METRICS.md says a link point carries. */
function expectedAttributes(l: Link): Record<string, string | number> {
  const a: Record<string, string | number> = {
    'client.workload.name': l.client.name,
    'client.workload.kind': l.client.kind,
  };
  if (l.client.namespace !== '') a['client.k8s.namespace.name'] = l.client.namespace;
  a['server.workload.name'] = l.server.name;
  a['server.workload.kind'] = l.server.kind;
  if (l.server.namespace !== '') a['server.k8s.namespace.name'] = l.server.namespace;
  a['server.port'] = l.serverPort;
  a['network.transport'] = 'tcp';
  a['network.type'] = l.networkType;
  a['link.observer'] = l.observer;
  return a;
}

const UNITS: Record<string, string> = {
  'loggerhead.link.bytes': 'By',
  'loggerhead.link.connections': '{connection}',
  'loggerhead.link.active_connections': '{connection}',
  'loggerhead.link.retransmits': '{segment}',
};

function pointKey(name: string, attributes: Record<string, string | number | boolean>): string {
  return `${name} ${JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

/** Latest point per series (by time), for one exporter instance. */
function latest(points: CollectedPoint[], instanceId: string): Map<string, CollectedPoint> {
  const out = new Map<string, CollectedPoint>();
  for (const p of points) {
    if (p.resource['service.instance.id'] !== instanceId || !p.name.startsWith('loggerhead.link.')) continue;
    const k = pointKey(p.name, p.attributes);
    const prev = out.get(k);
    if (prev === undefined || p.timeUnixNano >= prev.timeUnixNano) out.set(k, p);
  }
  return out;
}

/** True when the collector holds exactly the values of `links` as the latest cumulative points. */
function holds(
  points: CollectedPoint[],
  instanceId: string,
  links: readonly Link[],
  timeMs: number,
): boolean {
  const l = latest(points, instanceId);
  return links.every((link) =>
    linkPoints(link).every(([name, extra, value]) => {
      const p = l.get(pointKey(name, { ...expectedAttributes(link), ...extra }));
      return p !== undefined && p.value === value && p.timeUnixNano === BigInt(timeMs) * 1_000_000n;
    }),
  );
}

function assertExact(
  points: CollectedPoint[],
  instanceId: string,
  links: readonly Link[],
  timeMs: number,
): void {
  const l = latest(points, instanceId);
  assert.equal(l.size, links.length * 7, 'one series per link point, nothing else');
  for (const link of links) {
    for (const [name, extra, value, type] of linkPoints(link)) {
      const p = l.get(pointKey(name, { ...expectedAttributes(link), ...extra }));
      assert.ok(p, `${name} ${JSON.stringify(extra)} of ${link.id} reached the collector`);
      assert.deepEqual(p.attributes, { ...expectedAttributes(link), ...extra });
      assert.equal(p.value, value, `${name} ${JSON.stringify(extra)} of ${link.id}`);
      assert.equal(p.isInt, true);
      assert.equal(p.type, type);
      assert.equal(p.unit, UNITS[name]);
      assert.equal(p.scope, 'loggerhead');
      assert.equal(p.startTimeUnixNano, BigInt(link.startTimeMs) * 1_000_000n);
      assert.equal(p.timeUnixNano, BigInt(timeMs) * 1_000_000n);
      if (type === 'sum') {
        assert.equal(p.temporality, 2, 'cumulative');
        assert.equal(p.monotonic, true);
      }
    }
  }
}

function instanceOf(points: CollectedPoint[], componentId: string): string {
  const p = points.find(
    (x) => x.name === 'loggerhead.exporter.sent_requests' && x.attributes['component.id'] === componentId,
  );
  assert.ok(p, `self-telemetry of ${componentId} reached the collector`);
  return String(p.resource['service.instance.id']);
}

describe('otlp exporter -> real OpenTelemetry Collector', { timeout: 240_000 }, () => {
  let collector: Otelcol;
  const running: Exporter[] = [];

  before(async () => {
    collector = await Otelcol.start();
  });

  after(async () => {
    for (const e of running) await e.shutdown();
    await collector?.close();
  });

  async function startExporter(settings: TestSettings, yaml: string): Promise<Exporter> {
    const e = otlpExporterFactory.create(settings, factoryConfig(otlpExporterFactory, yaml));
    running.push(e);
    await e.start(testHost());
    return e;
  }

  for (const [protocol, endpoint, compression] of [
    ['grpc', () => collector.grpcEndpoint, 'none'],
    ['http/protobuf', () => collector.httpEndpoint, 'gzip'],
  ] as const) {
    it(`${protocol} (${compression}): the collector holds exactly the values sent, with names, attributes, units, temporality and start times`, async () => {
      const id = `otlp/${protocol.replace('/', '_')}`;
      const settings = testSettings(id);
      process.env.K8S_NODE_NAME = 'lho-node-1';
      let exporter: Exporter;
      try {
        exporter = await startExporter(
          settings,
          `endpoint: ${endpoint()}\nprotocol: ${protocol}\ncompression: ${compression}\ninterval: 200ms\nmax_links_per_request: 4\nheaders:\n  x-lho-test: yes`,
        );
      } finally {
        delete process.env.K8S_NODE_NAME;
      }
      const links = Array.from({ length: 10 }, (_, i) => numberedLink('lho', i, START));
      const t1 = Date.now();
      await exporter.consume({ timeMs: t1, startTimeMs: START, links });
      await collector.waitFor(
        (p) => holds(p, instanceIdOrEmpty(p, id), links, t1),
        20_000,
        `${protocol} batch 1`,
      );
      // Counters grow; a link appears.
      const grown = [
        ...links.map((l) => ({ ...l, bytesClientToServer: l.bytesClientToServer + 12_345 })),
        numberedLink('lho', 10, START),
      ];
      const t2 = t1 + 1000;
      await exporter.consume({ timeMs: t2, startTimeMs: START, links: grown });
      const points = await collector.waitFor(
        (p) => holds(p, instanceIdOrEmpty(p, id), grown, t2),
        20_000,
        `${protocol} batch 2`,
      );
      const instance = instanceOf(points, id);
      assertExact(
        points.filter((p) => p.timeUnixNano === BigInt(t2) * 1_000_000n),
        instance,
        grown,
        t2,
      );
      const resource = points.find((p) => p.resource['service.instance.id'] === instance)!.resource;
      assert.equal(resource['service.name'], 'loggerhead');
      assert.equal(resource['k8s.node.name'], 'lho-node-1');
      assert.equal(typeof resource['host.name'], 'string');
      // Self-telemetry rides along, with its component.id.
      const sent = points.filter(
        (p) => p.name === 'loggerhead.exporter.sent_points' && p.resource['service.instance.id'] === instance,
      );
      assert.ok(
        sent.length > 0 && sent.every((p) => p.attributes['component.id'] === id && p.monotonic === true),
      );
      assert.deepEqual(
        settings.logs.filter((l) => l.level === 'warn' || l.level === 'error'),
        [],
      );
    });
  }

  it('collector down for 30 s: no crash, flat memory, counters continue and nothing is lost (gRPC cumulative + HTTP delta)', async () => {
    const N = 1000;
    const cumulativeSettings = testSettings('otlp/outage_grpc');
    const deltaSettings = testSettings('otlp/outage_http_delta');
    const common = 'interval: 1s\nretry:\n  initial_interval: 100ms\n  max_interval: 2s';
    const cumulative = await startExporter(
      cumulativeSettings,
      `endpoint: ${collector.grpcEndpoint}\n${common}`,
    );
    const delta = await startExporter(
      deltaSettings,
      `endpoint: ${collector.httpEndpoint}\nprotocol: http/protobuf\ntemporality: delta\n${common}`,
    );
    let links = Array.from({ length: N }, (_, i) =>
      numberedLink('lho', i, START, { bytesClientToServer: 0, bytesServerToClient: 0 }),
    );
    let timeMs = Date.now();
    const feed = async (): Promise<void> => {
      timeMs += 100;
      links = links.map((l, i) => ({
        ...l,
        bytesClientToServer: l.bytesClientToServer + 100 + i,
        bytesServerToClient: l.bytesServerToClient + 7,
        connectionsOpened: l.connectionsOpened + 1,
      }));
      const batch = { timeMs, startTimeMs: START, links };
      await cumulative.consume(batch);
      await delta.consume(batch);
    };
    const memory = (): { heapMB: number; rssMB: number } => {
      gc();
      const m = process.memoryUsage();
      return { heapMB: Math.round(m.heapUsed / 2 ** 20), rssMB: Math.round(m.rss / 2 ** 20) };
    };
    for (let i = 0; i < 10; i++) {
      await feed();
      await new Promise((r) => setTimeout(r, 200));
    }
    await collector.waitFor(
      (p) => p.some((x) => x.attributes['component.id'] === 'otlp/outage_grpc'),
      20_000,
      'up',
    );
    const before = memory();

    await collector.pause();
    const downAt = Date.now();
    const during: Array<{ heapMB: number; rssMB: number }> = [];
    while (Date.now() - downAt < 30_000) {
      await feed();
      await new Promise((r) => setTimeout(r, 200));
      if (during.length < Math.floor((Date.now() - downAt) / 5000)) during.push(memory());
    }
    const lastDown = memory();
    await collector.resume();
    // Two more batches after the outage, then stop feeding: the final values are known.
    await feed();
    await feed();
    const finalLinks = links;
    const finalTime = timeMs;

    const cumulativeInstance = instanceOf(collector.points(), 'otlp/outage_grpc');
    await collector.waitFor(
      (p) => holds(p, cumulativeInstance, finalLinks, finalTime),
      60_000,
      'cumulative final values after the outage',
    );
    const afterUp = memory();
    process.stderr.write(
      `otlp outage memory (MB): before ${JSON.stringify(before)} during ${JSON.stringify(during)} last-down ${JSON.stringify(lastDown)} after ${JSON.stringify(afterUp)}\n`,
    );
    // Bounded: nothing accumulates while the backend is down (1000 links, ~30 snapshots superseded).
    for (const m of [...during, lastDown])
      assert.ok(m.heapMB <= before.heapMB + 32, `heap ${m.heapMB} MB vs ${before.heapMB} MB before`);

    // Delta: the sum of every delta point accepted equals the final cumulative value, for every series.
    const deltaInstance = instanceOf(collector.points(), 'otlp/outage_http_delta');
    const deltaSums = (points: CollectedPoint[]): Map<string, number> => {
      const sums = new Map<string, number>();
      for (const p of points) {
        if (
          p.resource['service.instance.id'] !== deltaInstance ||
          p.type !== 'sum' ||
          !p.name.startsWith('loggerhead.link.')
        )
          continue;
        assert.equal(p.temporality, 1);
        const k = pointKey(p.name, p.attributes);
        sums.set(k, (sums.get(k) ?? 0) + p.value);
      }
      return sums;
    };
    const expectedDelta = (sums: Map<string, number>): boolean =>
      finalLinks.every((link) =>
        linkPoints(link)
          .filter(([, , , type]) => type === 'sum')
          .every(
            ([name, extra, value]) =>
              sums.get(pointKey(name, { ...expectedAttributes(link), ...extra })) === value,
          ),
      );
    await collector.waitFor(
      (p) => expectedDelta(deltaSums(p)),
      60_000,
      'delta sums equal the final cumulative values',
    );

    for (const s of [cumulativeSettings, deltaSettings]) {
      await until(
        () => s.logs.some((l) => l.msg === 'OTLP exports succeeding again'),
        'the exporter saw the backend back',
        30_000,
        50,
      );
      const down = s.logs.filter((l) => String(l.msg).startsWith('OTLP exports failing'));
      const up = s.logs.filter((l) => l.msg === 'OTLP exports succeeding again');
      const lines = JSON.stringify(s.logs);
      assert.equal(
        down.length,
        1,
        `one log line when the backend went down, whatever the attempts: ${lines}`,
      );
      assert.equal(up.length, 1, `one log line when it came back: ${lines}`);
      const telemetry = s.registry.collect();
      const failed = telemetry.find((m) => m.name === 'loggerhead.exporter.failed_requests');
      assert.ok(failed !== undefined && failed.points.some((p) => p.value > 0), 'failures counted');
      const dropped = telemetry.find((m) => m.name === 'loggerhead.exporter.dropped_snapshots');
      assert.ok(
        dropped !== undefined && dropped.points.some((p) => p.value > 0),
        'superseded snapshots counted',
      );
    }
    assert.ok(
      expectedDelta(deltaSums(collector.points())),
      'no delta counted twice once both exporters were back',
    );
  });
});

/** The instance id of `componentId` when its self-telemetry arrived, else '' (matches nothing). */
function instanceIdOrEmpty(points: CollectedPoint[], componentId: string): string {
  const p = points.find(
    (x) => x.name === 'loggerhead.exporter.sent_requests' && x.attributes['component.id'] === componentId,
  );
  return p === undefined ? '' : String(p.resource['service.instance.id']);
}
