/**
 * Exporter behaviour against a scripted OTLP/HTTP endpoint (node:http on
 * 127.0.0.1, answering what each test says): retries, drops, logging, partial
 * success, shutdown. The real Collector is in test/e2e/otlp.test.ts.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import type { LinkBatch } from '../../core/signals.ts';
import { TEST_LINK_START_MS, testLink } from '../../test/support/links.ts';
import { testHost, testSettings } from '../../test/support/settings.ts';
import { counterValue } from '../../test/support/telemetry.ts';
import { until } from '../../test/support/wait.ts';
import type { OtlpExporterOptions } from './exporter.ts';
import { OtlpExporter } from './exporter.ts';

type Answer = (res: ServerResponse) => void;

interface Endpoint {
  url: string;
  requests: number;
  bodies: Buffer[];
  tenants: Array<string | string[] | undefined>;
  answer: Answer;
  close(): Promise<void>;
}

async function endpoint(answer: Answer): Promise<Endpoint> {
  const ep: Endpoint = {
    url: '',
    requests: 0,
    bodies: [],
    tenants: [],
    answer,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      ep.requests++;
      ep.bodies.push(Buffer.concat(chunks));
      ep.tenants.push(req.headers['x-tenant']);
      ep.answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ep.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/metrics`;
  return ep;
}

const ok: Answer = (res) => {
  res.writeHead(200, { 'content-type': 'application/x-protobuf' });
  res.end();
};
const status =
  (code: number): Answer =>
  (res) => {
    res.writeHead(code);
    res.end();
  };

/** ExportMetricsServiceResponse{partial_success{rejected_data_points, error_message}} */
function partialSuccess(rejected: number, message: string): Buffer {
  const msg = Buffer.from(message);
  const inner = Buffer.concat([Buffer.from([0x08, rejected]), Buffer.from([0x12, msg.length]), msg]);
  return Buffer.concat([Buffer.from([0x0a, inner.length]), inner]);
}

const BATCH: LinkBatch = {
  timeMs: TEST_LINK_START_MS + 5000,
  startTimeMs: TEST_LINK_START_MS,
  links: [testLink()],
};

/** A short request timeout, for the tests where the endpoint answers 503 or never: the HTTP transport retries 503 itself within it. */
const SHORT_TIMEOUT_MS = 300;

function options(
  url: string,
  over: Partial<OtlpExporterOptions> = {},
  timeoutMs = 5000,
): OtlpExporterOptions {
  return {
    transport: {
      protocol: 'http/protobuf',
      url,
      headers: { 'x-tenant': 'lho' },
      compression: 'none',
      timeoutMs,
      concurrency: 16,
    },
    intervalMs: 3_600_000,
    temporality: 'cumulative',
    maxLinksPerRequest: 1000,
    retryInitialMs: 40,
    retryMaxMs: 80,
    resourceAttributes: { 'service.name': 'loggerhead' },
    ...over,
  };
}

describe('OtlpExporter', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  async function setup(answer: Answer, over: Partial<OtlpExporterOptions> = {}, timeoutMs?: number) {
    const ep = await endpoint(answer);
    const settings = testSettings('otlp');
    const exporter = new OtlpExporter(settings, options(ep.url, over, timeoutMs));
    cleanup.push(
      () => exporter.shutdown(),
      () => ep.close(),
    );
    await exporter.start(testHost());
    await exporter.consume(BATCH);
    return { ep, settings, exporter };
  }

  it('sends one request with the headers, counts it, and logs nothing when all is well', async () => {
    const { ep, settings, exporter } = await setup(ok);
    const outcome = await exporter.exportSnapshot();
    assert.equal(outcome.error, undefined);
    assert.equal(outcome.requests, 1);
    assert.equal(ep.requests, 1);
    assert.deepEqual(ep.tenants, ['lho']);
    assert.ok(ep.bodies[0]!.includes(Buffer.from('loggerhead.link.bytes')));
    assert.equal(counterValue(settings, 'loggerhead.exporter.sent_requests'), 1);
    assert.equal(counterValue(settings, 'loggerhead.exporter.sent_points'), outcome.points);
    assert.deepEqual(settings.logs, []);
  });

  it('retries a retryable failure with backoff, logs one line down and one line up', async () => {
    const { ep, settings, exporter } = await setup(status(503), {}, SHORT_TIMEOUT_MS);
    const first = await exporter.exportSnapshot();
    assert.equal(first.error?.retryable, true);
    await until(() => ep.requests >= 5, 'retries while the endpoint answers 503');
    ep.answer = ok;
    await until(
      () => settings.logs.some((l) => l.msg === 'OTLP exports succeeding again'),
      'recovery after the endpoint answers 200',
    );
    const down = settings.logs.filter((l) => String(l.msg).startsWith('OTLP exports failing'));
    assert.equal(down.length, 1);
    assert.equal(down[0]?.level, 'warn');
    assert.equal(down[0]?.retryable, true);
    assert.equal(settings.logs.length, 2, 'nothing logged per attempt');
    assert.ok(counterValue(settings, 'loggerhead.exporter.failed_requests') >= 4);
  });

  it('does not retry a non-retryable failure before the next interval', async () => {
    const { ep, settings, exporter } = await setup(status(400));
    const outcome = await exporter.exportSnapshot();
    assert.equal(outcome.error?.retryable, false);
    assert.equal(outcome.error?.errorType, 'http_400');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(ep.requests, 1);
    assert.equal(
      counterValue(settings, 'loggerhead.exporter.failed_requests', { 'error.type': 'http_400' }),
      1,
    );
  });

  it('counts connection refused as retryable, by its socket error', async () => {
    const ep = await endpoint(ok);
    const url = ep.url;
    await ep.close();
    const settings = testSettings('otlp');
    const exporter = new OtlpExporter(settings, options(url));
    cleanup.push(() => exporter.shutdown());
    await exporter.start(testHost());
    const outcome = await exporter.exportSnapshot();
    assert.equal(outcome.error?.errorType, 'ECONNREFUSED');
    assert.equal(outcome.error?.retryable, true);
  });

  it('drops (and counts) the snapshots superseded while it backs off', async () => {
    const { settings, exporter } = await setup(
      status(503),
      { intervalMs: 20, retryInitialMs: 500, retryMaxMs: 500 },
      SHORT_TIMEOUT_MS,
    );
    await exporter.exportSnapshot();
    await until(() => counterValue(settings, 'loggerhead.exporter.dropped_snapshots') >= 5, 'drops counted');
  });

  it('counts points refused in a partial success, and logs that once', async () => {
    const { settings, exporter } = await setup((res) => {
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end(partialSuccess(3, 'bad point'));
    });
    const first = await exporter.exportSnapshot();
    const second = await exporter.exportSnapshot();
    assert.equal(first.error, undefined);
    assert.equal(first.points, 7 - 3, 'a link is 7 points, 3 refused');
    assert.equal(counterValue(settings, 'loggerhead.exporter.rejected_points'), 6);
    assert.equal(
      counterValue(settings, 'loggerhead.exporter.sent_points'),
      first.points + second.points,
      'refused points are not counted as sent',
    );
    const warned = settings.logs.filter((l) => l.level === 'warn');
    assert.equal(warned.length, 1);
    assert.equal(warned[0]?.error, 'bad point');
  });

  it('shutdown sends a last snapshot and returns when the backend hangs', async () => {
    const hung: ServerResponse[] = [];
    const { ep, exporter } = await setup((res) => hung.push(res), {}, SHORT_TIMEOUT_MS);
    const started = Date.now();
    await exporter.shutdown();
    assert.ok(Date.now() - started < 5000, 'shutdown returned although the backend never answered');
    assert.ok(ep.requests >= 1, 'the final snapshot was sent');
    for (const r of hung) r.destroy();
  });
});
