/**
 * What the README says about delta temporality and timeouts, shown: a delta
 * request that the backend stored but did not answer within `timeout` is not
 * committed, so the next export's delta covers the same interval again (same
 * start time, later end) and a backend that adds deltas counts it twice.
 * Scripted OTLP/HTTP endpoint on 127.0.0.1 that stores every body it receives.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { TEST_LINK_START_MS, testLink } from '../../test/support/links.ts';
import { decodeMetricsRequest, requestPoints } from '../../test/support/otlp-json.ts';
import { testHost, testSettings } from '../../test/support/settings.ts';
import { OtlpExporter } from './exporter.ts';

interface DeltaPoint {
  start: bigint;
  time: bigint;
  value: number;
  /** 1 delta, 2 cumulative (a sum always has one). */
  temporality: number | undefined;
}

/** The `loggerhead.link.bytes` client_to_server points of a request. */
function bytesPoints(body: Buffer): DeltaPoint[] {
  return requestPoints(decodeMetricsRequest(body))
    .filter((p) => p.name === 'loggerhead.link.bytes' && p.attributes.direction === 'client_to_server')
    .map((p) => ({
      start: p.startTimeUnixNano,
      time: p.timeUnixNano,
      value: p.value,
      temporality: p.temporality,
    }));
}

const START = TEST_LINK_START_MS;

const TIMEOUT_MS = 300;

describe('otlp delta temporality: a stored request whose answer times out', () => {
  /** Every body the backend stored, in order. */
  const stored: Buffer[] = [];
  /** Answer the next request only after the exporter's timeout. */
  let answerLate = false;
  const late: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      stored.push(Buffer.concat(chunks));
      if (answerLate) {
        late.push(res);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  let url = '';

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/metrics`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('is sent again within the next delta (same start, later end): the backend holds it twice', async () => {
    const exporter = new OtlpExporter(testSettings('otlp/delta'), {
      transport: {
        protocol: 'http/protobuf',
        url,
        headers: {},
        compression: 'none',
        timeoutMs: TIMEOUT_MS,
        concurrency: 4,
      },
      intervalMs: 3_600_000,
      temporality: 'delta',
      maxLinksPerRequest: 1000,
      retryInitialMs: 3_600_000,
      retryMaxMs: 3_600_000,
      resourceAttributes: { 'service.name': 'loggerhead' },
    });
    await exporter.start(testHost());
    const exportAt = async (timeMs: number, bytes: number): Promise<string | undefined> => {
      await exporter.consume({
        timeMs,
        startTimeMs: START,
        links: [testLink({ bytesClientToServer: bytes })],
      });
      return (await exporter.exportSnapshot()).error?.errorType;
    };
    const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;

    assert.equal(await exportAt(START + 1000, 400), undefined, 'accepted: the baseline is 400 at t1');
    answerLate = true;
    assert.equal(await exportAt(START + 2000, 1000), 'timeout', 'stored, but answered too late');
    answerLate = false;
    assert.equal(await exportAt(START + 3000, 1500), undefined);
    await exporter.shutdown();
    for (const res of late) res.destroy();

    const points = stored.flatMap(bytesPoints);
    // The final flush at shutdown sends one more delta (0 bytes since t3); it changes no sum.
    assert.deepEqual(
      points.slice(0, 3).map((p) => [p.start, p.time, p.value, p.temporality]),
      [
        [ns(START), ns(START + 1000), 400, 1],
        [ns(START + 1000), ns(START + 2000), 600, 1],
        [ns(START + 1000), ns(START + 3000), 1100, 1],
      ],
      'the timed-out delta (t1..t2, 600) is covered again by the next one (t1..t3, 1100)',
    );
    const sum = points.reduce((s, p) => s + p.value, 0);
    assert.equal(
      sum,
      1500 + 600,
      'the backend adds 600 bytes too many: the interval it stored but never acknowledged',
    );
  });
});
