/**
 * The gRPC sender against a grpc-js server on 127.0.0.1 (the real Collector is
 * in test/e2e/otlp.test.ts): bytes, metadata, partial success, status codes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { Metadata, Server, ServerCredentials, status } from '@grpc/grpc-js';
import { ExportError, createSender } from './transport.ts';

/** ExportMetricsServiceResponse{partial_success{rejected_data_points=3, error_message="bad"}} */
const PARTIAL = Buffer.from([0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, 0x62, 0x61, 0x64]);

describe('gRPC sender', () => {
  const server = new Server();
  const seen: { body: Buffer; tenant: unknown }[] = [];
  let answer: (callback: sendUnaryData<Buffer>) => void = (callback) => callback(null, Buffer.alloc(0));
  let url = '';

  before(async () => {
    server.addService(
      {
        export: {
          path: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      {
        export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
          seen.push({ body: call.request, tenant: call.metadata.get('x-tenant')[0] });
          answer(callback);
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, p) =>
        error === null ? resolve(p) : reject(error),
      );
    });
    url = `http://127.0.0.1:${port}`;
  });
  after(() => server.forceShutdown());

  const sender = (): ReturnType<typeof createSender> =>
    createSender({
      protocol: 'grpc',
      url,
      headers: { 'x-tenant': 'lho' },
      compression: 'none',
      timeoutMs: 2000,
      concurrency: 4,
    });

  it('sends the bytes of a view as they are, with the headers as metadata', async () => {
    const s = sender();
    const whole = new Uint8Array([9, 9, 1, 2, 3, 9]);
    assert.deepEqual(await s.send(whole.subarray(2, 5)), { rejectedDataPoints: 0, errorMessage: '' });
    await s.shutdown();
    assert.deepEqual(seen.at(-1), { body: Buffer.from([1, 2, 3]), tenant: 'lho' });
  });

  it('returns what a partial success refused', async () => {
    answer = (callback) => callback(null, PARTIAL);
    const s = sender();
    assert.deepEqual(await s.send(new Uint8Array([1])), { rejectedDataPoints: 3, errorMessage: 'bad' });
    await s.shutdown();
  });

  it('rejects UNAVAILABLE and RESOURCE_EXHAUSTED as retryable, INVALID_ARGUMENT as final', async () => {
    const s = sender();
    for (const [code, name, retryable] of [
      [status.UNAVAILABLE, 'UNAVAILABLE', true],
      [status.RESOURCE_EXHAUSTED, 'RESOURCE_EXHAUSTED', true],
      [status.INVALID_ARGUMENT, 'INVALID_ARGUMENT', false],
    ] as const) {
      answer = (callback) => callback({ code, details: 'no', metadata: new Metadata() });
      const error = await s.send(new Uint8Array([1])).then(
        () => assert.fail('resolved'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ExportError);
      assert.equal(error.errorType, name);
      assert.equal(error.retryable, retryable);
    }
    await s.shutdown();
  });

  it('rejects DEADLINE_EXCEEDED as retryable when the server does not answer in time', async () => {
    answer = () => undefined;
    const s = createSender({
      protocol: 'grpc',
      url,
      headers: {},
      compression: 'gzip',
      timeoutMs: 200,
      concurrency: 4,
    });
    const error = await s.send(new Uint8Array(1000)).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ExportError);
    assert.equal(error.errorType, 'DEADLINE_EXCEEDED');
    assert.equal(error.retryable, true);
    await s.shutdown();
  });
});
