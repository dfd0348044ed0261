import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { gunzipSync } from 'node:zlib';
import http from 'node:http';
import type { Link, LinkBatch } from '../../core/signals.ts';
import { TEST_LINK_START_MS, testLink } from '../../test/support/links.ts';
import { testHost, testSettings } from '../../test/support/settings.ts';
import { PrometheusExporter, prometheusExporterFactory } from './factory.ts';
import type { PrometheusExporterConfig } from './factory.ts';

function config(overrides: Partial<PrometheusExporterConfig> = {}): PrometheusExporterConfig {
  return {
    endpoint: '127.0.0.1:0',
    caretta_compatible: false,
    include_self_telemetry: true,
    max_label_value_length: 1024,
    compression: 'gzip',
    openmetrics_created: true,
    ...overrides,
  };
}

function link(name: string, bytes: number): Link {
  return testLink({
    id: name,
    client: { name, kind: 'Deployment', namespace: 'shop' },
    server: { name: 'db', kind: 'StatefulSet', namespace: 'shop' },
    bytesClientToServer: bytes,
  });
}

function batch(links: Link[]): LinkBatch {
  return { timeMs: Date.now(), startTimeMs: TEST_LINK_START_MS, links };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(
  port: number,
  path: string,
  headers: http.OutgoingHttpHeaders = {},
  method = 'GET',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, method, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const raw = Buffer.concat(parts);
        const body = res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString() : raw.toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function started(overrides: Partial<PrometheusExporterConfig> = {}) {
  const settings = testSettings('prometheus');
  const exporter = new PrometheusExporter(settings, config(overrides));
  await exporter.start(testHost());
  const port = exporter.boundEndpoint?.port;
  assert.ok(port !== undefined && port > 0);
  return { exporter, port, settings };
}

void test('readyz is 503 until the first batch; healthz is 200 once serving', async () => {
  const { exporter, port } = await started();
  try {
    assert.equal((await get(port, '/healthz')).status, 200);
    const before = await get(port, '/readyz');
    assert.equal(before.status, 503);
    assert.match(before.body, /no batch of links received yet/);
    await exporter.consume(batch([link('web', 10)]));
    assert.equal((await get(port, '/readyz')).status, 200);
  } finally {
    await exporter.shutdown();
  }
});

void test('/metrics negotiates text or OpenMetrics, gzips when asked, and serves the latest batch only', async () => {
  const { exporter, port } = await started();
  try {
    await exporter.consume(batch([link('web', 10), link('worker', 20)]));
    const text = await get(port, '/metrics');
    assert.equal(text.status, 200);
    assert.equal(text.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(text.headers['content-encoding'], undefined);
    assert.match(
      text.body,
      /loggerhead_link_bytes_total\{client_workload_name="web",.*direction="client_to_server"\} 10\n/,
    );
    assert.match(text.body, /client_workload_name="worker"/);
    assert.ok(!text.body.includes('# EOF'));

    const om = await get(port, '/metrics', {
      Accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5',
      'Accept-Encoding': 'gzip',
    });
    assert.equal(om.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.equal(om.headers['content-encoding'], 'gzip');
    assert.ok(om.body.endsWith('# EOF\n'));
    assert.match(om.body, /loggerhead_link_bytes_created\{client_workload_name="web",/);

    // The worker link expired upstream: the next batch no longer has it, so neither does the next scrape.
    await exporter.consume(batch([link('web', 15)]));
    const after = await get(port, '/metrics');
    assert.ok(!after.body.includes('client_workload_name="worker"'));
    assert.match(after.body, /client_workload_name="web",.*direction="client_to_server"\} 15\n/);
  } finally {
    await exporter.shutdown();
  }
});

void test('self-telemetry is served with component_id, including the exporter own scrape counters', async () => {
  const { exporter, port, settings } = await started();
  try {
    settings.telemetry.counter('loggerhead.test.events', { description: 'Events.', unit: '1' }).add(7);
    await exporter.consume(batch([]));
    await get(port, '/metrics');
    const body = (await get(port, '/metrics')).body;
    assert.match(body, /^loggerhead_test_events_total\{component_id="prometheus"\} 7$/m);
    assert.match(
      body,
      /^loggerhead_exporter_prometheus_scrapes_total\{component_id="prometheus",format="text"\} 1$/m,
    );
    assert.match(body, /^loggerhead_exporter_prometheus_batches_total\{component_id="prometheus"\} 1$/m);
    assert.match(body, /^# TYPE loggerhead_exporter_prometheus_scrape_duration_seconds histogram$/m);
  } finally {
    await exporter.shutdown();
  }
  const off = await started({ include_self_telemetry: false });
  try {
    await off.exporter.consume(batch([link('web', 1)]));
    assert.ok(!(await get(off.port, '/metrics')).body.includes('loggerhead_exporter_'));
  } finally {
    await off.exporter.shutdown();
  }
});

void test('HEAD, unknown paths and other methods', async () => {
  const { exporter, port } = await started();
  try {
    const head = await get(port, '/metrics', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await get(port, '/nope')).status, 404);
    const post = await get(port, '/metrics', {}, 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  } finally {
    await exporter.shutdown();
  }
});

void test('a busy port fails start with the endpoint in the message', async () => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const exporter = new PrometheusExporter(
      testSettings('prometheus'),
      config({ endpoint: `127.0.0.1:${port}` }),
    );
    await assert.rejects(exporter.start(testHost()), (error: Error) => {
      assert.match(
        error.message,
        new RegExp(`cannot listen on endpoint 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
      );
      return true;
    });
    await exporter.shutdown();
  } finally {
    blocker.close();
  }
});

void test('lifecycle: shutdown without start, twice, and consume after shutdown rejects', async () => {
  const idle = new PrometheusExporter(testSettings('prometheus'), config());
  await idle.shutdown();
  await idle.shutdown();
  const { exporter, port } = await started();
  await exporter.consume(batch([link('web', 1)]));
  await exporter.shutdown();
  await exporter.shutdown();
  await assert.rejects(exporter.consume(batch([])), /shut down/);
  await assert.rejects(get(port, '/metrics'), /ECONNREFUSED/);
});

void test('config: defaults and max_label_value_length bounds (the endpoint: common/http-server.test.ts)', () => {
  const fields = prometheusExporterFactory.configSchema.fields;
  assert.equal((fields.endpoint as { default?: string }).default, '127.0.0.1:9464');
  assert.equal((fields.caretta_compatible as { default?: boolean }).default, false);
  assert.equal((fields.include_self_telemetry as { default?: boolean }).default, true);
  assert.throws(
    () => new PrometheusExporter(testSettings('prometheus'), config({ max_label_value_length: 8 })),
    /max_label_value_length must be 0 \(no limit\) or at least 16, got 8/,
  );
});

void test('a scraper that goes away mid-exposition is counted, and the next scrape is whole', async () => {
  const { exporter, port } = await started({ compression: 'none' });
  try {
    const links = Array.from({ length: 20_000 }, (_, i) => link(`svc-${i}`, i));
    await exporter.consume(batch(links));
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (e) => (req.destroyed ? resolve() : reject(e)));
    });
    let body = '';
    for (let i = 0; i < 50; i++) {
      body = (await get(port, '/metrics')).body;
      if (/scrape_errors_total\{component_id="prometheus",reason="client_closed"\} 1$/m.test(body)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(
      body,
      /^loggerhead_exporter_prometheus_scrape_errors_total\{component_id="prometheus",reason="client_closed"\} 1$/m,
    );
    assert.equal(
      body.match(/^loggerhead_link_active_connections\{/gm)?.length,
      20_000,
      'every link in the next scrape',
    );
  } finally {
    await exporter.shutdown();
  }
});
